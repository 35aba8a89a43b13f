import { constants, verify as verifySignature } from 'node:crypto';
import { chainConstraintViolation } from './constraints.js';
import { formatIp, parseIp, sameIp } from './ip.js';
import { KeyUsageBit, X509ParseError, goQuote, goCertificate, type CertificateData, type GoCertificate } from './parse.js';
import type { ExtKeyUsageName } from './template.js';

/**
 * Certificate verification with current Go crypto/x509 semantics and messages (Certificate.Verify:
 * leaf validity, host name, chain building, key usage, name constraints): the verifier every
 * Kubernetes component uses, so kpki can predict the exact error a user would see.
 */

/** The extended key usage a chain must allow. */
export type ChainUsage = ExtKeyUsageName | 'any';

export interface ChainVerifyOptions<C extends CertificateData = CertificateData> {
  /** Trust anchors: every certificate of the CA file a component was given. */
  roots: C[];
  /** Extra certificates sent along with the leaf (the rest of its file). */
  intermediates?: C[];
  /** Required extended key usage; Go's default for servers is serverAuth. */
  usage: ChainUsage;
  /** Host name or IP the client connects to (servers only). */
  host?: string;
  now: Date;
}

export type ChainVerifyResult<C extends CertificateData = CertificateData> = { ok: true; chain: C[] } | { ok: false; error: string };

const EKU_OIDS = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2', any: '2.5.29.37.0' } as const;

/** The extended key usages Go knows by name; any other OID is an "unknown" usage to it. */
const KNOWN_EKUS = new Set([
  '2.5.29.37.0',
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `1.3.6.1.5.5.7.3.${n}`),
  '1.3.6.1.4.1.311.10.3.3',
  '2.16.840.1.113730.4.1',
  '1.3.6.1.4.1.311.2.1.22',
  '1.3.6.1.4.1.311.61.1.1',
]);

const ERR = {
  unsupported: 'x509: cannot verify signature: algorithm unimplemented',
  cannotSign: 'x509: invalid signature: parent certificate cannot sign this kind of certificate',
  unhandledCritical: 'x509: unhandled critical extension',
  nameMismatch: 'x509: issuer name does not match subject from issuing certificate',
  notAuthorizedToSign: 'x509: certificate is not authorized to sign other certificates',
  pathLength: 'x509: too many intermediates for path length constraint',
  incompatibleUsage: 'x509: certificate specifies an incompatible key usage',
  signatureLimit: 'x509: signature check attempts limit reached while verifying certificate chain',
  nameConstraint: 'x509: a root or intermediate certificate is not authorized to sign for this name: ',
};

interface Node {
  cert: CertificateData;
  go: GoCertificate;
}

const node = (cert: CertificateData): Node => ({ cert, go: goCertificate(cert) });

/** Go's RFC 3339 formatting of certificate times (UTC, no fraction). */
const goTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Go's error for a certificate used outside its validity period; undefined inside it. */
export function validityPeriodError(cert: { notBefore: Date; notAfter: Date }, now: Date): string | undefined {
  const prefix = 'x509: certificate has expired or is not yet valid: current time';
  if (now < cert.notBefore) return `${prefix} ${goTime(now)} is before ${goTime(cert.notBefore)}`;
  if (now > cert.notAfter) return `${prefix} ${goTime(now)} is after ${goTime(cert.notAfter)}`;
  return undefined;
}

const GO_KEY_TYPES: Record<string, string> = { RSA: '*rsa.PublicKey', ECDSA: '*ecdsa.PublicKey', Ed25519: 'ed25519.PublicKey' };
const SIGNATURE_FAILURES: Record<string, string> = {
  RSA: 'crypto/rsa: verification error',
  ECDSA: 'x509: ECDSA verification failure',
  Ed25519: 'x509: Ed25519 verification failure',
};

/**
 * Each child's verdicts by parent: loads and rules ask again for every copy of a CA, whose DER
 * one load parses once (pki/parse.ts CertificateParses). A parse is never changed after it is made.
 */
const verdicts = new WeakMap<GoCertificate, WeakMap<GoCertificate, boolean>>();

/**
 * Whether `parent`'s key verifies `child`'s signature (node:crypto, synchronous), whatever Go's
 * policy on the algorithm; false when the algorithm does not fit the key.
 */
export function signatureVerifies(child: GoCertificate, parent: GoCertificate): boolean {
  let byParent = verdicts.get(child);
  if (!byParent) verdicts.set(child, (byParent = new WeakMap()));
  let verdict = byParent.get(parent);
  if (verdict === undefined) byParent.set(parent, (verdict = verifiedBy(child, parent)));
  return verdict;
}

function verifiedBy(child: GoCertificate, parent: GoCertificate): boolean {
  const algorithm = child.signatureAlgorithm;
  if (!algorithm || !parent.publicKey || algorithm.keyAlgorithm !== parent.publicKeyAlgorithm) return false;
  const key =
    algorithm.keyAlgorithm === 'ECDSA'
      ? { key: parent.publicKey, dsaEncoding: 'der' as const }
      : algorithm.pss
        ? { key: parent.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : parent.publicKey;
  try {
    return verifySignature(algorithm.hash ?? null, child.rawTbs, key, child.signature);
  } catch {
    return false;
  }
}

/** checkSignature: the child's signature algorithm against the parent's key, with Go's errors. */
function checkSignature(child: GoCertificate, parent: GoCertificate): string | undefined {
  const algorithm = child.signatureAlgorithm;
  if (!algorithm || (!algorithm.hash && algorithm.keyAlgorithm !== 'Ed25519')) return ERR.unsupported;
  if (algorithm.hash === 'md5' || algorithm.hash === 'sha1') return `x509: cannot verify signature: insecure algorithm ${algorithm.name}`;
  const keyType = parent.publicKeyAlgorithm!;
  const goType = GO_KEY_TYPES[keyType];
  if (!goType || !parent.publicKey) return ERR.unsupported;
  if (algorithm.keyAlgorithm !== keyType)
    return `x509: signature algorithm specifies an ${algorithm.keyAlgorithm} public key, but have public key of type ${goType}`;
  return signatureVerifies(child, parent) ? undefined : SIGNATURE_FAILURES[keyType];
}

/** CheckSignatureFrom: the parent must be a CA allowed to sign certificates (an empty KeyUsage allows it). */
function checkSignatureFrom(child: GoCertificate, parent: GoCertificate): string | undefined {
  if ((parent.version === 3 && !parent.basicConstraintsValid) || (parent.basicConstraintsValid && !parent.isCA)) return ERR.cannotSign;
  if (parent.keyUsage !== 0 && !(parent.keyUsage & KeyUsageBit.keyCertSign)) return ERR.cannotSign;
  if (!parent.publicKeyAlgorithm) return ERR.unsupported;
  return checkSignature(child, parent);
}

enum CertType {
  Leaf,
  Intermediate,
  Root,
}

/** isValid: what each certificate of a chain must satisfy where it stands. */
function isValid(cert: GoCertificate, type: CertType, chain: GoCertificate[], now: Date): string | undefined {
  if (cert.unhandledCriticalExtensions.length) return ERR.unhandledCritical;
  const child = chain[chain.length - 1];
  if (child && !child.rawIssuer.equals(cert.rawSubject)) return ERR.nameMismatch;
  const period = validityPeriodError(cert, now);
  if (period) return period;
  if (type === CertType.Intermediate && (!cert.basicConstraintsValid || !cert.isCA)) return ERR.notAuthorizedToSign;
  // Go counts every certificate between this one and the leaf, self-issued ones included.
  if (cert.basicConstraintsValid && cert.maxPathLen >= 0 && chain.length - 1 > cert.maxPathLen) return ERR.pathLength;
  return undefined;
}

/** A CertPool: certificates deduplicated by their bytes, in the order they were added. */
function pool(certs: CertificateData[]): Node[] {
  const nodes: Node[] = [];
  for (const cert of certs) {
    const n = node(cert);
    if (!nodes.some((m) => m.go.raw.equals(n.go.raw))) nodes.push(n);
  }
  return nodes;
}

const sameBytes = (a: Buffer | undefined, b: Buffer | undefined) => (a ?? Buffer.alloc(0)).equals(b ?? Buffer.alloc(0));

/** findPotentialParents: same subject as the issuer; key-identifier matches first, mismatches last. */
function potentialParents(cert: GoCertificate, candidates: Node[]): Node[] {
  const named = candidates.filter((c) => c.go.rawSubject.equals(cert.rawIssuer));
  const rank = (c: Node) => {
    if (sameBytes(c.go.subjectKeyId, cert.authorityKeyId)) return 0;
    return !c.go.subjectKeyId?.length !== !cert.authorityKeyId?.length ? 1 : 2;
  };
  return [0, 1, 2].flatMap((r) => named.filter((c) => rank(c) === r));
}

/** alreadyInChain: same subject, key and SAN extension as a certificate already in the chain. */
function alreadyInChain(candidate: GoCertificate, chain: GoCertificate[]): boolean {
  const san = (c: GoCertificate) => c.sanExtension;
  return chain.some(
    (c) =>
      c.rawSubject.equals(candidate.rawSubject) &&
      c.rawSpki.equals(candidate.rawSpki) &&
      (san(c) === undefined && san(candidate) === undefined ? true : !!san(c) && !!san(candidate) && san(c)!.equals(san(candidate)!)),
  );
}

/** The name Go gives a candidate authority in "possibly because of" hints. */
const candidateName = (cert: GoCertificate) => cert.subject.commonName || cert.subject.organizations[0] || `serial:${cert.serialNumber}`;

interface Build {
  chains: Node[][];
  error: string | undefined;
}

interface BuildContext {
  roots: Node[];
  intermediates: Node[];
  now: Date;
  signatureChecks: number;
}

/** buildChains: every chain from `chain` (leaf first) up to a root, or the error Go reports. */
function buildChains(chain: Node[], ctx: BuildContext): Build {
  const current = chain[chain.length - 1]!.go;
  const goChain = chain.map((n) => n.go);
  const chains: Node[][] = [];
  let error: string | undefined;
  let hint: { error: string; cert: GoCertificate } | undefined;
  const candidates: [CertType, Node][] = [
    ...potentialParents(current, ctx.roots).map((n): [CertType, Node] => [CertType.Root, n]),
    ...potentialParents(current, ctx.intermediates).map((n): [CertType, Node] => [CertType.Intermediate, n]),
  ];
  for (const [type, candidate] of candidates) {
    if (++ctx.signatureChecks > 100) {
      error = ERR.signatureLimit;
      break;
    }
    if (!candidate.go.publicKeyAlgorithm || alreadyInChain(candidate.go, goChain)) continue;
    const signatureError = checkSignatureFrom(current, candidate.go);
    if (signatureError) {
      hint ??= { error: signatureError, cert: candidate.go };
      continue;
    }
    error = isValid(candidate.go, type, goChain, ctx.now);
    if (error) {
      hint ??= { error, cert: candidate.go };
      continue;
    }
    if (type === CertType.Root) {
      chains.push([...chain, candidate]);
    } else {
      const above = buildChains([...chain, candidate], ctx);
      error = above.error;
      chains.push(...above.chains);
    }
  }
  if (chains.length) return { chains, error: undefined };
  const unknown = `x509: certificate signed by unknown authority${hint ? ` (possibly because of ${goQuote(hint.error)} while trying to verify candidate authority certificate ${goQuote(candidateName(hint.cert))})` : ''}`;
  return { chains, error: error ?? unknown };
}

/** checkChainForKeyUsage for one requested usage: every certificate that lists EKUs must allow it. */
function allowsUsage(chain: GoCertificate[], usage: Exclude<ChainUsage, 'any'>): boolean {
  return chain.every(
    (c) =>
      !c.extKeyUsageOids.length ||
      c.extKeyUsageOids.includes(EKU_OIDS.any) ||
      c.extKeyUsageOids.filter((o) => KNOWN_EKUS.has(o)).includes(EKU_OIDS[usage]),
  );
}

const toLowerAscii = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** validHostname: labels of letters, digits, "-" (not first) and "_"; a pattern may start with "*". */
function validHostname(host: string, isPattern: boolean): boolean {
  const name = isPattern ? host : host.replace(/\.$/, '');
  if (!name) return false;
  return name
    .split('.')
    .every(
      (part, i) =>
        part !== '' &&
        ((isPattern && i === 0 && part === '*') || [...part].every((c, j) => /[a-zA-Z0-9_]/.test(c) || (c === '-' && j !== 0))),
    );
}

function matchHostnames(pattern: string, host: string): boolean {
  const p = toLowerAscii(pattern).split('.');
  const h = toLowerAscii(host.replace(/\.$/, '')).split('.');
  if (!pattern || !h.join('.') || p.length !== h.length) return false;
  return p.every((part, i) => (i === 0 && part === '*') || part === h[i]);
}

const matchExactly = (a: string, b: string) => a !== '' && a !== '.' && b !== '' && b !== '.' && toLowerAscii(a) === toLowerAscii(b);

/** Go's VerifyHostname: IPs match IP SANs only; DNS names case-insensitively, one-label wildcards; never the CN. */
export function hostnameError(cert: CertificateData, host: string): string | undefined {
  let go: GoCertificate;
  try {
    go = goCertificate(cert);
  } catch (error) {
    return (error as Error).message;
  }
  const candidateIp = host.length >= 3 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const ip = parseIp(candidateIp);
  if (ip) {
    if (go.ipAddresses.some((san) => sameIp(san, ip))) return undefined;
    return hostnameMismatch(go, candidateIp, true);
  }
  const candidate = toLowerAscii(host);
  const validCandidate = validHostname(candidate, false);
  const matched = go.dnsNames.some((pattern) =>
    validCandidate && validHostname(pattern, true) ? matchHostnames(pattern, candidate) : matchExactly(pattern, candidate),
  );
  return matched ? undefined : hostnameMismatch(go, host, false);
}

/** HostnameError.Error(). */
function hostnameMismatch(cert: GoCertificate, host: string, isIp: boolean): string {
  if (!cert.hasSan && matchHostnames(cert.subject.commonName, host))
    return 'x509: certificate relies on legacy Common Name field, use SANs instead';
  if (isIp && !cert.ipAddresses.length) return `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`;
  const valid = isIp ? cert.ipAddresses.map(formatIp).join(', ') : cert.dnsNames.join(', ');
  return valid
    ? `x509: certificate is valid for ${valid}, not ${host}`
    : `x509: certificate is not valid for any names, but wanted to match ${host}`;
}

/** Verifies `leaf` as Go's Certificate.Verify does, in its order: leaf, host name, chains, usage, name constraints. */
export async function verifyCertificate<C extends CertificateData>(leaf: C, opts: ChainVerifyOptions<C>): Promise<ChainVerifyResult<C>> {
  try {
    // Every certificate in the chain is one of the caller's.
    return verifyNodes(node(leaf), opts) as ChainVerifyResult<C>;
  } catch (error) {
    // A certificate Go cannot parse never reaches Verify: its loader fails with the parse error.
    if (error instanceof X509ParseError) return { ok: false, error: error.message };
    throw error;
  }
}

function verifyNodes(leaf: Node, opts: ChainVerifyOptions): ChainVerifyResult {
  const roots = pool(opts.roots);
  const intermediates = pool(opts.intermediates ?? []);
  const leafError = isValid(leaf.go, CertType.Leaf, [], opts.now) ?? (opts.host ? hostnameError(leaf.cert, opts.host) : undefined);
  if (leafError) return { ok: false, error: leafError };
  let candidates: Node[][];
  if (roots.some((r) => r.go.raw.equals(leaf.go.raw))) {
    candidates = [[leaf]];
  } else {
    const built = buildChains([leaf], { roots, intermediates, now: opts.now, signatureChecks: 0 });
    if (built.error) return { ok: false, error: built.error };
    candidates = built.chains;
  }
  const usage = opts.usage;
  let constraintError: string | undefined;
  const chains = candidates.filter((chain) => {
    const goChain = chain.map((n) => n.go);
    if (usage !== 'any' && !allowsUsage(goChain, usage)) return false;
    const violation = chainConstraintViolation(goChain);
    constraintError ??= violation && ERR.nameConstraint + violation;
    return !violation;
  });
  if (!chains.length) return { ok: false, error: constraintError ?? ERR.incompatibleUsage };
  return { ok: true, chain: chains[0]!.map((n) => n.cert) };
}

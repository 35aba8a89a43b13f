import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { certificateFacts, issueCertificate, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { createPublicKey } from 'node:crypto';
import { sameKeyPair } from '../pki/keys.js';
import { certificateMismatches, notCaReasons, sameAuthority } from '../pki/match.js';
import { parseCertificate, parseCertificates, parseKey } from '../pki/pem.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import type { CertSpec, KeyPairSpec, KubeconfigSpec, ManifestSpec, PkiSpec } from '../model/plan.js';
import { readOptional } from '../store/files.js';
import { ErrorCode, KpkiError } from '../errors.js';

/** What init does with one entry. */
export type InitAction =
  /** Nothing exists: generate key and certificate (or file). */
  | 'create'
  /** Everything exists and matches: leave the bytes alone. */
  | 'reuse'
  /** Exists but no longer matches, and the user asked to replace it. */
  | 'reissue'
  /** A key exists without its certificate (or public key): complete it, keeping the key. */
  | 'complete'
  /** Signed by an external CA whose key kpki does not hold: checked only. */
  | 'external'
  /** Taken byte for byte from the cluster's shared directory (CAs, service-account key, shared leaves). */
  | 'copy'
  /** Exists, does not match, and the user did not ask to replace it: init refuses to run. */
  | 'conflict';

export type ItemKind = 'ca' | 'certificate' | 'key-pair' | 'kubeconfig' | 'manifest';

/** One entry of the plan, as `--dry-run` and `--json` show it. */
export interface PlanItem {
  kind: ItemKind;
  name: string;
  files: string[];
  action: InitAction;
  /** Why the item is reissued, refused or external-checked. */
  reasons: string[];
  subject?: string;
  issuer?: string;
  sans?: string[];
  keyType?: string;
  validitySeconds?: number;
}

/** A plan item with what the writer needs to carry it out. */
export interface Step extends PlanItem {
  spec: CertSpec | KeyPairSpec | KubeconfigSpec | ManifestSpec;
  /** An existing key that must be kept (action `complete`). */
  existingKey?: KeyObject;
  /** Files to write as they are (action `copy`). */
  copies?: { path: string; data: Buffer; mode: number }[];
}

/** The signing material each CA ends up with once the plan runs. */
interface CaState {
  certificate: x509.X509Certificate | undefined;
  key: KeyObject | undefined;
  /** True when this run creates or re-certifies the CA: existing leaves under it cannot be reused. */
  fresh: boolean;
}

/** Where a node's CAs and service-account key come from when the cluster's are kept elsewhere. */
export interface SharedSource {
  certDir: string;
  /** Certificates taken from it rather than issued per node (CAs always are). */
  entries: string[];
  /** Entries whose private keys are copied too (what the node signs or serves with); the rest certificates only. */
  keys: string[];
}

export interface PlanOptions {
  certDir: string;
  shared?: SharedSource;
  kubeconfigDir: string;
  /** Reissue every stale leaf and kubeconfig (never a CA or the service-account key). */
  force: boolean;
  /** Entry names to reissue even though they exist. */
  renew: string[];
  now: Date;
}

export interface InitPlan {
  steps: Step[];
  /** Signing material per CA name, resolved in profile order. */
  cas: Map<string, CaState>;
}

const describeSubject = (cn: string, o: string[]) => (o.length ? `CN=${cn}, O=${o.join('+')}` : `CN=${cn}`);

function certItem(spec: CertSpec, files: string[]): Omit<PlanItem, 'action' | 'reasons'> {
  return {
    kind: spec.isCA ? 'ca' : spec.file ? 'certificate' : 'kubeconfig',
    name: spec.name,
    files,
    subject: describeSubject(spec.commonName, spec.organizations),
    issuer: spec.issuer ?? 'self-signed',
    sans: [...spec.dnsNames, ...spec.ipAddresses],
    keyType: spec.keyType,
    validitySeconds: spec.validity,
  };
}

async function readCertAndKey(crtPath: string, keyPath: string) {
  const [crt, key] = await Promise.all([readOptional(crtPath), readOptional(keyPath)]);
  return {
    cert: crt === undefined ? undefined : parseCertificate(crt, crtPath),
    key: key === undefined ? undefined : parseKey(key, keyPath),
  };
}

/** Reads what exists for every entry and decides, entry by entry, what init will do. */
export async function planInit(spec: PkiSpec, options: PlanOptions): Promise<InitPlan> {
  const cas = new Map<string, CaState>();
  const wantsRenew = (name: string) => options.renew.includes(name);
  const replaceable = (name: string) => options.force || wantsRenew(name);
  const certPaths = (file: string) => [path.join(options.certDir, `${file}.crt`), path.join(options.certDir, `${file}.key`)];

  const planCertificate = async (cert: CertSpec): Promise<Step> => {
    const [crtPath, keyPath] = certPaths(cert.file!) as [string, string];
    const base = { ...certItem(cert, [crtPath, keyPath]), spec: cert };
    const existing = await readCertAndKey(crtPath, keyPath);
    if (options.shared && (cert.isCA || options.shared.entries.includes(cert.name))) {
      return planSharedCopy(base, existing, options.shared, cert.file!, cert.isCA ? cas : undefined, cert.name, !cert.isCA && replaceable(cert.name));
    }
    if (!cert.isCA) return planLeaf(cert, base, existing, cas.get(cert.issuer!)!, options.now, replaceable(cert.name), wantsRenew(cert.name));
    return planCa(cert, base, existing, cas, options, wantsRenew(cert.name));
  };
  const planPair = (pair: KeyPairSpec): Promise<Step> => {
    if (!options.shared) return planKeyPair(pair, options.certDir, wantsRenew(pair.name));
    const [keyPath, pubPath] = [path.join(options.certDir, `${pair.file}.key`), path.join(options.certDir, `${pair.file}.pub`)];
    const base = { kind: 'key-pair' as const, name: pair.name, files: [keyPath, pubPath], keyType: pair.keyType, spec: pair };
    return planSharedCopy(base, undefined, options.shared, pair.file, undefined, pair.name, false, '.pub');
  };
  const planManifest = async (manifest: ManifestSpec): Promise<Step> => {
    const file = path.join(options.kubeconfigDir, manifest.file);
    const current = await readOptional(file);
    const item = { kind: 'manifest' as const, name: manifest.name, files: [file], spec: manifest };
    if (current === undefined) return { ...item, action: 'create', reasons: [] };
    if (current.toString('utf8') === manifest.content) return { ...item, action: 'reuse', reasons: [] };
    return { ...item, ...decideStale(['content differs from the profile'], replaceable(manifest.name)) };
  };

  // CAs first, in profile order (each may depend on what exists of the others); then every other
  // entry at once, as they only read their CA's state.
  const caSteps = new Map<CertSpec, Step>();
  for (const cert of spec.certificates.filter((c) => c.isCA)) caSteps.set(cert, await planCertificate(cert));
  const steps = await Promise.all([
    ...spec.certificates.map((cert) => caSteps.get(cert) ?? planCertificate(cert)),
    ...spec.keyPairs.map(planPair),
    ...spec.kubeconfigs.map((kc) => planKubeconfig(kc, options, cas.get(kc.client.issuer!)!, replaceable(kc.name), wantsRenew(kc.name))),
    ...spec.manifests.map(planManifest),
  ]);
  return { steps, cas };
}

/**
 * A CA, the service-account key or a shared leaf taken from the cluster's shared directory: copied when
 * missing, reused when identical, refused when the node holds a different one (a leaf is replaced
 * when the user asked, e.g. after renewing it in the shared directory).
 */
async function planSharedCopy(
  base: Omit<Step, 'action' | 'reasons'>,
  existing: { cert: x509.X509Certificate | undefined; key: KeyObject | undefined } | undefined,
  shared: SharedSource,
  file: string,
  cas: Map<string, CaState> | undefined,
  name: string,
  replace: boolean,
  publicSuffix = '.crt',
): Promise<Step> {
  const nodePublic = base.files.find((f) => f.endsWith(publicSuffix))!;
  const nodeKey = base.files.find((f) => f.endsWith('.key'))!;
  const source = { public: path.join(shared.certDir, `${file}${publicSuffix}`), key: path.join(shared.certDir, `${file}.key`) };
  const [publicData, keyData] = await Promise.all([readOptional(source.public), readOptional(source.key)]);
  if (!publicData) {
    throw new KpkiError(ErrorCode.MissingFile, `${source.public}: the cluster's ${name} is missing`, {
      subject: source.public,
      hint: 'create the shared PKI first (kpki init with --control-plane-nodes)',
    });
  }
  if (cas) {
    const certificate = parseCertificate(publicData, source.public);
    cas.set(name, { certificate, key: keyData && parseKey(keyData, source.key), fresh: false });
    if (existing?.cert && !sameAuthority(existing.cert, certificate)) {
      return { ...base, action: 'conflict', reasons: [`${nodePublic} is not the cluster's ${name} (${source.public})`] };
    }
  }
  const copies: NonNullable<Step['copies']> = [];
  const [nodePublicData, nodeKeyData] = await Promise.all([readOptional(nodePublic), readOptional(nodeKey)]);
  const wanted: [string, Buffer | undefined, Buffer | undefined, number][] = [
    [nodeKey, shared.keys.includes(name) ? keyData : undefined, nodeKeyData, 0o600],
    [nodePublic, publicData, nodePublicData, publicSuffix === '.pub' ? 0o600 : 0o644],
  ];
  for (const [target, data, current, mode] of wanted) {
    if (!data) continue;
    if (current === undefined || (replace && !current.equals(data))) copies.push({ path: target, data, mode });
    else if (!current.equals(data) && (!cas || target === nodeKey)) {
      return { ...base, action: 'conflict', reasons: [`${target} differs from the cluster's ${source.public.replace(/\.pub$/, '')}`] };
    }
  }
  if (!copies.length) return { ...base, action: 'reuse', reasons: [] };
  return { ...base, files: copies.map((c) => c.path), action: 'copy', reasons: [], copies };
}

function decideStale(reasons: string[], replace: boolean): { action: InitAction; reasons: string[] } {
  return { action: replace ? 'reissue' : 'conflict', reasons };
}

/**
 * An existing leaf or kubeconfig: reused while it matches; reissued when stale and replaceable, or
 * whenever --renew names it (renewal before expiry, as `kubeadm certs renew`); only checked under
 * an external CA, which kpki cannot sign with.
 */
function decideExisting(reasons: string[], external: boolean, replace: boolean, renew: boolean): { action: InitAction; reasons: string[] } {
  if (external) {
    if (renew && !reasons.length) return { action: 'conflict', reasons: ['--renew needs the CA key, and this CA is external: have the external CA sign a new one'] };
    return { action: reasons.length ? 'conflict' : 'external', reasons };
  }
  if (renew) return { action: 'reissue', reasons: reasons.length ? reasons : ['--renew asks for a new certificate'] };
  if (!reasons.length) return { action: 'reuse', reasons };
  return decideStale(reasons, replace);
}

async function planCa(
  spec: CertSpec,
  base: Omit<Step, 'action' | 'reasons'>,
  existing: { cert: x509.X509Certificate | undefined; key: KeyObject | undefined },
  cas: Map<string, CaState>,
  options: PlanOptions,
  renewRequested: boolean,
): Promise<Step> {
  const { cert, key } = existing;
  const refuse = (reasons: string[]): Step => {
    cas.set(spec.name, { certificate: cert, key, fresh: false });
    return { ...base, action: 'conflict', reasons };
  };
  if (renewRequested) {
    return refuse(['kpki never replaces a CA: every certificate it signed would stop working; remove its files yourself if you really mean to']);
  }
  if (!cert && !key) {
    cas.set(spec.name, { certificate: undefined, key: undefined, fresh: true });
    return { ...base, action: 'create', reasons: [] };
  }
  if (!cert) {
    // A run stopped between writing ca.key and ca.crt: certify the key again, keeping it.
    const certificate = await issueCertificate({ spec, publicKey: createPublicKey(key!), issuer: { key: key!, certificate: undefined }, now: options.now });
    cas.set(spec.name, { certificate, key, fresh: false });
    return { ...base, action: 'complete', reasons: [`${path.basename(base.files[1]!)} exists without its certificate`], existingKey: key };
  }
  const reasons = notCaReasons(certificateFacts(cert));
  if (cert.notAfter <= options.now) reasons.push(`expired on ${cert.notAfter.toISOString()}`);
  if (key && !sameKeyPair(key, publicKeyObject(cert))) {
    reasons.push(`${path.basename(base.files[1]!)} does not match ${path.basename(base.files[0]!)}`);
  }
  if (reasons.length) return refuse(reasons);
  cas.set(spec.name, { certificate: cert, key, fresh: false });
  if (!key) return { ...base, action: 'external', reasons: [`${path.basename(base.files[1]!)} is absent: external CA, leaves are checked, not issued`] };
  return { ...base, action: 'reuse', reasons: [] };
}

async function planLeaf(
  spec: CertSpec,
  base: Omit<Step, 'action' | 'reasons'>,
  existing: { cert: x509.X509Certificate | undefined; key: KeyObject | undefined },
  ca: CaState,
  now: Date,
  replace: boolean,
  renew: boolean,
): Promise<Step> {
  const { cert, key } = existing;
  const external = ca.certificate !== undefined && ca.key === undefined;
  const [crtName, keyName] = base.files.map((f) => path.basename(f));
  if (!cert) {
    if (external) return { ...base, action: 'conflict', reasons: [`${crtName} is missing and ${spec.issuer} is an external CA (no key): have it signed by that CA`] };
    if (key) return { ...base, action: 'complete', reasons: [`${keyName} exists without its certificate`], existingKey: key };
    return { ...base, action: 'create', reasons: [] };
  }
  const reasons = ca.fresh
    ? [`was signed by a previous ${spec.issuer}, which is being created anew`]
    : await certificateMismatches(cert, spec, { issuer: ca.certificate, key, now });
  if (!key) reasons.push(`${keyName} is missing`);
  return { ...base, ...decideExisting(reasons, external, replace, renew) };
}

async function planKeyPair(spec: KeyPairSpec, certDir: string, renewRequested: boolean): Promise<Step> {
  const keyPath = path.join(certDir, `${spec.file}.key`);
  const pubPath = path.join(certDir, `${spec.file}.pub`);
  const base = { kind: 'key-pair' as const, name: spec.name, files: [keyPath, pubPath], keyType: spec.keyType, spec };
  const [keyData, pubData] = await Promise.all([readOptional(keyPath), readOptional(pubPath)]);
  const key = keyData === undefined ? undefined : parseKey(keyData, keyPath);
  if (renewRequested) {
    // Rotating the signing key invalidates every issued token; only an explicit --renew does it.
    return { ...base, action: 'reissue', reasons: ['--renew asks for a new key pair'] };
  }
  if (!key) {
    if (pubData !== undefined) {
      return { ...base, action: 'conflict', reasons: [`${path.basename(pubPath)} exists without ${path.basename(keyPath)}: restore the key or remove the public key`] };
    }
    return { ...base, action: 'create', reasons: [] };
  }
  if (pubData === undefined) return { ...base, action: 'complete', reasons: [`${path.basename(pubPath)} is missing`], existingKey: key };
  let pub: KeyObject;
  try {
    pub = createPublicKey(pubData);
  } catch {
    return { ...base, action: 'conflict', reasons: [`${path.basename(pubPath)} is not a PEM public key: remove it to derive it from ${path.basename(keyPath)}`] };
  }
  if (!sameKeyPair(key, pub)) {
    return { ...base, action: 'conflict', reasons: [`${path.basename(pubPath)} does not match ${path.basename(keyPath)}: tokens would fail; remove it to derive it again`] };
  }
  return { ...base, action: 'reuse', reasons: [] };
}

async function planKubeconfig(spec: KubeconfigSpec, options: PlanOptions, ca: CaState, replace: boolean, renew: boolean): Promise<Step> {
  const file = path.join(options.kubeconfigDir, spec.file);
  const base = { ...certItem(spec.client, [file]), kind: 'kubeconfig' as const, spec };
  const data = await readOptional(file);
  const external = ca.certificate !== undefined && ca.key === undefined;
  if (data === undefined) {
    if (external) return { ...base, action: 'conflict', reasons: [`${spec.file} is missing and ${spec.client.issuer} is an external CA: create it with a certificate from that CA`] };
    return { ...base, action: 'create', reasons: [] };
  }
  const creds = parseKubeconfig(data.toString('utf8'), file);
  const load = async (source: typeof creds.clientCertificate) =>
    source?.data ?? (source?.path ? await readOptional(path.resolve(path.dirname(file), source.path)) : undefined);
  const [caData, certData, keyData] = await Promise.all([load(creds.certificateAuthority), load(creds.clientCertificate), load(creds.clientKey)]);
  const reasons: string[] = [];
  if (ca.fresh) reasons.push(`its credentials come from a previous ${spec.client.issuer}, which is being created anew`);
  else {
    const embeddedCa = caData && parseCertificates(caData, creds.certificateAuthority!.origin);
    if (!embeddedCa?.some((c) => ca.certificate && sameAuthority(c, ca.certificate))) {
      reasons.push(`its certificate-authority-data is not the current ${spec.client.issuer}`);
    }
    if (!certData || !keyData) reasons.push('has no client certificate and key');
    else {
      const cert = parseCertificate(certData, creds.clientCertificate!.origin);
      const key = parseKey(keyData, creds.clientKey!.origin);
      reasons.push(...(await certificateMismatches(cert, spec.client, { issuer: ca.certificate, key, now: options.now })));
    }
  }
  if (creds.server !== spec.server) reasons.push(`server is ${creds.server}, want ${spec.server}`);
  if (creds.clusterName !== spec.clusterName) reasons.push(`cluster is "${creds.clusterName}", want "${spec.clusterName}"`);
  return { ...base, ...decideExisting(reasons, external, replace, renew) };
}

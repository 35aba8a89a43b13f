import { canonicalIp } from '../model/net.js';
import type { ExtKeyUsageName } from '../model/profile.js';
import { certificateFacts } from './certificate.js';
import { x509 } from './crypto.js';
import { isSignedBy } from './match.js';

/**
 * Certificate verification with Go crypto/x509 semantics and messages: the verifier every
 * Kubernetes component uses, so kpki can predict the exact error a user would see.
 */

export interface VerifyOptions {
  /** Trust anchors: every certificate of the CA file a component was given. */
  roots: x509.X509Certificate[];
  /** Extra certificates sent along with the leaf (the rest of its file). */
  intermediates?: x509.X509Certificate[];
  /** Required extended key usage; Go's default for servers is serverAuth. */
  usage: ExtKeyUsageName | 'any';
  /** Host name or IP the client connects to (servers only). */
  host?: string;
  now: Date;
}

export type VerifyResult = { ok: true; chain: x509.X509Certificate[] } | { ok: false; error: string };

/** Go's RFC 3339 formatting of certificate times (UTC, no fraction). */
const goTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function periodError(cert: x509.X509Certificate, now: Date): string | undefined {
  if (now < cert.notBefore) {
    return `x509: certificate has expired or is not yet valid: current time ${goTime(now)} is before ${goTime(cert.notBefore)}`;
  }
  if (now > cert.notAfter) {
    return `x509: certificate has expired or is not yet valid: current time ${goTime(now)} is after ${goTime(cert.notAfter)}`;
  }
  return undefined;
}

/** Go's VerifyHostname: IPs match IP SANs only; DNS names case-insensitively, one-label wildcards; never the CN. */
export function hostnameError(cert: x509.X509Certificate, host: string): string | undefined {
  const facts = certificateFacts(cert);
  const ip = canonicalIp(host);
  if (ip) {
    if (facts.ipAddresses.includes(ip)) return undefined;
    if (!facts.ipAddresses.length) return `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`;
    return `x509: certificate is valid for ${facts.ipAddresses.join(', ')}, not ${host}`;
  }
  const wanted = host.toLowerCase().replace(/\.$/, '');
  const matches = (pattern: string) => {
    const p = pattern.toLowerCase();
    if (p === wanted) return true;
    if (!p.startsWith('*.')) return false;
    const dot = wanted.indexOf('.');
    return dot > 0 && wanted.slice(dot) === p.slice(1);
  };
  if (facts.dnsNames.some(matches)) return undefined;
  if (!facts.dnsNames.length && !facts.ipAddresses.length) {
    return facts.commonName === host
      ? 'x509: certificate relies on legacy Common Name field, use SANs instead'
      : `x509: certificate is not valid for any names, but wanted to match ${host}`;
  }
  return `x509: certificate is valid for ${facts.dnsNames.join(', ')}, not ${host}`;
}

const sameName = (a: x509.Name, b: x509.Name) => Buffer.from(a.toArrayBuffer()).equals(Buffer.from(b.toArrayBuffer()));

/** A CA may sign: CA:TRUE, and keyCertSign when it has a KeyUsage at all. */
function canSign(ca: x509.X509Certificate): boolean {
  const facts = certificateFacts(ca);
  return facts.isCA && (!facts.keyUsages || facts.keyUsages.includes('keyCertSign'));
}

/** Go's checkChainForKeyUsage: no EKU extension means any usage; `any` EKU too. */
function allowsUsage(cert: x509.X509Certificate, usage: ExtKeyUsageName | 'any'): boolean {
  if (usage === 'any') return true;
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku) return true;
  const usages = eku.usages.map(String);
  return usages.includes('2.5.29.37.0') || certificateFacts(cert).extKeyUsages.includes(usage);
}

const candidateName = (cert: x509.X509Certificate) => {
  const f = certificateFacts(cert);
  return f.commonName || f.organizations[0] || `serial:${BigInt(`0x${cert.serialNumber}`)}`;
};

async function buildChain(
  cert: x509.X509Certificate,
  opts: VerifyOptions,
  depth: number,
): Promise<{ chain?: x509.X509Certificate[]; hint?: string; error?: string }> {
  if (depth > 8) return {};
  let hint: string | undefined;
  // Go reports a candidate's own validity error instead of "unknown authority".
  let error: string | undefined;
  for (const root of opts.roots) {
    if (!sameName(root.subjectName, cert.issuerName)) continue;
    if (!(await isSignedBy(cert, root))) {
      hint ??= `(possibly because of "${root.publicKey.algorithm.name === 'ECDSA' ? 'x509: ECDSA verification failure' : 'crypto/rsa: verification error'}" while trying to verify candidate authority certificate "${candidateName(root)}")`;
      continue;
    }
    if (!canSign(root)) {
      hint ??= `(possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "${candidateName(root)}")`;
      continue;
    }
    const expired = periodError(root, opts.now);
    if (expired) {
      error = expired;
      continue;
    }
    return { chain: [cert, root] };
  }
  for (const mid of opts.intermediates ?? []) {
    if (mid === cert || !sameName(mid.subjectName, cert.issuerName) || !(await isSignedBy(cert, mid))) continue;
    if (!canSign(mid) || periodError(mid, opts.now)) continue;
    const rest = await buildChain(mid, opts, depth + 1);
    if (rest.chain) return { chain: [cert, ...rest.chain] };
    hint ??= rest.hint;
    error ??= rest.error;
  }
  return { hint, error };
}

/** Verifies `leaf` as Go's Certificate.Verify does, in its order: period, host name, chain, usage. */
export async function verifyCertificate(leaf: x509.X509Certificate, opts: VerifyOptions): Promise<VerifyResult> {
  const period = periodError(leaf, opts.now);
  if (period) return { ok: false, error: period };
  if (opts.host) {
    const hostError = hostnameError(leaf, opts.host);
    if (hostError) return { ok: false, error: hostError };
  }
  const isRoot = opts.roots.some((r) => Buffer.from(r.rawData).equals(Buffer.from(leaf.rawData)));
  const built = isRoot ? { chain: [leaf] } : await buildChain(leaf, opts, 0);
  const { chain, hint, error } = built as { chain?: x509.X509Certificate[]; hint?: string; error?: string };
  if (!chain) return { ok: false, error: error ?? `x509: certificate signed by unknown authority${hint ? ` ${hint}` : ''}` };
  if (!chain.every((c) => allowsUsage(c, opts.usage))) {
    return { ok: false, error: 'x509: certificate specifies an incompatible key usage' };
  }
  return { ok: true, chain };
}

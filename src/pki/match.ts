import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateFacts, publicKeyObject, type CertificateFacts } from './certificate-facts.js';
import { keyTypeOf, sameKeyPair } from './keys.js';
import { goCertificate, type CertificateData } from './parse.js';
import { signatureVerifies } from './verify.js';
import type { CertificateTemplate } from './template.js';

/** Whether `cert` carries a valid signature by `issuer`'s key. */
export function isSignedBy(cert: CertificateData, issuer: CertificateData): boolean {
  try {
    return signatureVerifies(goCertificate(cert), goCertificate(issuer));
  } catch {
    return false; // a certificate Go cannot parse is signed by nobody it would trust
  }
}

/**
 * Whether two CA certificates stand for the same authority: same subject and key, so each
 * verifies what the other signed (a CA re-certified from its existing key is the same CA).
 */
export function sameAuthority(a: CertificateData, b: CertificateData): boolean {
  const [goA, goB] = [goCertificate(a), goCertificate(b)];
  return goA.rawSubject.equals(goB.rawSubject) && goA.rawSpki.equals(goB.rawSpki);
}

/** Whether two certificates name the same subject (byte for byte), whatever their keys. */
export function sameSubject(a: CertificateData, b: CertificateData): boolean {
  return goCertificate(a).rawSubject.equals(goCertificate(b).rawSubject);
}

export interface MatchContext {
  /** The certificate of the CA that should have signed it; undefined for self-signed CAs. */
  issuer: CertificateData | undefined;
  /** The private key stored next to the certificate, if any. */
  key: KeyObject | undefined;
  now: Date;
}

/**
 * Why an existing certificate does not satisfy its spec; empty when it can be reused.
 * Like kubeadm, extra SANs are fine: only the names clients need must be present.
 */
export async function certificateMismatches(cert: CertificateData, spec: CertificateTemplate, ctx: MatchContext): Promise<string[]> {
  const facts = certificateFacts(cert);
  const reasons: string[] = [];
  if (facts.commonName !== spec.commonName) reasons.push(`CN is "${facts.commonName}", want "${spec.commonName}"`);
  const orgs = (list: string[]) => [...list].sort().join(',');
  if (orgs(facts.organizations) !== orgs(spec.organizations)) {
    reasons.push(`O is [${facts.organizations.join(', ')}], want [${spec.organizations.join(', ')}]`);
  }
  const missing = [
    ...spec.dnsNames.filter((n) => !facts.dnsNames.includes(n)),
    ...spec.ipAddresses.filter((n) => !facts.ipAddresses.includes(n)),
  ];
  if (missing.length) reasons.push(`lacks SAN ${missing.join(', ')}`);
  const usages = spec.extKeyUsages.filter((u) => facts.extKeyUsages.length && !facts.extKeyUsages.includes(u));
  if (usages.length) reasons.push(`lacks ExtKeyUsage ${usages.join(', ')}`);
  if (facts.isCA !== spec.isCA) reasons.push(spec.isCA ? 'is not a CA' : 'is a CA, want a leaf');
  const publicKey = publicKeyObject(cert);
  // A CA keeps its key type when settings change: replacing a CA is never implied.
  if (!spec.isCA && keyTypeOf(publicKey) !== spec.keyType) {
    reasons.push(`key is ${keyTypeOf(publicKey) ?? 'unsupported'}, want ${spec.keyType}`);
  }
  if (ctx.key && !sameKeyPair(ctx.key, publicKey)) reasons.push('key does not match the certificate');
  if (ctx.issuer && !isSignedBy(cert, ctx.issuer)) reasons.push(`is not signed by the current ${spec.issuer}`);
  if (cert.notAfter <= ctx.now) reasons.push(`expired on ${cert.notAfter.toISOString()}`);
  return reasons;
}

/**
 * Why a certificate cannot act as a CA, as Go judges a parent: it must be CA:TRUE and, when it
 * has a KeyUsage, carry keyCertSign. Each reason reads after the certificate's name.
 */
export function notCaReasons(facts: Pick<CertificateFacts, 'isCA' | 'keyUsages'>): string[] {
  const reasons: string[] = [];
  if (!facts.isCA) reasons.push('is not a CA (BasicConstraints CA:TRUE missing)');
  if (facts.keyUsages && !facts.keyUsages.includes('keyCertSign')) reasons.push('lacks KeyUsage keyCertSign');
  return reasons;
}

/**
 * Why `cert` and `key` cannot sign certificates as a CA; empty when they can. A key that is not
 * the certificate's, or a certificate that is not a CA, would yield certificates nothing verifies.
 */
export function caSigningProblems(cert: CertificateData, key: KeyObject): string[] {
  const problems: string[] = [];
  if (!sameKeyPair(key, publicKeyObject(cert))) problems.push('the key does not belong to the certificate');
  return [...problems, ...notCaReasons(certificateFacts(cert)).map((reason) => `the certificate ${reason}`)];
}

/** Whether `cert` was signed by `key`'s pair (a CA whose certificate is to be made again from its key). */
export function signedByKey(cert: CertificateData, key: KeyObject): boolean {
  try {
    return new X509Certificate(Buffer.from(cert.rawData)).verify(createPublicKey(key));
  } catch {
    return false;
  }
}

import type { CsrNames } from '../pki/csr-sign.js';

/**
 * What kube-controller-manager's CSR signer (v1.20 pkg/controller/certificates/signer and
 * authority, with expirationSeconds as 1.22 added it) does with one CertificateSigningRequest,
 * decided without I/O: leave it alone, mark it Failed (SignerValidationFailure), report an error
 * (the controller retries), or sign it with these usages and this validity.
 */

export const SIGNER_NAMES = {
  kubeAPIServerClient: 'kubernetes.io/kube-apiserver-client',
  kubeletClient: 'kubernetes.io/kube-apiserver-client-kubelet',
  kubeletServing: 'kubernetes.io/kubelet-serving',
} as const;
export const SERVED_SIGNERS: readonly string[] = Object.values(SIGNER_NAMES);

/** A CSR as the decision needs it: its spec, its state, and what its PKCS#10 request says. */
export interface CsrFacts {
  name: string;
  signerName: string;
  usages: string[];
  approved: boolean;
  failed: boolean;
  /** status.certificate is set already. */
  issued: boolean;
  /** spec.expirationSeconds (Kubernetes 1.22+; a 1.20 apiserver drops it). */
  expirationSeconds?: number;
  request: CsrNames;
}

export interface SigningPolicy {
  /** The signer names served. */
  signers: ReadonlySet<string>;
  now: Date;
  caNotAfter: Date;
  /** --cluster-signing-duration, in seconds (kube-controller-manager's default: one year). */
  durationSeconds: number;
}

/** Key usages as Go's x509.KeyUsage bits, by the names certificates.k8s.io uses (keyUsageDict). */
export const KEY_USAGES: Record<string, string> = {
  signing: 'digitalSignature',
  'digital signature': 'digitalSignature',
  'content commitment': 'nonRepudiation',
  'key encipherment': 'keyEncipherment',
  'key agreement': 'keyAgreement',
  'data encipherment': 'dataEncipherment',
  'cert sign': 'keyCertSign',
  'crl sign': 'cRLSign',
  'encipher only': 'encipherOnly',
  'decipher only': 'decipherOnly',
};

/** Extended key usages (extKeyUsageDict), in Go's ExtKeyUsage order, which sorts them in the certificate. */
const EXT_KEY_USAGES: [name: string, oid: string][] = [
  ['any', '2.5.29.37.0'],
  ['server auth', '1.3.6.1.5.5.7.3.1'],
  ['client auth', '1.3.6.1.5.5.7.3.2'],
  ['code signing', '1.3.6.1.5.5.7.3.3'],
  ['email protection', '1.3.6.1.5.5.7.3.4'],
  ['s/mime', '1.3.6.1.5.5.7.3.4'],
  ['ipsec end system', '1.3.6.1.5.5.7.3.5'],
  ['ipsec tunnel', '1.3.6.1.5.5.7.3.6'],
  ['ipsec user', '1.3.6.1.5.5.7.3.7'],
  ['timestamping', '1.3.6.1.5.5.7.3.8'],
  ['ocsp signing', '1.3.6.1.5.5.7.3.9'],
  ['microsoft sgc', '1.3.6.1.4.1.311.10.3.3'],
  ['netscape sgc', '2.16.840.1.113730.4.1'],
];

export type CsrDecision =
  | { action: 'skip'; reason: string }
  | { action: 'fail'; reason: 'SignerValidationFailure'; message: string }
  | { action: 'error'; message: string }
  | { action: 'sign'; keyUsages: string[]; extKeyUsages: string[]; notBefore: Date; notAfter: Date };

/** kube-controller-manager's authority.Sign backdates notBefore by five minutes (ca_provider.go). */
export const BACKDATE_SECONDS = 5 * 60;
/** expirationSeconds below this is raised to it (1.22's signer: twice the backdate). */
const MIN_DURATION_SECONDS = 10 * 60;

const sameSet = (a: readonly string[], b: readonly string[]) => new Set(a).size === new Set(b).size && a.every((u) => b.includes(u));
const KUBELET_SERVING_USAGES = ['digital signature', 'key encipherment', 'server auth'];
const KUBELET_CLIENT_USAGES = ['digital signature', 'key encipherment', 'client auth'];

/** helpers.go ValidateKubeletServingCSR / ValidateKubeletClientCSR and signer.go validAPIServerClientUsages, in their order. */
export function signerValidation(csr: Pick<CsrFacts, 'signerName' | 'usages' | 'request'>): string | undefined {
  const r = csr.request;
  const systemNodes = r.organizations.length === 1 && r.organizations[0] === 'system:nodes';
  const nodeName = r.commonName.startsWith('system:node:');
  switch (csr.signerName) {
    case SIGNER_NAMES.kubeletServing:
      if (!systemNodes) return 'subject organization is not system:nodes';
      if (!r.dnsNames.length && !r.ipAddresses.length) return 'DNS or IP subjectAltName is required';
      if (r.emailAddresses.length) return 'Email subjectAltNames are not allowed';
      if (r.uris.length) return 'URI subjectAltNames are not allowed';
      if (!sameSet(csr.usages, KUBELET_SERVING_USAGES)) return `usages did not match [${[...KUBELET_SERVING_USAGES].sort().join(' ')}]`;
      if (!nodeName) return 'subject common name does not begin with system:node:';
      return undefined;
    case SIGNER_NAMES.kubeletClient:
      if (!systemNodes) return 'subject organization is not system:nodes';
      if (r.dnsNames.length) return 'DNS subjectAltNames are not allowed';
      if (r.emailAddresses.length) return 'Email subjectAltNames are not allowed';
      if (r.ipAddresses.length) return 'IP subjectAltNames are not allowed';
      if (r.uris.length) return 'URI subjectAltNames are not allowed';
      if (!nodeName) return 'subject common name does not begin with system:node:';
      if (!sameSet(csr.usages, KUBELET_CLIENT_USAGES)) return `usages did not match [${[...KUBELET_CLIENT_USAGES].sort().join(' ')}]`;
      return undefined;
    case SIGNER_NAMES.kubeAPIServerClient: {
      for (const u of csr.usages)
        if (u !== 'digital signature' && u !== 'key encipherment' && u !== 'client auth')
          return `invalid usage for client certificate: ${u}`;
      if (!csr.usages.includes('client auth')) return 'missing required usage for client certificate: client auth';
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The certificate's lifetime: the signer's duration, or expirationSeconds when shorter (never under ten minutes). */
export function signingDuration(policy: Pick<SigningPolicy, 'durationSeconds'>, expirationSeconds: number | undefined): number {
  if (expirationSeconds === undefined) return policy.durationSeconds;
  return Math.min(policy.durationSeconds, Math.max(expirationSeconds, MIN_DURATION_SECONDS));
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

export function decideCsr(csr: CsrFacts, policy: SigningPolicy): CsrDecision {
  if (!csr.approved) return { action: 'skip', reason: 'not approved' };
  if (csr.failed) return { action: 'skip', reason: 'failed' };
  if (csr.issued) return { action: 'skip', reason: 'already issued' };
  if (!policy.signers.has(csr.signerName)) return { action: 'skip', reason: `signer ${csr.signerName} is not served` };
  const invalid = signerValidation(csr);
  if (invalid) return { action: 'fail', reason: 'SignerValidationFailure', message: invalid };
  const now = policy.now.getTime();
  const notBefore = wholeSeconds(now - BACKDATE_SECONDS * 1000);
  if (notBefore >= policy.caNotAfter)
    return { action: 'error', message: `the signer has expired: NotAfter=${policy.caNotAfter.toISOString()}` };
  const keyUsages: string[] = [];
  const extKeyUsages: string[] = [];
  const unrecognized: string[] = [];
  for (const usage of csr.usages) {
    const bit = KEY_USAGES[usage];
    const ext = EXT_KEY_USAGES.find(([name]) => name === usage)?.[1];
    if (bit) {
      if (!keyUsages.includes(bit)) keyUsages.push(bit);
    } else if (ext) {
      if (!extKeyUsages.includes(ext)) extKeyUsages.push(ext);
    } else unrecognized.push(usage);
  }
  if (unrecognized.length)
    return { action: 'error', message: `unrecognized usage values: [${unrecognized.map((u) => `"${u}"`).join(' ')}]` };
  extKeyUsages.sort((a, b) => EXT_KEY_USAGES.findIndex(([, o]) => o === a) - EXT_KEY_USAGES.findIndex(([, o]) => o === b));
  let notAfter = new Date(notBefore.getTime() + signingDuration(policy, csr.expirationSeconds) * 1000);
  if (notAfter >= policy.caNotAfter) notAfter = policy.caNotAfter;
  if (now >= policy.caNotAfter.getTime()) return { action: 'error', message: 'refusing to sign a certificate that expired in the past' };
  return { action: 'sign', keyUsages, extKeyUsages, notBefore, notAfter };
}

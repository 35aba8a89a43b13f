/** Stable finding codes: scripts match on these, so never rename one. */
export const FindingCode = {
  FileMissing: 'FILE_MISSING',
  FileInvalid: 'FILE_INVALID',
  KeyPermissions: 'KEY_PERMISSIONS',
  ChainUntrusted: 'CHAIN_UNTRUSTED',
  SanMissing: 'SAN_MISSING',
  UsageIncompatible: 'USAGE_INCOMPATIBLE',
  NotCa: 'NOT_CA',
  KeyMismatch: 'KEY_MISMATCH',
  ServiceAccountKeyMismatch: 'SA_KEY_MISMATCH',
  IdentityUnexpected: 'IDENTITY_UNEXPECTED',
  ProxyNameNotAllowed: 'PROXY_NAME_NOT_ALLOWED',
  ProxyAnyNameAllowed: 'PROXY_ANY_NAME_ALLOWED',
  RequestHeaderIncomplete: 'REQUESTHEADER_INCOMPLETE',
  EtcdClientAuthOff: 'ETCD_CLIENT_AUTH_OFF',
  Expired: 'EXPIRED',
  NotYetValid: 'NOT_YET_VALID',
  ExpiringSoon: 'EXPIRING_SOON',
  WeakKey: 'WEAK_KEY',
  WeakSignature: 'WEAK_SIGNATURE',
  ApiServiceInsecure: 'APISERVICE_INSECURE',
  ApiServiceNoCaBundle: 'APISERVICE_NO_CA_BUNDLE',
  Unchecked: 'UNCHECKED',
  FlagMissing: 'FLAG_MISSING',
  FlagUnknown: 'FLAG_UNKNOWN',
  KubeletCaUnset: 'KUBELET_CA_UNSET',
  EtcdAutoTls: 'ETCD_AUTO_TLS',
  EtcdCaShared: 'ETCD_CA_SHARED',
  CertPermissions: 'CERT_PERMISSIONS',
  KubeconfigPermissions: 'KUBECONFIG_PERMISSIONS',
  FileOwnership: 'FILE_OWNERSHIP',
  KubeletServingSelfSigned: 'KUBELET_SERVING_SELF_SIGNED',
  ComponentServingSelfSigned: 'COMPONENT_SERVING_SELF_SIGNED',
  KubeletServerMode: 'KUBELET_SERVER_MODE',
  KubeconfigServerUnexpected: 'KUBECONFIG_SERVER_UNEXPECTED',
  ValidityAboveDefault: 'VALIDITY_ABOVE_DEFAULT',
  OutlivesCa: 'OUTLIVES_CA',
  SigningCertNotSingle: 'SIGNING_CERT_NOT_SINGLE',
  /** A kubeconfig naming another server than the cluster's endpoint. */
  ServerUnexpected: 'SERVER_UNEXPECTED',
  // A kubeconfig checked on its own: who it authenticates as, and what it leaves unverified.
  ClientIdentity: 'CLIENT_IDENTITY',
  SystemMasters: 'SYSTEM_MASTERS',
  TlsVerifySkipped: 'TLS_VERIFY_SKIPPED',
  // A `kpki ca rotate` under way.
  RotationUnderWay: 'ROTATION_UNDER_WAY',
  RotationHalfApplied: 'ROTATION_HALF_APPLIED',
  // CA keys kept in a PKCS#11 token (kpki init --ca-key-uri).
  CaKeyInToken: 'CA_KEY_IN_TOKEN',
  // Found by `verify --live` against running components.
  ServingCertStale: 'SERVING_CERT_STALE',
  ClientRejected: 'CLIENT_REJECTED',
  ClientForbidden: 'CLIENT_FORBIDDEN',
  ApiServiceUnavailable: 'APISERVICE_UNAVAILABLE',
} as const;
export type FindingCode = (typeof FindingCode)[keyof typeof FindingCode];

export type Severity = 'error' | 'warning' | 'info';
export const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** One problem, as the user would meet it and as they can fix it. */
export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** The flag or file the finding concerns: `kube-apiserver --tls-cert-file`, `admin.conf`. */
  subject: string;
  /** The exact error the user would see (Go's wording, kubectl's output). */
  symptom: string;
  /** What is wrong, naming the files involved. */
  diagnosis: string;
  /** What to do about it. */
  fix: string;
  files: string[];
  /**
   * The CIS Kubernetes Benchmark v1.6 recommendation this finding fails, e.g. `1.1.21`: what the
   * rules tag findings with, and the key of the benchmark table (verify/benchmarks.ts).
   */
  cis?: string;
  /** In a whole-cluster run: the node (or `shared`) whose directory it was found in. */
  node?: string;
  /** The recommendation it fails in the benchmark verify reports against (`--benchmark`). */
  compliance?: Compliance;
}

/** One benchmark's recommendation: `{ benchmark: 'cis-1.12', id: '1.2.25', level: 'Level 1' }`. */
export interface Compliance {
  benchmark: string;
  id: string;
  /** CIS profile level or STIG category. */
  level: string;
}

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

/** Findings ordered by severity, and counted per severity: what a verify result carries. */
export function tallyFindings(found: Finding[]): { findings: Finding[]; counts: Record<Severity, number> } {
  const findings = sortFindings(found);
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { findings, counts };
}

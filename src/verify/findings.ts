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
  CertPermissions: 'CERT_PERMISSIONS',
  KubeconfigPermissions: 'KUBECONFIG_PERMISSIONS',
  FileOwnership: 'FILE_OWNERSHIP',
  KubeletServingSelfSigned: 'KUBELET_SERVING_SELF_SIGNED',
  SigningCertNotSingle: 'SIGNING_CERT_NOT_SINGLE',
  /** A kubeconfig naming another server than the cluster's endpoint. */
  ServerUnexpected: 'SERVER_UNEXPECTED',
  // A `kpki ca rotate` under way.
  RotationUnderWay: 'ROTATION_UNDER_WAY',
  RotationHalfApplied: 'ROTATION_HALF_APPLIED',
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
  /** The CIS Kubernetes Benchmark recommendation this finding fails, e.g. `1.1.21`. */
  cis?: string;
  /** In a whole-cluster run: the node (or `shared`) whose directory it was found in. */
  node?: string;
}

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

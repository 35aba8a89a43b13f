import { certificateFacts } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import type { CertificateData } from '../pki/parse.js';
import { verifyCertificate } from '../pki/verify.js';
import { FindingCode, type Finding } from '../verify/findings.js';
import type { ProbeResult } from './probe.js';

/**
 * Pure judgements on what running components answered: served chains, answers to client
 * certificates, APIService conditions. No I/O here, so each outcome is unit-tested.
 */

/** Who dials an endpoint and with what, in findings' words. */
export interface Dialer {
  /** `kube-apiserver at https://10.0.0.11:6443`, `admin.conf → https://vip:6443`. */
  subject: string;
  /** The host name or IP the client checks the certificate against. */
  host: string;
  /** Trust anchors of that client, and where they came from. */
  roots: CertificateData[];
  rootsFile: string;
  files: string[];
  /** What this client shows for Go's verification error (default: kubectl's words). */
  says?: (goError: string) => string;
  /** How to fix an untrusted chain, when not by serving a certificate of the client's CA. */
  untrustedFix?: string;
}

const kubectlSays = (goError: string) => `Unable to connect to the server: ${goError}`;

const describe = (cert: x509.X509Certificate) => {
  const facts = certificateFacts(cert);
  return `CN=${facts.commonName}, serial ${facts.serialNumber}, valid until ${facts.notAfter.toISOString()}`;
};

/** The exchange could not be completed: what was not checked, said so. */
export function unreachable(dialer: Pick<Dialer, 'subject' | 'files'>, result: ProbeResult, what: string): Finding {
  return {
    code: FindingCode.Unchecked,
    severity: 'warning',
    subject: dialer.subject,
    symptom: result.error ?? 'no answer',
    diagnosis: `${what} not checked: ${result.timedOut ? 'the endpoint did not answer in time' : 'the connection failed'}`,
    fix: 'run kpki verify --live where the endpoint is reachable, or start the component',
    files: dialer.files,
  };
}

/** The served chain as this client verifies it: Go's error when it would fail. */
export async function servedChainFindings(dialer: Dialer, served: x509.X509Certificate[], now: Date): Promise<Finding[]> {
  const [leaf, ...intermediates] = served;
  const result = await verifyCertificate(leaf!, { roots: dialer.roots, intermediates, usage: 'serverAuth', host: dialer.host, now });
  if (result.ok) return [];
  const code = /expired|not yet valid/.test(result.error)
    ? FindingCode.Expired
    : /valid for|IP SANs|any names|Common Name/.test(result.error)
      ? FindingCode.SanMissing
      : FindingCode.ChainUntrusted;
  return [
    {
      code,
      severity: 'error',
      subject: dialer.subject,
      symptom: (dialer.says ?? kubectlSays)(result.error),
      diagnosis: `the running server presents ${describe(leaf!)}, which a client trusting ${dialer.rootsFile} and dialing ${dialer.host} rejects`,
      fix:
        code === FindingCode.SanMissing
          ? `reissue the serving certificate with ${dialer.host} among its SANs and restart the server`
          : (dialer.untrustedFix ??
            `serve a certificate signed by ${dialer.rootsFile}'s CA (or give the client the CA that signed it) and restart the server`),
      files: dialer.files,
    },
  ];
}

/**
 * A running component serving another certificate than its flag names. `pairLoadable` is false
 * when the file does not match the key file: the component cannot load it (a live reload fails,
 * and so would a restart), which is why it still serves the old one.
 */
export function staleServingFinding(
  component: string,
  where: string,
  flag: string,
  file: string,
  served: x509.X509Certificate,
  onDisk: x509.X509Certificate,
  pairLoadable: boolean,
): Finding[] {
  if (Buffer.from(served.rawData).equals(Buffer.from(onDisk.rawData))) return [];
  const newer = onDisk.notBefore > served.notBefore;
  const restart = `${component} on the node at ${where}${component === 'kube-apiserver' || component === 'etcd' ? ' (for a static pod: move its manifest out of /etc/kubernetes/manifests and back)' : ''}`;
  return [
    {
      code: FindingCode.ServingCertStale,
      severity: newer || !pairLoadable ? 'error' : 'warning',
      subject: `${component} at ${where}`,
      symptom: pairLoadable
        ? newer
          ? `clients will fail when the served certificate expires at ${served.notAfter.toISOString()}`
          : 'the served certificate is not the file on disk'
        : 'tls: private key does not match public key',
      diagnosis: `${component} at ${where} serves ${describe(served)}, but ${flag} (${file}) holds ${describe(onDisk)}${
        pairLoadable
          ? newer
            ? ': renewed on disk, not yet loaded'
            : ''
          : ', which does not match the key file: the component cannot load it and a restart would fail'
      }`,
      // kube-apiserver (1.17+) and etcd reload serving certificates themselves; a lasting difference means they could not.
      fix: pairLoadable
        ? `restart ${restart} so it loads ${file} (if it reloads certificates itself, it should have done so within a minute: check its log)`
        : `put the matching key next to ${file} (or reissue both), then restart ${restart} if it does not reload`,
      files: [file],
    },
  ];
}

/** Reads a Kubernetes Status body's message, if it is one. */
function statusMessage(body: string | undefined): string | undefined {
  try {
    const status = JSON.parse(body ?? '') as { kind?: string; message?: string };
    return status.kind === 'Status' ? status.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How the apiserver treated a kubeconfig's client certificate. `offlineReason` is why kpki's own
 * check of the certificate against the apiserver's --client-ca-file fails, when it does.
 */
export function clientAnswerFindings(
  subject: string,
  file: string,
  client: x509.X509Certificate | undefined,
  result: ProbeResult,
  offlineReason: string | undefined,
  rejected: { server: string; symptom: string; fix: string } = {
    server: 'the apiserver',
    symptom: 'error: You must be logged in to the server (Unauthorized)',
    fix: `reissue ${file}'s client certificate from the CA in the apiserver's --client-ca-file (kpki kubeconfig …), or check that file`,
  },
): Finding[] {
  const identity = client ? describe(client) : 'no client certificate';
  if (result.status === 401) {
    return [
      {
        code: FindingCode.ClientRejected,
        severity: 'error',
        subject,
        symptom: rejected.symptom,
        diagnosis: `${rejected.server} does not accept the client certificate of ${file} (${identity})${offlineReason ? `: ${offlineReason}` : ''}`,
        fix: rejected.fix,
        files: [file],
      },
    ];
  }
  if (result.status === 403) {
    return [
      {
        code: FindingCode.ClientForbidden,
        severity: 'warning',
        subject,
        symptom: `Error from server (Forbidden): ${statusMessage(result.body) ?? 'forbidden'}`,
        diagnosis: `the apiserver authenticates ${file} (${identity}) but forbids it even API discovery: its user or groups are not what RBAC expects`,
        fix: `check the certificate's CN and O against the RBAC bindings, or bind the identity`,
        files: [file],
      },
    ];
  }
  if (result.status === undefined && result.served && result.error) {
    // The handshake got as far as the server's certificate, then the server hung up: a TLS alert.
    return [
      {
        code: FindingCode.ClientRejected,
        severity: 'error',
        subject,
        symptom: result.error,
        diagnosis: `the server rejected the TLS handshake with ${file}'s client certificate (${identity})${offlineReason ? `: ${offlineReason}` : ''}`,
        fix: `reissue the client certificate from the CA the server trusts for clients`,
        files: [file],
      },
    ];
  }
  return [];
}

export interface ApiServiceCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/**
 * The PKI cause behind an aggregator's error message, when it names one. (Kubernetes 1.20's
 * availability check does not verify the backend's serving certificate; later versions do.)
 */
export function apiServicePkiCause(name: string, service: string | undefined, message: string): string | undefined {
  if (/x509: certificate signed by unknown authority/.test(message)) {
    return `the caBundle of APIService ${name} does not hold the CA that signed the backend's serving certificate`;
  }
  const host = /x509: certificate is valid for .*, not (\S+)/.exec(message)?.[1];
  if (host) return `the backend's serving certificate lacks ${host}${service ? ` (the aggregator dials ${service})` : ''} among its SANs`;
  if (/expired or is not yet valid/.test(message)) return `the backend's serving certificate is outside its validity period`;
  // The aggregator presents its front-proxy client certificate; the backend's answer says how it was taken.
  if (/bad status from .*: 401\b|Unauthorized|provide credentials/.test(message)) {
    return `the backend does not accept the apiserver's front-proxy client certificate (--proxy-client-cert-file): not signed by its requestheader CA, or its CN is not in --requestheader-allowed-names`;
  }
  if (/bad status from .*: 403\b/.test(message)) {
    return `the backend took the apiserver's front-proxy client certificate (--proxy-client-cert-file) for an ordinary user, not the front proxy: not signed by the requestheader CA, or its CN is not in --requestheader-allowed-names`;
  }
  return undefined;
}

/** An APIService the aggregator reports unavailable, with the PKI cause when there is one. */
export function apiServiceFindings(name: string, service: string | undefined, conditions: ApiServiceCondition[]): Finding[] {
  const available = conditions.find((c) => c.type === 'Available');
  if (!available || available.status === 'True') return [];
  const message = available.message ?? '';
  const cause = apiServicePkiCause(name, service, message);
  return [
    {
      code: FindingCode.ApiServiceUnavailable,
      severity: 'error',
      subject: `APIService ${name}`,
      symptom: `${available.reason ?? 'Unavailable'}: ${message}`,
      diagnosis:
        cause ??
        (available.reason === 'MissingEndpoints'
          ? `the service ${service ?? ''} has no ready endpoints: not a certificate problem`
          : `the aggregator cannot reach ${name}'s backend; no certificate cause recognised`),
      fix: cause
        ? `fix the certificates (kpki verify --apiservice <manifest> --serving-cert <cert> shows which), then the aggregator rechecks within a minute`
        : 'check the backend pods and service',
      files: [],
    },
  ];
}

/** An APIService's backend as the aggregator dials it. */
export interface Backend {
  apiService: string;
  /** `<service>.<namespace>.svc`, the name the aggregator verifies. */
  service: string;
  /** The discovery URL the availability check requests, e.g. `https://10.96.0.9:443/apis/metrics.k8s.io/v1beta1`. */
  discoveryUrl: string;
  subject: string;
  /** The client certificate kpki presented as the aggregator does, e.g. `kube-apiserver --proxy-client-cert-file (…)`. */
  proxyClient: string;
  files: string[];
}

/**
 * How a backend answered the front-proxy client certificate with the availability check's identity
 * headers: the aggregator marks the APIService FailedDiscoveryCheck with this same message.
 */
export function backendAnswerFindings(backend: Backend, result: ProbeResult): Finding[] {
  if (result.status === 401 || result.status === 403) {
    const message = `failing or missing response from ${backend.discoveryUrl}: bad status from ${backend.discoveryUrl}: ${result.status}`;
    return [
      {
        code: result.status === 401 ? FindingCode.ClientRejected : FindingCode.ClientForbidden,
        severity: 'error',
        subject: backend.subject,
        symptom: `FailedDiscoveryCheck: ${message}`,
        diagnosis: `${apiServicePkiCause(backend.apiService, backend.service, message)} (kpki presented ${backend.proxyClient})`,
        fix: 'issue --proxy-client-cert-file from the CA in --requestheader-client-ca-file with a CN listed in --requestheader-allowed-names (kpki verify shows which), then restart kube-apiserver',
        files: backend.files,
      },
    ];
  }
  if (result.status === undefined && result.served && result.error) {
    return [
      {
        code: FindingCode.ClientRejected,
        severity: 'error',
        subject: backend.subject,
        symptom: result.error,
        diagnosis: `${backend.service} rejected the TLS handshake with ${backend.proxyClient}: the backend does not trust the CA that signed the front-proxy client certificate`,
        fix: 'issue --proxy-client-cert-file from the CA in --requestheader-client-ca-file, or give the backend that CA',
        files: backend.files,
      },
    ];
  }
  return [];
}

/**
 * kube-controller-manager or kube-scheduler running without --tls-cert-file: what it serves is the
 * certificate it made up in memory, which no client trusting the cluster CA verifies (`served`:
 * the chain or name finding a scraper's check produced).
 */
export function selfSignedServingFinding(component: string, flagsFor: string, origin: string, served: Finding): Finding {
  return {
    code: FindingCode.ComponentServingSelfSigned,
    severity: 'warning',
    subject: served.subject,
    symptom: served.symptom,
    diagnosis: `${component} runs without --tls-cert-file, so it serves a self-signed certificate it made up in memory: ${served.diagnosis}; monitoring can only scrape it with insecureSkipVerify (kubernetes/kubeadm#2244)`,
    fix: `issue its serving certificate (kpki init --component-serving-certs), add the flags \`kpki flags ${flagsFor} --component-serving-certs\` prints (--tls-cert-file, --tls-private-key-file) to ${origin} and restart it`,
    files: [origin],
  };
}

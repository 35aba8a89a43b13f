import type { CertificateData } from '../../pki/parse.js';
import { verifyCertificate } from '../../pki/verify.js';
import type { LoadedContext } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { keyPairFindings, type NamedCert } from './common.js';

/**
 * Rules over kubeconfig contexts checked on their own (`kpki verify --kubeconfig F` without a PKI):
 * what kpki can tell from the kubeconfig alone. What only the server can answer (whether it
 * trusts the client certificate, what RBAC allows) is `--live`'s.
 */

const ANY_USAGE = '2.5.29.37.0';

/** The contexts whose client certificate was read. */
function withClientCertificate(contexts: LoadedContext[] | undefined): (LoadedContext & { clientCertificates: CertificateData[] })[] {
  return (contexts ?? []).filter((c): c is LoadedContext & { clientCertificates: CertificateData[] } => Boolean(c.clientCertificates?.length));
}

const clientNamed = (c: LoadedContext & { clientCertificates: CertificateData[] }): NamedCert => ({ label: c.label, file: c.clientCertificateOrigin!, certs: c.clientCertificates });

/** What the apiserver's x509 authenticator makes of a client certificate: CN the user, each O a group. */
export function describeUser(cert: CertificateData): string {
  const info = infoOf(cert);
  return `User "${info.commonName}", groups [${[...info.organizations, 'system:authenticated'].join(', ')}]`;
}

/** Rule: the client certificate and key of each context are one pair, as tls.X509KeyPair demands. */
export const contextKeyPairs = defineRule({
  id: 'context-key-pairs',
  codes: [FindingCode.KeyMismatch],
  check: (facts) => withClientCertificate(facts.contexts).flatMap((c) => (c.clientKey ? keyPairFindings(clientNamed(c), c.clientKey, c.clientKeyOrigin!, `${c.label} client key`) : [])),
});

/** Rule: each client certificate may be used for client authentication, and who it authenticates as. */
export const contextIdentity = defineRule({
  id: 'context-identity',
  codes: [FindingCode.UsageIncompatible, FindingCode.IdentityUnexpected, FindingCode.ClientIdentity, FindingCode.SystemMasters],
  check(facts) {
    const out: Finding[] = [];
    for (const c of withClientCertificate(facts.contexts)) {
      const cert = c.clientCertificates[0]!;
      const info = infoOf(cert);
      const files = [c.clientCertificateOrigin!];
      const ekus = info.extKeyUsages;
      if (ekus.length && !ekus.includes('clientAuth') && !ekus.includes(ANY_USAGE)) {
        out.push(finding({
          code: FindingCode.UsageIncompatible,
          severity: 'error',
          subject: c.label,
          symptom: 'error: You must be logged in to the server (Unauthorized); kube-apiserver log: x509: certificate specifies an incompatible key usage',
          diagnosis: `the client certificate (CN=${info.commonName}) has extended key usages [${ekus.join(', ')}] without clientAuth, so the apiserver refuses it`,
          fix: 'ask for a client certificate issued with clientAuth (kpki kubeconfig user …)',
          files,
        }));
      }
      if (!info.commonName) {
        out.push(finding({
          code: FindingCode.IdentityUnexpected,
          severity: 'error',
          subject: c.label,
          symptom: 'error: You must be logged in to the server (Unauthorized)',
          diagnosis: `the client certificate has no CN: the apiserver's x509 authenticator takes the user name from the CN, so it authenticates no one`,
          fix: 'ask for a client certificate with the user name as CN (kpki kubeconfig user --client-name NAME)',
          files,
        }));
        continue;
      }
      out.push(finding({
        code: FindingCode.ClientIdentity,
        severity: 'info',
        subject: c.label,
        symptom: '',
        diagnosis: `the apiserver will see ${describeUser(cert)}; RBAC bindings to these names decide what it may do (--live asks the server)`,
        fix: 'nothing, if that is who this kubeconfig is for; otherwise ask for a certificate with that user (CN) and groups (O)',
        files,
      }));
      if (info.organizations.includes('system:masters')) {
        out.push(finding({
          code: FindingCode.SystemMasters,
          severity: 'warning',
          subject: c.label,
          symptom: '',
          diagnosis: `the client certificate puts ${info.commonName} in system:masters, which bypasses RBAC and every authorization webhook, and cannot be revoked before it expires (${cert.notAfter.toISOString()}); the Kubernetes RBAC good practices and hardening guide say to keep it to break-glass use`,
          fix: 'for daily use, issue a certificate with a group bound to cluster-admin (kubeadm ≥ 1.29: kubeadm:cluster-admins) or a narrower role, and keep this one offline',
          files,
        }));
      }
    }
    return out;
  },
});

/**
 * Rule: whether the client certificate comes from the CA the kubeconfig trusts for the server.
 * kubeadm clusters use one CA for both, but others (a separate --client-ca-file) need not: a note,
 * never an error; `--live` says which of the two the server takes.
 */
export const contextClientIssuer = defineRule({
  id: 'context-client-issuer',
  codes: [FindingCode.ChainUntrusted],
  async check(facts) {
    const out: Finding[] = [];
    for (const c of withClientCertificate(facts.contexts)) {
      if (!c.authorities?.length) continue;
      const [leaf, ...intermediates] = c.clientCertificates;
      const at = facts.now < leaf!.notBefore ? leaf!.notBefore : facts.now > leaf!.notAfter ? leaf!.notAfter : facts.now;
      const result = await verifyCertificate(leaf!, { roots: c.authorities, intermediates, usage: 'clientAuth', now: at });
      if (result.ok || !result.error.includes('signed by unknown authority')) continue;
      out.push(finding({
        code: FindingCode.ChainUntrusted,
        severity: 'info',
        subject: c.label,
        symptom: `x509: certificate signed by unknown authority (against the kubeconfig's own CA)`,
        diagnosis: `the client certificate (issued by CN=${infoOf(leaf!).issuerCommonName}) is not signed by the CA in ${c.authorityOrigin}: fine when the apiserver's --client-ca-file is another CA, but in a kubeadm cluster (one CA for both) one of the two comes from another cluster`,
        fix: `kpki verify --kubeconfig ${c.file} --context ${c.context.name} --live tells which one the server rejects`,
        files: [c.clientCertificateOrigin!, c.authorityOrigin!],
      }));
    }
    return out;
  },
});

/** Rule: what a context relies on that kpki cannot check offline: other credentials, system roots, no server verification. */
export const contextUnchecked = defineRule({
  id: 'context-unchecked',
  codes: [FindingCode.Unchecked, FindingCode.TlsVerifySkipped],
  check(facts) {
    const out: Finding[] = [];
    for (const c of facts.contexts ?? []) {
      const { cluster, user } = c.context;
      for (const other of user?.otherAuth ?? []) {
        out.push(finding({
          code: FindingCode.Unchecked,
          severity: 'warning',
          subject: c.label,
          symptom: '',
          diagnosis: `the user authenticates with ${other.detail}: kpki checks certificates only, so whether the apiserver accepts this credential is not checked`,
          fix: `kubectl --kubeconfig ${c.file} --context ${c.context.name} auth can-i --list shows what the credential may do`,
          files: [c.file],
        }));
      }
      if (user && !user.clientCertificate && !user.otherAuth.length) {
        out.push(finding({
          code: FindingCode.Unchecked,
          severity: 'warning',
          subject: c.label,
          symptom: '',
          diagnosis: `user ${c.context.userName} has no credentials: kubectl connects anonymously (system:anonymous), which the apiserver refuses or allows nearly nothing`,
          fix: 'add a client certificate and key (kpki kubeconfig user --client-name NAME makes a kubeconfig with one)',
          files: [c.file],
        }));
      }
      if (!cluster) continue;
      if (cluster.insecureSkipTlsVerify) {
        out.push(finding({
          code: FindingCode.TlsVerifySkipped,
          severity: 'warning',
          subject: c.label,
          symptom: '',
          diagnosis: `cluster ${c.context.clusterName} sets insecure-skip-tls-verify: kubectl accepts any certificate from ${cluster.server}, so whoever sits on the path can impersonate the apiserver and receive the credentials`,
          fix: `kubectl config set-cluster ${c.context.clusterName} --kubeconfig ${c.file} --insecure-skip-tls-verify=false --certificate-authority CA_FILE --embed-certs`,
          files: [c.file],
        }));
      } else if (!cluster.certificateAuthority) {
        out.push(finding({
          code: FindingCode.Unchecked,
          severity: 'info',
          subject: c.label,
          symptom: '',
          diagnosis: `cluster ${c.context.clusterName} names no certificate-authority: kubectl verifies ${cluster.server} against the system's trusted roots, which kpki does not read`,
          fix: 'nothing, if the apiserver serves a publicly trusted certificate; otherwise embed the cluster CA (kubectl config set-cluster … --certificate-authority ca.crt --embed-certs)',
          files: [c.file],
        }));
      }
    }
    return out;
  },
});

export const CONTEXT_RULES = [contextKeyPairs, contextIdentity, contextClientIssuer, contextUnchecked] as const;

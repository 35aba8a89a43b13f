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
  return (contexts ?? []).filter((c): c is LoadedContext & { clientCertificates: CertificateData[] } =>
    Boolean(c.clientCertificates?.length),
  );
}

const clientNamed = (c: LoadedContext & { clientCertificates: CertificateData[] }): NamedCert => ({
  label: c.label,
  file: c.clientCertificateOrigin!,
  certs: c.clientCertificates,
});

/** What the apiserver's x509 authenticator makes of a client certificate: CN the user, each O a group. */
export function describeUser(cert: CertificateData): string {
  const info = infoOf(cert);
  return `User "${info.commonName}", groups [${[...info.organizations, 'system:authenticated'].join(', ')}]`;
}

/** Rule: the client certificate and key of each context are one pair, as tls.X509KeyPair demands. */
export const contextKeyPairs = defineRule({
  id: 'context-key-pairs',
  codes: [FindingCode.KeyMismatch],
  check: (facts) =>
    withClientCertificate(facts.contexts).flatMap((c) =>
      c.clientKey ? keyPairFindings(clientNamed(c), c.clientKey, c.clientKeyOrigin!, `${c.label} client key`) : [],
    ),
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
        out.push(
          finding({
            code: FindingCode.UsageIncompatible,
            severity: 'error',
            subject: c.label,
            symptom:
              'error: You must be logged in to the server (Unauthorized); kube-apiserver log: x509: certificate specifies an incompatible key usage',
            diagnosis: `the client certificate (CN=${info.commonName}) has extended key usages [${ekus.join(', ')}] without clientAuth, so the apiserver refuses it`,
            fix: 'ask for a client certificate issued with clientAuth (kpki kubeconfig user …)',
            files,
          }),
        );
      }
      if (!info.commonName) {
        out.push(
          finding({
            code: FindingCode.IdentityUnexpected,
            severity: 'error',
            subject: c.label,
            symptom: 'error: You must be logged in to the server (Unauthorized)',
            diagnosis: `the client certificate has no CN: the apiserver's x509 authenticator takes the user name from the CN, so it authenticates no one`,
            fix: 'ask for a client certificate with the user name as CN (kpki kubeconfig user --client-name NAME)',
            files,
          }),
        );
        continue;
      }
      out.push(
        finding({
          code: FindingCode.ClientIdentity,
          severity: 'info',
          subject: c.label,
          symptom: '',
          diagnosis: `the apiserver will see ${describeUser(cert)}; RBAC bindings to these names decide what it may do (--live asks the server)`,
          fix: 'nothing, if that is who this kubeconfig is for; otherwise ask for a certificate with that user (CN) and groups (O)',
          files,
        }),
      );
      if (info.organizations.includes('system:masters')) {
        out.push(
          finding({
            code: FindingCode.SystemMasters,
            severity: 'warning',
            subject: c.label,
            symptom: '',
            diagnosis: `the client certificate puts ${info.commonName} in system:masters, which bypasses RBAC and every authorization webhook, and cannot be revoked before it expires (${cert.notAfter.toISOString()}); the Kubernetes RBAC good practices and hardening guide say to keep it to break-glass use`,
            fix: 'for daily use, issue a certificate with a group bound to cluster-admin (kubeadm ≥ 1.29: kubeadm:cluster-admins) or a narrower role, and keep this one offline',
            files,
          }),
        );
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
      out.push(
        finding({
          code: FindingCode.ChainUntrusted,
          severity: 'info',
          subject: c.label,
          symptom: `x509: certificate signed by unknown authority (against the kubeconfig's own CA)`,
          diagnosis: `the client certificate (issued by CN=${infoOf(leaf!).issuerCommonName}) is not signed by the CA in ${c.authorityOrigin}: fine when the apiserver's --client-ca-file is another CA, but in a kubeadm cluster (one CA for both) one of the two comes from another cluster`,
          fix: `kpki verify --kubeconfig ${c.file} --context ${c.context.name} --live tells which one the server rejects`,
          files: [c.clientCertificateOrigin!, c.authorityOrigin!],
        }),
      );
    }
    return out;
  },
});

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/** The secrets a context's user keeps in the kubeconfig file itself (not in files it names, not fetched by a plugin). */
function embeddedSecrets(c: LoadedContext): string[] {
  const user = c.context.user;
  if (!user) return [];
  const methods = new Set(user.otherAuth.map((o) => o.method));
  return [
    ...(user.clientKey?.data ? ['a client key'] : []),
    ...(methods.has('token') ? ['a bearer token'] : []),
    ...(methods.has('username/password') ? ['a password'] : []),
    // An auth-provider keeps its id and refresh tokens in the kubeconfig.
    ...(methods.has('auth-provider') ? ["an auth-provider's tokens"] : []),
  ];
}

/** Whether a context's kubeconfig is private to its owner: undefined when its mode was not read. */
const filePrivate = (c: LoadedContext) => (c.fileMode === undefined ? undefined : (c.fileMode & 0o077) === 0);

/**
 * Rule: a kubeconfig that holds a credential (a client key, a bearer token, a password) is a
 * credential itself: readable by its group or everyone, it lets them act as its user. Its owner is
 * not checked here: a user's own kubeconfig belongs to that user, not to root.
 */
export const contextFileMode = defineRule({
  id: 'context-file-mode',
  codes: [FindingCode.KubeconfigPermissions],
  check(facts) {
    const out: Finding[] = [];
    const seen = new Set<string>();
    for (const c of facts.contexts ?? []) {
      const secrets = embeddedSecrets(c);
      if (!secrets.length || filePrivate(c) !== false || seen.has(c.file)) continue;
      seen.add(c.file);
      const mode = c.fileMode!;
      out.push(
        finding({
          code: FindingCode.KubeconfigPermissions,
          severity: 'warning',
          subject: c.file,
          symptom: '',
          diagnosis: `kubeconfig ${c.file} is readable by ${mode & 0o007 ? 'everyone' : 'its group'} (mode ${octal(mode)}); it holds ${secrets.join(' and ')} of user ${c.context.userName}: whoever reads the file can act as that user`,
          fix: `chmod 600 ${c.file}`,
          files: [c.file],
        }),
      );
    }
    return out;
  },
});

/** What was checked of a kubeconfig holding a credential kpki cannot check: its file mode. */
function fileModeChecked(c: LoadedContext, method: string): string {
  if (method !== 'token' && method !== 'username/password' && method !== 'auth-provider') return '';
  const state = filePrivate(c);
  if (state === undefined) return '; the kubeconfig file mode: not checked either';
  return state
    ? `; checked: the kubeconfig's mode (${octal(c.fileMode!)}), which keeps the credential, like a private key, to its owner`
    : `; checked: the kubeconfig's mode (${octal(c.fileMode!)}), too open for a file holding a credential (KUBECONFIG_PERMISSIONS)`;
}

/** Rule: what a context relies on that kpki cannot check offline: other credentials, system roots, no server verification. */
export const contextUnchecked = defineRule({
  id: 'context-unchecked',
  codes: [FindingCode.Unchecked, FindingCode.TlsVerifySkipped],
  check(facts) {
    const out: Finding[] = [];
    for (const c of facts.contexts ?? []) {
      const { cluster, user } = c.context;
      for (const other of user?.otherAuth ?? []) {
        out.push(
          finding({
            code: FindingCode.Unchecked,
            severity: 'warning',
            subject: c.label,
            symptom: '',
            diagnosis: `user ${c.context.userName} authenticates with ${other.detail}${user!.clientCertificate ? '' : ', not a client certificate'}: kpki checks certificates only, so the credential itself is not checked offline (whether the apiserver accepts it, and as whom)${fileModeChecked(c, other.method)}`,
            fix: `kubectl --kubeconfig ${c.file} --context ${c.context.name} auth can-i --list shows what the credential may do`,
            files: [c.file],
          }),
        );
      }
      if (user && !user.clientCertificate && !user.otherAuth.length) {
        out.push(
          finding({
            code: FindingCode.Unchecked,
            severity: 'warning',
            subject: c.label,
            symptom: '',
            diagnosis: `user ${c.context.userName} has no credentials: kubectl connects anonymously (system:anonymous), which the apiserver refuses or allows nearly nothing`,
            fix: 'add a client certificate and key (kpki kubeconfig user --client-name NAME makes a kubeconfig with one)',
            files: [c.file],
          }),
        );
      }
      if (!cluster) continue;
      if (cluster.insecureSkipTlsVerify) {
        out.push(
          finding({
            code: FindingCode.TlsVerifySkipped,
            severity: 'warning',
            subject: c.label,
            symptom: '',
            diagnosis: `cluster ${c.context.clusterName} sets insecure-skip-tls-verify: kubectl accepts any certificate from ${cluster.server}, so whoever sits on the path can impersonate the apiserver and receive the credentials`,
            fix: `kubectl config set-cluster ${c.context.clusterName} --kubeconfig ${c.file} --insecure-skip-tls-verify=false --certificate-authority CA_FILE --embed-certs`,
            files: [c.file],
          }),
        );
      } else if (!cluster.certificateAuthority) {
        out.push(
          finding({
            code: FindingCode.Unchecked,
            severity: 'info',
            subject: c.label,
            symptom: '',
            diagnosis: `cluster ${c.context.clusterName} names no certificate-authority: kubectl verifies ${cluster.server} against the system's trusted roots, which kpki does not read`,
            fix: 'nothing, if the apiserver serves a publicly trusted certificate; otherwise embed the cluster CA (kubectl config set-cluster … --certificate-authority ca.crt --embed-certs)',
            files: [c.file],
          }),
        );
      }
    }
    return out;
  },
});

export const CONTEXT_RULES = [contextKeyPairs, contextIdentity, contextClientIssuer, contextUnchecked, contextFileMode] as const;

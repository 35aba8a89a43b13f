import path from 'node:path';
import { COMPONENTS, CONDITION_DEFAULTS, type Condition, type FlagComponent, type Profile, type WiredPart } from './profile.js';

export { COMPONENTS, type FlagComponent };

/**
 * How a component reads the file a flag names, which decides what it accepts and the error it
 * prints: `tls-cert`/`tls-key` through Go's tls.X509KeyPair, `ca-bundle` through client-go's
 * ParseCertsPEM, `public-keys`/`private-key` through client-go's keyutil, `kubeconfig` through
 * clientcmd.
 */
export type FileRole = 'tls-cert' | 'tls-key' | 'ca-bundle' | 'public-keys' | 'private-key' | 'kubeconfig';

/**
 * When a component needs a flag for the PKI to work: `always`; `https-etcd` when --etcd-servers
 * has an https URL; `proxy-client` when --proxy-client-cert-file is set; `multi-member` when
 * etcd's --initial-cluster names more than one member; `one-signer` unless per-signer
 * --cluster-signing-<signer>-cert-file flags (v1.19+) take the place of the shared one;
 * `issued` when the PKI holds the file kubeadm's value names (an opt-in entry such as the
 * component serving certificates): issued but unused, the component serves something else.
 */
export type FlagNeed = 'always' | 'https-etcd' | 'proxy-client' | 'multi-member' | 'one-signer' | 'issued';

export interface WiredFlag {
  name: string;
  /**
   * kubeadm's value: a file under the cert dir (`pki:`), under the kubeconfig dir (`conf:`), or a
   * literal. File values come from the profile's wiring; absent when nothing sets it.
   */
  kubeadm?: string;
  /** What the flag names, when it names a file. */
  file?: FileRole;
  /** A `tls-cert` that signs (a CA certificate with its key), not a serving or client certificate. */
  signs?: true;
  /** For a `tls-cert` flag: the flag naming its private key. */
  key?: string;
  need?: FlagNeed;
  /** What breaks without it, as the user meets it: the symptom of a missing-flag finding. */
  breaks?: string;
  /** The CIS Kubernetes Benchmark (v1.6) recommendation the flag satisfies. */
  cis?: string;
  /** The condition of the profile entry it names: kubeadm sets it only where that holds. */
  when?: Condition;
}

const UNAUTHORIZED = 'error: You must be logged in to the server (Unauthorized)';
/** What a scraper of kube-controller-manager's or kube-scheduler's secure port meets without --tls-cert-file. */
const SELF_SIGNED = (port: string) =>
  `the component serves a certificate it made up in memory (for localhost and 127.0.0.1, signed by itself): a client of ${port} trusting the cluster CA fails with "x509: certificate signed by unknown authority", so monitoring scrapes it with insecureSkipVerify`;

/**
 * The flags each component has for its PKI: how it reads the file a flag names, whether it needs
 * it, and kubeadm's literal values. Which entry a file flag names is the profile's to say
 * (`wiring`); `wiringFromProfile` joins the two.
 */
const FLAGS: Record<FlagComponent, WiredFlag[]> = {
  apiserver: [
    {
      name: 'client-ca-file',
      file: 'ca-bundle',
      need: 'always',
      breaks: `every client certificate is ignored: kubectl with admin.conf gets "${UNAUTHORIZED}"`,
      cis: '1.2.31',
    },
    {
      name: 'tls-cert-file',
      file: 'tls-cert',
      key: 'tls-private-key-file',
      need: 'always',
      breaks:
        'the apiserver serves a self-signed certificate it makes up: every client fails with "x509: certificate signed by unknown authority"',
      cis: '1.2.30',
    },
    {
      name: 'tls-private-key-file',
      file: 'tls-key',
      need: 'always',
      breaks:
        'the apiserver serves a self-signed certificate it makes up: every client fails with "x509: certificate signed by unknown authority"',
      cis: '1.2.30',
    },
    {
      name: 'kubelet-client-certificate',
      file: 'tls-cert',
      key: 'kubelet-client-key',
      need: 'always',
      breaks: 'kubectl logs/exec: error: You must be logged in to the server (the server has asked for the client to provide credentials)',
      cis: '1.2.5',
    },
    {
      name: 'kubelet-client-key',
      file: 'tls-key',
      need: 'always',
      breaks: 'kubectl logs/exec: error: You must be logged in to the server (the server has asked for the client to provide credentials)',
      cis: '1.2.5',
    },
    { name: 'kubelet-certificate-authority', file: 'ca-bundle', cis: '1.2.6' },
    {
      name: 'etcd-cafile',
      file: 'ca-bundle',
      need: 'https-etcd',
      breaks:
        'kube-apiserver cannot verify etcd: "transport: authentication handshake failed: x509: certificate signed by unknown authority"',
      cis: '1.2.32',
    },
    {
      name: 'etcd-certfile',
      file: 'tls-cert',
      key: 'etcd-keyfile',
      need: 'https-etcd',
      breaks: 'etcd log: rejected connection (error "tls: client didn\'t provide a certificate"); kube-apiserver never starts',
      cis: '1.2.29',
    },
    {
      name: 'etcd-keyfile',
      file: 'tls-key',
      need: 'https-etcd',
      breaks: 'etcd log: rejected connection (error "tls: client didn\'t provide a certificate"); kube-apiserver never starts',
      cis: '1.2.29',
    },
    { name: 'proxy-client-cert-file', file: 'tls-cert', key: 'proxy-client-key-file' },
    {
      name: 'proxy-client-key-file',
      file: 'tls-key',
      need: 'proxy-client',
      breaks: 'the apiserver refuses to start: the proxy client certificate has no key',
    },
    {
      name: 'requestheader-client-ca-file',
      file: 'ca-bundle',
      need: 'proxy-client',
      breaks: 'extension apiservers have no CA to check the aggregator with: 401 Unauthorized from aggregated APIs (metrics.k8s.io, …)',
    },
    { name: 'requestheader-allowed-names' },
    {
      name: 'requestheader-username-headers',
      kubeadm: 'X-Remote-User',
      need: 'proxy-client',
      breaks: 'proxied requests carry no user, fall through to x509 authentication and fail: 401 Unauthorized from aggregated APIs',
    },
    {
      name: 'requestheader-group-headers',
      kubeadm: 'X-Remote-Group',
      need: 'proxy-client',
      breaks: "proxied requests lose the user's groups: 403 Forbidden from aggregated APIs for group-bound users",
    },
    {
      name: 'requestheader-extra-headers-prefix',
      kubeadm: 'X-Remote-Extra-',
      need: 'proxy-client',
      breaks: "proxied requests lose the user's extra attributes (scopes, impersonation data)",
    },
    {
      name: 'service-account-key-file',
      file: 'public-keys',
      need: 'always',
      breaks: `every pod's service-account token is refused: "${UNAUTHORIZED}"`,
      cis: '1.2.28',
    },
    {
      name: 'service-account-signing-key-file',
      file: 'private-key',
      need: 'always',
      breaks: 'kube-apiserver v1.20+ refuses to start: "service-account-signing-key-file and service-account-issuer are required flags"',
    },
    { name: 'oidc-ca-file', file: 'ca-bundle' },
  ],
  etcd: [
    {
      name: 'cert-file',
      file: 'tls-cert',
      key: 'key-file',
      need: 'always',
      breaks: 'etcd serves plain HTTP or refuses https client URLs: kube-apiserver cannot connect',
      cis: '2.1',
    },
    {
      name: 'key-file',
      file: 'tls-key',
      need: 'always',
      breaks: 'etcd serves plain HTTP or refuses https client URLs: kube-apiserver cannot connect',
      cis: '2.1',
    },
    {
      name: 'trusted-ca-file',
      file: 'ca-bundle',
      need: 'always',
      breaks: 'etcd cannot verify client certificates: kube-apiserver is refused with "tls: failed to verify client certificate"',
    },
    { name: 'client-cert-auth', kubeadm: 'true', cis: '2.2' },
    {
      name: 'peer-cert-file',
      file: 'tls-cert',
      key: 'peer-key-file',
      need: 'multi-member',
      breaks: 'members cannot reach each other over https: the cluster never forms a quorum',
      cis: '2.4',
    },
    {
      name: 'peer-key-file',
      file: 'tls-key',
      need: 'multi-member',
      breaks: 'members cannot reach each other over https: the cluster never forms a quorum',
      cis: '2.4',
    },
    {
      name: 'peer-trusted-ca-file',
      file: 'ca-bundle',
      need: 'multi-member',
      breaks: 'members cannot verify each other: "tls: failed to verify client certificate: x509: certificate signed by unknown authority"',
    },
    { name: 'peer-client-cert-auth', kubeadm: 'true', cis: '2.5' },
  ],
  'controller-manager': [
    { name: 'kubeconfig', file: 'kubeconfig' },
    { name: 'authentication-kubeconfig', file: 'kubeconfig' },
    { name: 'authorization-kubeconfig', file: 'kubeconfig' },
    { name: 'client-ca-file', file: 'ca-bundle' },
    { name: 'requestheader-client-ca-file', file: 'ca-bundle' },
    {
      name: 'root-ca-file',
      file: 'ca-bundle',
      need: 'always',
      breaks:
        'pods get no kube-root-ca.crt to verify the apiserver with: in-cluster clients fail with "x509: certificate signed by unknown authority"',
      cis: '1.3.5',
    },
    {
      name: 'service-account-private-key-file',
      file: 'private-key',
      need: 'always',
      breaks: 'no service-account token secrets are created: pods relying on them get "Unauthorized"',
      cis: '1.3.4',
    },
    {
      name: 'cluster-signing-cert-file',
      file: 'tls-cert',
      signs: true,
      key: 'cluster-signing-key-file',
      need: 'one-signer',
      breaks:
        'approved CSRs are never signed: kubelet client rotation and serverTLSBootstrap stall (kubectl get csr shows Approved without Issued)',
    },
    {
      name: 'cluster-signing-key-file',
      file: 'tls-key',
      need: 'one-signer',
      breaks:
        'approved CSRs are never signed: kubelet client rotation and serverTLSBootstrap stall (kubectl get csr shows Approved without Issued)',
    },
    { name: 'tls-cert-file', file: 'tls-cert', key: 'tls-private-key-file', need: 'issued', breaks: SELF_SIGNED(':10257') },
    { name: 'tls-private-key-file', file: 'tls-key', need: 'issued', breaks: SELF_SIGNED(':10257') },
  ],
  scheduler: [
    { name: 'kubeconfig', file: 'kubeconfig' },
    { name: 'authentication-kubeconfig', file: 'kubeconfig' },
    { name: 'authorization-kubeconfig', file: 'kubeconfig' },
    { name: 'client-ca-file', file: 'ca-bundle' },
    { name: 'requestheader-client-ca-file', file: 'ca-bundle' },
    { name: 'tls-cert-file', file: 'tls-cert', key: 'tls-private-key-file', need: 'issued', breaks: SELF_SIGNED(':10259') },
    { name: 'tls-private-key-file', file: 'tls-key', need: 'issued', breaks: SELF_SIGNED(':10259') },
  ],
};

/** Every PKI flag of every component, with kubeadm's value for a profile. */
export type Wiring = Record<FlagComponent, readonly WiredFlag[]>;

/** How a component reads a flag the profile wires but the table does not know. */
function fileRoleOf(part: WiredPart, isCA: boolean): FileRole | undefined {
  const roles: Record<WiredPart, FileRole | undefined> = {
    cert: isCA ? 'ca-bundle' : 'tls-cert',
    key: 'tls-key',
    pub: 'public-keys',
    kubeconfig: 'kubeconfig',
    commonName: undefined,
  };
  return roles[part];
}

/**
 * The wiring of a profile: the flag table with each file flag pointing at the entry the profile
 * wires to it; flags only the profile knows come last, read as their part says.
 */
export function wiringFromProfile(profile: Profile): Wiring {
  const wired = new Map<
    string,
    { value: string; part: WiredPart; isCA: boolean; keyFlag: string | undefined; when: Condition | undefined }
  >();
  const entries = [
    ...profile.certificates.map((e) => ({ ...e, isCA: !e.issuer })),
    ...profile.keyPairs.map((e) => ({ ...e, isCA: false, commonName: '', when: undefined })),
    ...profile.kubeconfigs.map((e) => ({ ...e, isCA: false, when: undefined })),
  ];
  for (const entry of entries) {
    const values: Record<WiredPart, string> = {
      cert: `pki:${entry.file}.crt`,
      key: `pki:${entry.file}.key`,
      pub: `pki:${entry.file}.pub`,
      kubeconfig: `conf:${entry.file}`,
      commonName: entry.commonName,
    };
    for (const w of entry.wiring) {
      // The flag naming the same entry's key for the same component: a tls-cert flag's pair.
      const keyFlag = entry.wiring.find((k) => k.component === w.component && k.part === 'key')?.flag;
      wired.set(`${w.component} ${w.flag}`, { value: values[w.part], part: w.part, isCA: entry.isCA, keyFlag, when: entry.when });
    }
  }
  const wiring = {} as Record<FlagComponent, WiredFlag[]>;
  for (const component of COMPONENTS) {
    const known = FLAGS[component].map((flag) => {
      const w = wired.get(`${component} ${flag.name}`);
      return { ...flag, kubeadm: w?.value ?? flag.kubeadm, ...(w?.when && { when: w.when }) };
    });
    const extra = [...wired].filter(([key]) => key.startsWith(`${component} `) && !known.some((f) => key === `${component} ${f.name}`));
    wiring[component] = [
      ...known,
      ...extra.map(([key, w]) => {
        const name = key.slice(component.length + 1);
        const keyFlag = w.part === 'cert' && !w.isCA ? w.keyFlag : undefined;
        return {
          name,
          kubeadm: w.value,
          file: fileRoleOf(w.part, w.isCA),
          ...(keyFlag && { key: keyFlag }),
          ...(w.when && { when: w.when }),
        };
      }),
    ];
  }
  return wiring;
}

/** Where kubeadm's value of a flag points for a PKI directory: the file path or the literal. */
export function kubeadmValue(flag: WiredFlag, certDir: string, kubeconfigDir = path.dirname(path.resolve(certDir))): string | undefined {
  if (flag.kubeadm === undefined) return undefined;
  const match = /^(pki|conf):(.*)$/.exec(flag.kubeadm);
  if (!match) return flag.kubeadm;
  return path.join(match[1] === 'pki' ? certDir : kubeconfigDir, match[2]!);
}

/** Whether kubeadm sets a flag when nothing is known of the cluster: its entry's condition holds by default. */
export const setByDefault = (flag: WiredFlag): boolean => !flag.when || CONDITION_DEFAULTS[flag.when];

/**
 * kubeadm's certificate flags for a component, pointing at a PKI directory: `[name, value]`
 * pairs. Flags of entries that need opting in (`--component-serving-certs`) are there when
 * `include` says so: by default not.
 */
export function flagsFor(
  wiring: Wiring,
  component: FlagComponent,
  certDir: string,
  kubeconfigDir = path.dirname(path.resolve(certDir)),
  include: (flag: WiredFlag, value: string) => boolean = setByDefault,
): [string, string][] {
  return wiring[component].flatMap((flag) => {
    const value = kubeadmValue(flag, certDir, kubeconfigDir);
    return value === undefined || !include(flag, value) ? [] : [[flag.name, value] as [string, string]];
  });
}

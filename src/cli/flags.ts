import path from 'node:path';
import type { NodeRole } from '../model/topology.js';
import { badFlag } from '../errors.js';
import { DEFAULTS } from '../model/defaults.js';
import { parseDuration } from '../model/duration.js';
import { LEAF_ROLES, ROLES } from '../model/profile.js';
import { KEY_TYPES, listValue, parseKeyType, type KeyType } from '../model/settings.js';
import { builtinProfileNames } from '../store/profiles.js';
import { BENCHMARKS } from '../verify/benchmarks.js';

/**
 * One command-line flag. A name means one thing per command; where two commands give the same
 * name different meanings or defaults (`--validity` of a leaf or of a CA), those are two flags.
 */
export interface Flag<T> {
  /** As typed, without the dashes. */
  name: string;
  /** The value's placeholder in help (`--cert-dir <dir>`); none for a switch. */
  value?: string;
  help: string;
  /** What is used when the flag is absent, as help shows it: from DEFAULTS, or the rule that picks it. */
  default?: string;
  /** cac's value (a string, a number, an array when repeated, a boolean) → the typed value; refuses bad input. */
  parse: (given: unknown, flag: string) => T;
}

/** A relative default directory as a user would type it: `./pki`. */
const shownDir = (dir: string) => (path.isAbsolute(dir) ? dir : `./${dir}`);

/** The value of a flag that takes one. */
function single(given: unknown, flag: string): string | undefined {
  if (given === undefined) return undefined;
  if (Array.isArray(given))
    throw badFlag(flag, `is given ${given.length} times (${given.map((v) => `"${v}"`).join(', ')})`, 'give it once');
  return String(given);
}

/** The values of a repeatable flag, as given. */
const repeated = (given: unknown): string[] | undefined =>
  given === undefined ? undefined : (Array.isArray(given) ? given : [given]).map(String);

type Described = Pick<Flag<unknown>, 'name' | 'value' | 'help' | 'default'>;

const text = (flag: Described): Flag<string | undefined> => ({ ...flag, parse: single });

/** A flag whose default the CLI applies itself (no library option behind it has one): the one help shows. */
const textWithDefault = (flag: Described & { default: string }): Flag<string> => ({
  ...flag,
  parse: (given, name) => single(given, name) ?? flag.default,
});

/** Repeatable, each value as given (file names may hold commas). */
const list = (flag: Described): Flag<string[] | undefined> => ({ ...flag, parse: repeated });

/** Repeatable or comma-separated: `--org a,b --org c` → [a, b, c]. */
const items = (flag: Described): Flag<string[]> => ({ ...flag, parse: (given) => listValue(repeated(given)) });

/** Repeatable or comma-separated, passed on as one comma-separated text (`NAME=IP,…`). */
const joined = (flag: Described): Flag<string | undefined> => ({ ...flag, parse: (given) => repeated(given)?.join(',') });

const toggle = (name: string, help: string): Flag<boolean> => ({ name, help, parse: (given) => Boolean(given) });

/** A duration such as 8760h, 30d or 1y, checked here and passed on as typed. */
const duration = (flag: Described): Flag<string | undefined> => ({
  ...flag,
  parse: (given, name) => {
    const value = single(given, name);
    if (value !== undefined && parseDuration(value) === undefined)
      throw badFlag(
        name,
        `"${value}" is not a positive duration`,
        'use numbers with units (s, m, h, d, w, y), e.g. 5s, 30d, 8760h or 1h30m',
      );
    return value;
  },
});

/** One of `choices`; undefined when absent (the command then picks, as `default` says). */
function optionalChoice<T extends string>(flag: Described, choices: readonly T[]): Flag<T | undefined> {
  return {
    ...flag,
    help: `${flag.help}: ${choices.join(', ')}`,
    parse: (given, name) => {
      const value = single(given, name);
      if (value !== undefined && !(choices as readonly string[]).includes(value))
        throw badFlag(name, `"${value}" is not one of ${choices.join(', ')}`);
      return value as T | undefined;
    },
  };
}

function choice<T extends string>(flag: Described & { default: T }, choices: readonly T[]): Flag<T> {
  const optional = optionalChoice(flag, choices);
  return { ...optional, parse: (given, name) => optional.parse(given ?? flag.default, name)! };
}

const keyType = (flag: Described): Flag<KeyType | undefined> => ({
  ...flag,
  help: `${flag.help}: ${KEY_TYPES.join(', ')}`,
  parse: (given, name) => {
    const value = single(given, name);
    return value === undefined ? undefined : parseKeyType(value, name);
  },
});

const NODE_ROLES = ROLES.filter((r): r is NodeRole => r !== 'shared');
const PROFILES = `Certificate profile: ${builtinProfileNames().join(', ')}, or a profile file`;
const SAME_FORMS = '(static pod manifest, flags file, BOSH YAML, or - for stdin)';

/** Every flag of every command, each declared once. Commands name theirs by key. */
export const FLAGS = {
  // Where things are.
  certDir: text({
    name: 'cert-dir',
    value: 'dir',
    help: 'PKI directory: the CAs, certificates and keys (for a cluster kpki made, its shared directory)',
    default: shownDir(DEFAULTS.certDir),
  }),
  nodeCertDir: text({
    name: 'cert-dir',
    value: 'dir',
    help: 'PKI directory',
    default: `${DEFAULTS.nodeCertDir} if present, else ${shownDir(DEFAULTS.certDir)}`,
  }),
  componentCertDir: textWithDefault({
    name: 'cert-dir',
    value: 'dir',
    help: 'PKI directory, as the components will find it',
    default: DEFAULTS.nodeCertDir,
  }),
  kubeconfigDir: text({
    name: 'kubeconfig-dir',
    value: 'dir',
    help: 'Directory of admin.conf and the other kubeconfigs',
    default: "the cert dir's parent",
  }),
  clusterKubeconfigDir: text({
    name: 'kubeconfig-dir',
    value: 'dir',
    help: 'Directory of admin.conf and the other kubeconfigs, and of kpki-cluster.json for a cluster',
    default: "the cert dir's parent",
  }),
  clusterDir: text({ name: 'kubeconfig-dir', value: 'dir', help: 'Where kpki init wrote kpki-cluster.json', default: DEFAULTS.clusterDir }),
  nodesDir: text({
    name: 'nodes-dir',
    value: 'dir',
    help: 'Whole cluster: where node directories go',
    default: `<kubeconfig dir>/${DEFAULTS.nodesDirName}`,
  }),
  recordedNodesDir: text({ name: 'nodes-dir', value: 'dir', help: "A cluster's node directories", default: 'from kpki-cluster.json' }),
  profile: text({ name: 'profile', value: 'name|file', help: PROFILES, default: DEFAULTS.profile }),
  clusterProfile: text({ name: 'profile', value: 'name|file', help: PROFILES, default: `the cluster's, else ${DEFAULTS.profile}` }),
  config: text({
    name: 'config',
    value: 'file',
    help: 'Read settings, and certificatesDir unless --cert-dir is given, from a kubeadm ClusterConfiguration/InitConfiguration (v1beta2-v1beta4)',
  }),

  // Cluster settings (init).
  nodeName: text({
    name: 'node-name',
    value: 'name',
    help: 'Node name: etcd certificate CN and SANs, kubelet identity',
    default: 'hostname',
  }),
  advertiseAddress: text({
    name: 'advertise-address',
    value: 'ip',
    help: "The apiserver's address on this node",
    default: 'the primary address',
  }),
  controlPlaneEndpoint: text({
    name: 'control-plane-endpoint',
    value: 'host[:port]',
    help: 'HA load-balancer VIP or DNS name: apiserver SAN and kubeconfig server',
  }),
  apiserverBindPort: text({
    name: 'apiserver-bind-port',
    value: 'port',
    help: 'Port the apiserver listens on',
    default: String(DEFAULTS.bindPort),
  }),
  serviceCidr: joined({
    name: 'service-cidr',
    value: 'cidr',
    help: 'Service CIDR(s), comma-separated for dual-stack',
    default: DEFAULTS.serviceCidr,
  }),
  dnsDomain: text({ name: 'dns-domain', value: 'domain', help: 'Cluster DNS domain', default: DEFAULTS.dnsDomain }),
  clusterName: text({ name: 'cluster-name', value: 'name', help: 'Cluster name in kubeconfigs', default: DEFAULTS.clusterName }),
  apiserverCertExtraSans: list({
    name: 'apiserver-cert-extra-sans',
    value: 'sans',
    help: 'Extra apiserver SANs, comma-separated or repeated',
  }),
  etcdServerCertExtraSans: list({ name: 'etcd-server-cert-extra-sans', value: 'sans', help: 'Extra etcd server SANs' }),
  etcdPeerCertExtraSans: list({ name: 'etcd-peer-cert-extra-sans', value: 'sans', help: 'Extra etcd peer SANs' }),
  keyType: keyType({ name: 'key-type', value: 'type', help: 'Key algorithm', default: DEFAULTS.keyType }),
  certValidity: duration({
    name: 'cert-validity',
    value: 'duration',
    help: 'Leaf validity, e.g. 8760h, 365d, 1y',
    default: DEFAULTS.certValidity,
  }),
  caValidity: duration({ name: 'ca-validity', value: 'duration', help: 'CA validity', default: DEFAULTS.caValidity }),
  renewEntries: items({ name: 'renew', value: 'names', help: 'Reissue these entries, comma-separated (e.g. apiserver,admin.conf)' }),
  controlPlaneNodes: joined({
    name: 'control-plane-nodes',
    value: 'list',
    help: 'Whole cluster: control-plane nodes as NAME=IP,… (one directory per node)',
  }),
  workers: joined({ name: 'workers', value: 'list', help: 'Whole cluster: worker nodes as NAME=IP,…' }),
  etcdMembers: joined({
    name: 'etcd-members',
    value: 'list',
    help: 'Whole cluster: external etcd members as NAME=IP,…',
    default: 'etcd stacked on the control planes',
  }),
  kubeletServingCerts: toggle('kubelet-serving-certs', 'Whole cluster: kubelet serving certificates signed by the cluster CA'),
  componentServingCerts: toggle(
    'component-serving-certs',
    'Serving certificates signed by the cluster CA for kube-controller-manager (:10257) and kube-scheduler (:10259), instead of the self-signed ones they make up in memory; a cluster remembers it',
  ),
  flagsComponentServingCerts: toggle(
    'component-serving-certs',
    'Also the --tls-cert-file/--tls-private-key-file of the component serving certificates (printed anyway when the cert dir holds them)',
  ),

  // Nodes.
  address: text({ name: 'address', value: 'ip', help: "The node's IP address; IPv4,IPv6 for a dual-stack node" }),
  role: choice<NodeRole>({ name: 'role', value: 'role', help: "The node's role", default: DEFAULTS.nodeRole }, NODE_ROLES),

  // What to do.
  dryRun: toggle('dry-run', 'Print what would be written (and, for day-2 changes, what to restart); write nothing'),
  reissueStale: toggle('force', 'Reissue the leaf certificates and kubeconfigs that no longer match the settings'),
  overwrite: toggle('force', 'Replace existing output files'),
  json: toggle('json', 'Print the result as JSON on stdout'),

  // verify, flags, check-expiration.
  apiserverArgs: text({ name: 'apiserver-args', value: 'source', help: `kube-apiserver flags ${SAME_FORMS}` }),
  etcdArgs: text({ name: 'etcd-args', value: 'source', help: `etcd flags ${SAME_FORMS}` }),
  controllerManagerArgs: text({ name: 'controller-manager-args', value: 'source', help: `kube-controller-manager flags ${SAME_FORMS}` }),
  schedulerArgs: text({ name: 'scheduler-args', value: 'source', help: `kube-scheduler flags ${SAME_FORMS}` }),
  kubeletConfig: text({ name: 'kubelet-config', value: 'file', help: 'KubeletConfiguration YAML or kubelet flags' }),
  checkedKubeconfig: list({ name: 'kubeconfig', value: 'file', help: 'A kubeconfig to check (repeatable)' }),
  kubeconfigContext: text({
    name: 'context',
    value: 'name',
    help: 'With only --kubeconfig: check this context of it',
    default: 'every context',
  }),
  manifestsDir: text({ name: 'manifests-dir', value: 'dir', help: 'Read every static pod manifest in this directory' }),
  root: text({
    name: 'root',
    value: 'dir',
    help: 'A copy of a node filesystem: manifests, PKI, kubeconfigs and /var/lib/kubelet/config.yaml are read inside it, absolute paths and symlinks included',
  }),
  checkedApiservice: list({
    name: 'apiservice',
    value: 'file|dir',
    help: 'APIService manifests of extension apiservers: check caBundle against --serving-cert (repeatable)',
  }),
  servingCert: list({ name: 'serving-cert', value: 'file|dir', help: "The extension apiservers' serving certificates (repeatable)" }),
  nodeAddress: list({
    name: 'node-address',
    value: '[type=]address',
    help: "The node's address the apiserver dials the kubelet at, e.g. InternalIP=10.0.0.21 (repeatable)",
  }),
  warnWithin: duration({
    name: 'warn-within',
    value: 'duration',
    help: 'Warn about certificates expiring sooner',
    default: DEFAULTS.warnWithin,
  }),
  failWithin: duration({
    name: 'warn-within',
    value: 'duration',
    help: 'Exit 1 when anything expires sooner, e.g. 30d (for cron and monitoring)',
  }),
  live: toggle(
    'live',
    'Also dial the running components the files name (read-only): served chains, stale serving certs, client certs, APIServices',
  ),
  liveTimeout: duration({
    name: 'live-timeout',
    value: 'duration',
    help: 'Bound on each --live connection',
    default: DEFAULTS.liveTimeout,
  }),
  benchmark: optionalChoice(
    {
      name: 'benchmark',
      value: 'name',
      help: 'Compliance benchmark whose recommendation each finding names',
      default: "the one for the apiserver's version (its manifest's image), else the newest",
    },
    BENCHMARKS,
  ),

  // Issuing (kubeconfig, cert).
  clientName: text({ name: 'client-name', value: 'name', help: 'User name (certificate CN), for kind user' }),
  org: items({ name: 'org', value: 'group', help: "Subject organization (a kubeconfig's group); repeatable or comma-separated" }),
  kubeletNodeName: text({ name: 'node-name', value: 'name', help: 'Node name, for kinds node and kubelet' }),
  server: text({ name: 'server', value: 'url', help: 'Apiserver URL', default: "the rewritten file's, else admin.conf's" }),
  kubeconfigClusterName: text({
    name: 'cluster-name',
    value: 'name',
    help: 'Cluster entry name',
    default: `admin.conf's, else ${DEFAULTS.clusterName}`,
  }),
  contextName: text({ name: 'context-name', value: 'name', help: 'Context name', default: '<user>@<cluster>' }),
  userName: text({ name: 'user-name', value: 'name', help: 'User entry name', default: 'the client name, i.e. the certificate CN' }),
  leafValidity: duration({
    name: 'validity',
    value: 'duration',
    help: 'Certificate lifetime, e.g. 24h, 30d, 1y; never past the CA',
    default: DEFAULTS.certValidity,
  }),
  leafKeyType: keyType({ name: 'key-type', value: 'type', help: 'Key algorithm', default: "the CA's" }),
  caCert: text({ name: 'ca-cert', value: 'file', help: "Sign with this CA certificate instead of the cert dir's" }),
  caKey: text({ name: 'ca-key', value: 'file', help: 'Key of the CA certificate file given, when not beside it' }),
  kubeconfigOut: text({
    name: 'out',
    value: 'file',
    help: 'Write the kubeconfig here (0600) instead of stdout; with --csr-only, the key/CSR file prefix',
  }),
  // cac reads --no-embed as embed: false.
  noEmbed: {
    ...toggle('no-embed', 'Write the certificate and key next to --out and reference them by path'),
    parse: (given: unknown) => given === false,
  },
  csrOnly: toggle('csr-only', 'Write a private key and a CSR for an external signer, no kubeconfig'),
  mergeInto: text({
    name: 'merge-into',
    value: 'file',
    help: 'Merge the new cluster, user and context into this kubeconfig, as kubectl does: existing entries are never rewritten, a same-named one with other contents is refused (exit 1)',
  }),
  allowSystemMasters: toggle('allow-system-masters', 'Allow --org system:masters (bypasses RBAC; cannot be revoked)'),
  viaApi: toggle(
    'via-api',
    "Have the cluster sign (certificates.k8s.io CSR, key kept here), for kinds user and node; needs --kubeconfig; the lifetime is the signer's unless --validity is given",
  ),
  csrKubeconfig: text({
    name: 'kubeconfig',
    value: 'file',
    help: 'With --via-api: the kubeconfig that creates the CSR; its cluster CA goes into the result',
  }),
  approveCsr: toggle('approve', 'With --via-api: approve the CSR too (needs approve permission for the signer)'),
  csrTimeout: duration({
    name: 'timeout',
    value: 'duration',
    help: 'With --via-api: wait this long for approval and issuance',
    default: DEFAULTS.csrTimeout,
  }),
  leafRole: text({ name: 'profile', value: 'role', help: `For issue: ${Object.keys(LEAF_ROLES).join(', ')}` }),
  cn: text({ name: 'cn', value: 'name', help: 'For issue: subject common name' }),
  san: items({ name: 'san', value: 'name', help: 'For issue: DNS name or IP (repeatable or comma-separated)' }),
  signingCa: text({
    name: 'ca',
    value: 'ca',
    help: 'For issue: cluster, front-proxy, etcd, or a CA certificate file with its .key beside it; for extension-apiserver: new or cluster',
    default: `${DEFAULTS.issueCa} for issue, ${DEFAULTS.extensionApiserverCa} for extension-apiserver`,
  }),
  service: text({ name: 'service', value: 'name', help: 'For extension-apiserver: the Service in front of it' }),
  namespace: text({ name: 'namespace', value: 'ns', help: 'For extension-apiserver: its namespace' }),
  apiGroup: text({ name: 'api-group', value: 'group', help: 'For extension-apiserver: the APIService group', default: DEFAULTS.apiGroup }),
  apiVersion: text({
    name: 'api-version',
    value: 'version',
    help: 'For extension-apiserver: the APIService version',
    default: DEFAULTS.apiVersion,
  }),
  certOut: text({ name: 'out', value: 'prefix', help: 'Write PREFIX.crt and PREFIX.key (and the CA and APIService files)' }),

  // approve.
  approverKubeconfig: text({
    name: 'kubeconfig',
    value: 'file',
    help: 'Kubeconfig allowed to list CSRs, read Nodes and approve kubelet-serving (e.g. admin.conf)',
  }),
  watch: toggle('watch', 'Keep approving new requests until interrupted'),
  decideOnly: toggle('dry-run', 'Print the decisions, approve nothing'),

  // Day 2 (renew, ca).
  keptKubeconfig: list({
    name: 'kubeconfig',
    value: 'file',
    help: 'A user kubeconfig kpki made to keep in step too: CA data and client certificate (repeatable)',
  }),
  all: toggle('all', 'Renew every leaf certificate and kubeconfig'),
  addSan: list({
    name: 'add-san',
    value: 'sans',
    help: 'Add SANs to the apiserver certificates (or to etcd-server/etcd-peer when named); remembered for later runs',
  }),
  keepKey: toggle(
    'keep-key',
    'Refuse unless every existing key can be signed again (by default a matching key is kept, a missing or mismatched one replaced)',
  ),
  newKey: toggle('new-key', 'Generate new keys instead of signing the existing ones again (both files of each pair change)'),
  renewValidity: duration({
    name: 'validity',
    value: 'duration',
    help: "New certificates' lifetime; never past the CA",
    default: `the cluster's, else ${DEFAULTS.certValidity}`,
  }),
  renewCsrOnly: toggle('csr-only', 'For leaves an external CA signed: write a new key and a CSR for each instead of refusing'),
  csrDir: text({ name: 'csr-dir', value: 'dir', help: 'Where --csr-only writes', default: `<kubeconfig dir>/${DEFAULTS.csrDirName}` }),
  caLifetime: duration({
    name: 'validity',
    value: 'duration',
    help: 'Lifetime of the renewed or new CA certificates',
    default: DEFAULTS.caValidity,
  }),
  caApiservice: list({
    name: 'apiservice',
    value: 'file',
    help: 'APIService manifest whose caBundle holds the CA (repeatable; kpki cert extension-apiserver --ca cluster)',
  }),
  rotatedCas: {
    ...text({
      name: 'ca',
      value: 'list',
      help: 'For rotate begin: CAs to rotate, comma-separated: cluster, front-proxy, etcd',
      default: 'all; none with --service-account',
    }),
    parse: (given: unknown) => (given === undefined ? undefined : listValue(repeated(given))),
  },
  serviceAccount: toggle('service-account', 'For rotate begin: rotate the service-account signing key too'),
  rotationKeyType: keyType({
    name: 'key-type',
    value: 'type',
    help: 'For rotate begin: the key algorithm of the new CAs and service-account key, and of every key reissue makes',
    default: "each old key's",
  }),
  purge: toggle('purge', 'For rotate finish: delete the old keys instead of archiving them'),
  shortenCa: toggle(
    'force',
    'For ca renew: accept a --validity that ends before the CA does now or before a leaf it signed (they stop verifying then)',
  ),
  adminKubeconfig: text({
    name: 'admin-kubeconfig',
    value: 'file',
    help: 'For rotate: the kubeconfig the live gates read the cluster with (read-only, apart from one throw-away CSR)',
    default: "the layout's admin.conf, then super-admin.conf",
  }),
  offline: toggle('offline', 'For rotate: skip the live gates (air-gapped node directories); the output says that nothing was checked'),
  gateEtcdServers: items({
    name: 'etcd-servers',
    value: 'urls',
    help: 'For rotate: where the live gates dial etcd, comma-separated',
    default: 'every member kpki-cluster.json names, at :2379',
  }),
  rotationLive: toggle('live', "For rotate status: also run the next step's live gates (read-only)"),
  recoverRotation: toggle(
    'recover',
    'For rotate abort/finish: end an overlap the trust files show when kpki-rotation.json is gone (ca rotate status names the step)',
  ),

  // signer.
  signerKubeconfig: text({
    name: 'kubeconfig',
    value: 'file',
    help: 'Kubeconfig allowed to list CSRs and update their status (e.g. admin.conf)',
  }),
  signerNames: items({
    name: 'signer',
    value: 'names',
    help: 'Signers to serve, comma-separated or repeated',
    default: 'kubernetes.io/kube-apiserver-client, kube-apiserver-client-kubelet and kubelet-serving',
  }),
  signingDuration: duration({
    name: 'duration',
    value: 'duration',
    help: "Issued certificates' lifetime, as kube-controller-manager's --cluster-signing-duration (a CSR's expirationSeconds may shorten it)",
    default: DEFAULTS.certValidity,
  }),
  watchSigning: toggle('watch', 'Keep signing new approved requests until interrupted'),

  // CA keys in a PKCS#11 token.
  caKeyUri: list({
    name: 'ca-key-uri',
    value: 'name=uri',
    help: "Keep a CA's key in a PKCS#11 token (RFC 7512 URI), e.g. ca=pkcs11:token=k8s;object=cluster-ca; NAME: ca, front-proxy-ca, etcd-ca; repeatable; remembered in kpki-pkcs11.json",
  }),
  pkcs11Module: text({
    name: 'pkcs11-module',
    value: 'file',
    help: 'The PKCS#11 module (.so) of the token',
    default: "the remembered one, else SoftHSM's, else OpenSC's",
  }),
  pinFile: text({
    name: 'pin-file',
    value: 'file',
    help: 'Read the token user PIN from this file (mode 0600)',
    default: 'KPKI_PKCS11_PIN, else a prompt on a terminal',
  }),
} satisfies Record<string, Flag<unknown>>;

export type FlagId = keyof typeof FLAGS;

/** The typed values of a command's flags, by key. */
export type FlagValues<I extends FlagId> = { [K in I]: ReturnType<(typeof FLAGS)[K]['parse']> };

/** `--cert-dir <dir>`, as cac declares and help prints it. */
export const optionSyntax = (flag: Flag<unknown>): string => `--${flag.name}${flag.value ? ` <${flag.value}>` : ''}`;

export const helpLine = (flag: Flag<unknown>): string =>
  flag.default === undefined ? flag.help : `${flag.help} (default: ${flag.default})`;

/** Where cac puts a flag's value: camel-cased where a letter precedes the dash (`--pkcs11-module` stays), `--no-embed` under `embed`. */
export const cacKey = (name: string): string =>
  name.replace(/^no-/, '').replace(/([a-z])-([a-z])/g, (_, a: string, c: string) => a + c.toUpperCase());

/** cac's parsed options → the typed values of the flags a command takes. */
export function parseFlags<I extends FlagId>(ids: readonly I[], given: Record<string, unknown>): FlagValues<I> {
  const values: Partial<Record<I, unknown>> = {};
  for (const id of ids) {
    const flag: Flag<unknown> = FLAGS[id];
    values[id] = flag.parse(given[cacKey(flag.name)], `--${flag.name}`);
  }
  return values as FlagValues<I>;
}

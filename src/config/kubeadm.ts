import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { badInput } from '../errors.js';
import type { SettingOrigins, SettingsInput } from '../model/settings.js';
import { isBinaryText } from '../model/text.js';
import { readRequired } from '../store/files.js';

/** What kpki takes from a kubeadm config file. Flags given to kpki override `settings`. */
export interface KubeadmConfig {
  settings: SettingsInput;
  /** The field each setting was read from, so that an invalid value is reported there, not as a flag. */
  origins: SettingOrigins;
  /** ClusterConfiguration.certificatesDir, when set. */
  certificatesDir?: string;
  /** What kpki does not apply, or what kubeadm reads differently than it looks; each starts with the file name. */
  warnings: string[];
}

const GROUP = 'kubeadm.k8s.io';
/** Oldest first: a field's `since` is compared by position. */
const VERSIONS = ['v1beta2', 'v1beta3', 'v1beta4'] as const;
type Version = (typeof VERSIONS)[number];

/** The kinds kpki reads. */
const KINDS = ['ClusterConfiguration', 'InitConfiguration', 'JoinConfiguration'] as const;
type Kind = (typeof KINDS)[number];
/** kubeadm kinds with nothing about certificates: skipped quietly. Any other kind in the group is likely a typo. */
const OTHER_KINDS = ['ClusterStatus', 'ResetConfiguration', 'UpgradeConfiguration'];

/** v1beta4 encryptionAlgorithm → kpki key type. kubeadm matches these case-sensitively. */
const KEY_TYPE_BY_ALGORITHM: Record<string, string> = {
  'RSA-2048': 'rsa-2048',
  'RSA-3072': 'rsa-3072',
  'RSA-4096': 'rsa-4096',
  'ECDSA-P256': 'ecdsa-p256',
  'ECDSA-P384': 'ecdsa-p384',
};

type Path = (string | number)[];
type Mapping = Record<string, unknown>;
type SettingValue = string | number | string[];

const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);
const showPath = (path: Path): string => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/** One kubeadm document: typed reads that name `file: path` and the line in every error. */
class KubeadmDocument {
  constructor(
    readonly file: string,
    readonly kind: Kind,
    readonly version: Version,
    private readonly doc: Document,
    private readonly value: Mapping,
    private readonly lines: LineCounter,
    private readonly warnings: Set<string>,
  ) {}

  /** The node to point at: a field's key rather than its value, since a block mapping's value starts a line later. */
  private nodeAt(path: Path): unknown {
    if (!path.length) return this.doc.contents;
    const parent = this.doc.getIn(path.slice(0, -1), true) as unknown;
    const last = path.at(-1);
    if (isMap(parent)) return parent.items.find((pair) => isScalar(pair.key) && pair.key.value === last)?.key;
    if (isSeq(parent)) return parent.items[last as number];
    return undefined;
  }

  private where(path: Path): string {
    // Values reached through a `<<` merge key have no node at this path: then only the kind is given.
    const offset = (this.nodeAt(path) as { range?: [number, number, number] } | undefined)?.range?.[0];
    return offset === undefined ? this.kind : `${this.kind}, line ${this.lines.linePos(offset).line}`;
  }

  fail(path: Path, problem: string): never {
    throw badInput(this.file, `${showPath(path) || this.kind}: ${problem} (${this.where(path)})`);
  }

  /** `file: path (Kind, line N)`: where a value came from, for errors found later. */
  origin(path: Path): string {
    return `${this.file}: ${showPath(path) || this.kind} (${this.where(path)})`;
  }

  warn(path: Path, message: string): void {
    this.warnings.add(`${this.file}: ${showPath(path) || this.kind}: ${message} (${this.where(path)})`);
  }

  /** The value at `path`, or undefined when it or a parent is unset (null counts as unset, as in kubeadm). */
  get(path: Path): unknown {
    let node: unknown = this.value;
    for (const [i, key] of path.entries()) {
      if (node === undefined || node === null) return undefined;
      const parent = path.slice(0, i);
      if (!isMapping(node)) this.fail(parent, `must be a mapping, not ${describe(node)}`);
      if (!Object.hasOwn(node, key)) {
        this.noteMiscased(parent, node, String(key));
        return undefined;
      }
      node = node[key];
    }
    return node ?? undefined;
  }

  /** kubeadm decodes field names case-sensitively and drops unknown ones, so `certSans` silently loses SANs. */
  private noteMiscased(parent: Path, node: Mapping, key: string): void {
    const near = Object.keys(node).find((k) => k.toLowerCase() === key.toLowerCase());
    if (near) this.warn([...parent, near], `is not a kubeadm field (names are case-sensitive: ${key}); kubeadm and kpki ignore it`);
  }
}

/** Checks one field's type and converts it; undefined means "unset", as kubeadm treats zero values. */
type Reader = (doc: KubeadmDocument, path: Path, value: unknown) => SettingValue | undefined;

function readField(doc: KubeadmDocument, path: Path, read: Reader): SettingValue | undefined {
  const value = doc.get(path);
  return value === undefined ? undefined : read(doc, path, value);
}

function text(doc: KubeadmDocument, path: Path, value: unknown): string | undefined {
  if (typeof value !== 'string') doc.fail(path, `must be a string, not ${describe(value)}`);
  return value === '' ? undefined : value;
}

function port(doc: KubeadmDocument, path: Path, value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) doc.fail(path, `must be a whole number, not ${describe(value)}`);
  if (value < 0 || value > 65535) doc.fail(path, `${value} is not a port number (1-65535)`);
  // kubeadm defaults a zero port to 6443, exactly like an absent one.
  return value === 0 ? undefined : value;
}

function textList(doc: KubeadmDocument, path: Path, value: unknown): string[] | undefined {
  if (!Array.isArray(value)) doc.fail(path, `must be a list of strings, not ${describe(value)}`);
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string') doc.fail([...path, i], `must be a string, not ${describe(item)}`);
  });
  return value.length ? (value as string[]) : undefined;
}

function algorithm(doc: KubeadmDocument, path: Path, value: unknown): string | undefined {
  const name = text(doc, path, value);
  if (name === undefined) return undefined;
  const keyType = KEY_TYPE_BY_ALGORITHM[name];
  if (!keyType) doc.fail(path, `"${name}" is not one of ${Object.keys(KEY_TYPE_BY_ALGORITHM).join(', ')}`);
  return keyType;
}

const GO_UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const GO_DURATION = /^[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
/** Go's time.Duration is int64 nanoseconds: kubeadm rejects anything longer (about 292 years). */
const GO_MAX_SECONDS = 9_223_372_036;

/** A Go duration (metav1.Duration: `8760h0m0s`, `1.5h`, `90m`) as `<N>s`, which kpki's parseDuration reads. */
function goDuration(doc: KubeadmDocument, path: Path, value: unknown): string | undefined {
  const duration = text(doc, path, value);
  if (duration === undefined) return undefined;
  if (!GO_DURATION.test(duration)) doc.fail(path, `"${duration}" is not a Go duration such as 8760h0m0s`);
  const sign = duration.startsWith('-') ? -1 : 1;
  const total = [...duration.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)].reduce(
    (sum, [, amount, unit]) => sum + Number(amount) * GO_UNIT_SECONDS[unit!]!,
    0,
  );
  // Certificates count whole seconds (kubeadm's NotAfter is truncated); the epsilon absorbs float error in e.g. 0.3h.
  const seconds = sign * Math.floor(total + 1e-6);
  if (seconds < 1) doc.fail(path, `"${duration}" must be at least 1s`);
  if (seconds > GO_MAX_SECONDS) doc.fail(path, `"${duration}" is longer than a Go duration can be (about 292 years)`);
  return `${seconds}s`;
}

/** A kubeadm field that maps to one kpki setting. */
interface FieldRule {
  path: string;
  setting: keyof SettingsInput;
  read: Reader;
  /** First version with the field: kubeadm drops it as unknown in older ones, and so does kpki (with a warning). */
  since?: Version;
}

const CLUSTER_FIELDS: FieldRule[] = [
  { path: 'clusterName', setting: 'clusterName', read: text },
  { path: 'controlPlaneEndpoint', setting: 'controlPlaneEndpoint', read: text },
  // Dual-stack is a comma-separated pair here, as kubeadm takes it; resolveSettings splits it.
  { path: 'networking.serviceSubnet', setting: 'serviceCidr', read: text },
  { path: 'networking.dnsDomain', setting: 'dnsDomain', read: text },
  { path: 'apiServer.certSANs', setting: 'apiserverCertExtraSans', read: textList },
  { path: 'etcd.local.serverCertSANs', setting: 'etcdServerCertExtraSans', read: textList },
  { path: 'etcd.local.peerCertSANs', setting: 'etcdPeerCertExtraSans', read: textList },
  { path: 'encryptionAlgorithm', setting: 'keyType', read: algorithm, since: 'v1beta4' },
  { path: 'certificateValidityPeriod', setting: 'certValidity', read: goDuration, since: 'v1beta4' },
  { path: 'caCertificateValidityPeriod', setting: 'caValidity', read: goDuration, since: 'v1beta4' },
];

/** InitConfiguration and a control-plane JoinConfiguration say the same about this node, at different paths. */
const nodeFields = (endpoint: string): FieldRule[] => [
  { path: `${endpoint}.advertiseAddress`, setting: 'advertiseAddress', read: text },
  { path: `${endpoint}.bindPort`, setting: 'bindPort', read: port },
  { path: 'nodeRegistration.name', setting: 'nodeName', read: text },
];
const INIT_FIELDS = nodeFields('localAPIEndpoint');
const JOIN_FIELDS = nodeFields('controlPlane.localAPIEndpoint');

function applyFields(doc: KubeadmDocument, rules: FieldRule[], out: KubeadmConfig): void {
  for (const rule of rules) {
    const path = rule.path.split('.');
    if (rule.since && VERSIONS.indexOf(doc.version) < VERSIONS.indexOf(rule.since)) {
      if (doc.get(path) !== undefined) {
        doc.warn(
          path,
          `is a ${rule.since} field: kubeadm ignores it in ${doc.version}, and so does kpki (use apiVersion ${GROUP}/${rule.since})`,
        );
      }
      continue;
    }
    const result = readField(doc, path, rule.read);
    if (result !== undefined) {
      Object.assign(out.settings, { [rule.setting]: result });
      out.origins[rule.setting] = doc.origin(path);
    }
  }
}

function applyCluster(cluster: KubeadmDocument, out: KubeadmConfig): void {
  const { settings } = out;
  applyFields(cluster, CLUSTER_FIELDS, out);
  const certificatesDir = readField(cluster, ['certificatesDir'], text) as string | undefined;
  if (certificatesDir !== undefined) out.certificatesDir = certificatesDir;

  // kubeadm lets the gate, when set at all, win over encryptionAlgorithm: true → ECDSA P-256, false → RSA-2048.
  const gatePath = ['featureGates', 'PublicKeysECDSA'];
  const ecdsa = cluster.get(gatePath);
  if (ecdsa !== undefined) {
    if (typeof ecdsa !== 'boolean') cluster.fail(gatePath, `must be true or false, not ${describe(ecdsa)}`);
    const keyType = ecdsa ? 'ecdsa-p256' : 'rsa-2048';
    if (settings.keyType !== undefined && settings.keyType !== keyType) {
      cluster.warn(gatePath, `overrides encryptionAlgorithm, as in kubeadm: keys will be ${keyType}`);
    }
    settings.keyType = keyType;
    out.origins.keyType = cluster.origin(gatePath);
  }

  const externalPath = ['etcd', 'external'];
  const external = cluster.get(externalPath);
  if (external !== undefined) {
    if (!isMapping(external)) cluster.fail(externalPath, `must be a mapping, not ${describe(external)}`);
    if (cluster.get(['etcd', 'local']) !== undefined) cluster.fail(['etcd'], 'local and external are mutually exclusive');
    settings.localEtcd = false;
    const files = ['caFile', 'certFile', 'keyFile'].filter((key) => readField(cluster, [...externalPath, key], text) !== undefined);
    cluster.warn(
      externalPath,
      'kpki writes no etcd CA, etcd certificates or apiserver-etcd-client certificate; ' +
        (files.length
          ? `kube-apiserver uses your ${files.join(', ')} instead`
          : 'give kube-apiserver the external etcd client files yourself'),
    );
  }
}

function yamlDocuments(text: string, file: string): { docs: Document.Parsed[]; lines: LineCounter } {
  const lines = new LineCounter();
  // prettyErrors off: the message stays one line and we add the line number ourselves.
  // merge: `<<` keys work in kubeadm (go-yaml), so they work here too.
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, merge: true });
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) throw badInput(file, `not valid YAML at line ${lines.linePos(error.pos[0]).line}: ${error.message}`);
  }
  return { docs, lines };
}

/** Parses kubeadm's multi-document config (ClusterConfiguration, InitConfiguration, JoinConfiguration, v1beta2-v1beta4). */
export function parseKubeadmConfig(text: string, file: string): KubeadmConfig {
  if (isBinaryText(text)) throw badInput(file, 'is binary data, not YAML', 'give a kubeadm ClusterConfiguration/InitConfiguration file');
  const { docs, lines } = yamlDocuments(text, file);
  const warnings = new Set<string>();
  const found = new Map<Kind, KubeadmDocument>();

  for (const doc of docs) {
    if (doc.contents === null) continue; // empty document, e.g. after a trailing ---
    const line = lines.linePos(doc.contents.range[0]).line;
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (error) {
      // Alias bombs and the like: the yaml library refuses them with a plain Error.
      throw badInput(file, `document at line ${line} cannot be read: ${(error as Error).message}`);
    }
    if (value === null) continue; // `---` followed by nothing (or only comments)
    if (!isMapping(value))
      throw badInput(file, `document at line ${line} must be a mapping with apiVersion and kind, not ${describe(value)}`);
    // kubeadm requires both on every document, its own or not.
    const missing = ['apiVersion', 'kind'].find((key) => typeof value[key] !== 'string' || value[key] === '');
    if (missing) throw badInput(file, `document at line ${line} has no ${missing}`);
    const { apiVersion, kind } = value as { apiVersion: string; kind: string };
    const [group, version, ...rest] = apiVersion.split('/');
    if (group !== GROUP) continue; // KubeletConfiguration, KubeProxyConfiguration: not about certificates
    if (!VERSIONS.includes(version as Version) || rest.length) {
      throw badInput(
        file,
        `${kind} at line ${line} has apiVersion ${apiVersion}; kpki reads ${VERSIONS.map((v) => `${GROUP}/${v}`).join(', ')}`,
        'rewrite it in one of those versions (kubeadm config migrate converts the versions the installed kubeadm reads)',
      );
    }
    if (!(KINDS as readonly string[]).includes(kind)) {
      // kubeadm init also only warns about kinds it does not know.
      if (!OTHER_KINDS.includes(kind)) warnings.add(`${file}: ${kind} at line ${line} is not a kubeadm kind: ignored`);
      continue;
    }
    if (found.has(kind as Kind))
      throw badInput(file, `${kind} appears twice (second at line ${line})`, 'kubeadm rejects this too: keep one');
    found.set(kind as Kind, new KubeadmDocument(file, kind as Kind, version as Version, doc, value, lines, warnings));
  }

  const out: KubeadmConfig = { settings: {}, origins: {}, warnings: [] };
  const cluster = found.get('ClusterConfiguration');
  const init = found.get('InitConfiguration');
  // A JoinConfiguration without controlPlane joins a worker: nothing in it shapes control-plane certificates.
  const join = found.get('JoinConfiguration');
  const controlPlaneJoin = join && join.get(['controlPlane']) !== undefined ? join : undefined;
  if (!cluster && !init && !controlPlaneJoin) {
    throw badInput(
      file,
      `holds no ${GROUP} ClusterConfiguration or InitConfiguration${join ? ' (its JoinConfiguration has no controlPlane)' : ''}`,
      'give a kubeadm config file; kubeadm config print init-defaults shows one',
    );
  }
  if (cluster) applyCluster(cluster, out);
  if (init) {
    applyFields(init, INIT_FIELDS, out);
    if (controlPlaneJoin) controlPlaneJoin.warn([], 'ignored: kubeadm init reads the InitConfiguration in the same file');
  } else if (controlPlaneJoin) {
    applyFields(controlPlaneJoin, JOIN_FIELDS, out);
  }
  out.warnings = [...warnings];
  return out;
}

/** Reads and parses a kubeadm config file; a missing file is MissingFile, anything unusable BadInput. */
export async function readKubeadmConfig(file: string): Promise<KubeadmConfig> {
  const data = await readRequired(file, 'a kubeadm config file (--config)');
  return parseKubeadmConfig(data.toString('utf8'), file);
}

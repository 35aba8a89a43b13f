import { parseAllDocuments } from 'yaml';
import { badInput } from '../errors.js';
import type { SettingsInput } from '../spec/settings.js';
import { readRequired } from '../store/files.js';

/** What kpki takes from a kubeadm config file. */
export interface KubeadmConfig {
  settings: SettingsInput;
  /** ClusterConfiguration.certificatesDir, when set. */
  certificatesDir?: string;
  /** Fields that affect kubeadm's certificates but that kpki does not apply. */
  warnings: string[];
}

const API_GROUP = 'kubeadm.k8s.io';
const SUPPORTED_VERSIONS = ['v1beta2', 'v1beta3', 'v1beta4'];

/** v1beta4 encryptionAlgorithm → kpki key type. */
const ENCRYPTION_ALGORITHMS: Record<string, string> = {
  'RSA-2048': 'rsa-2048',
  'RSA-3072': 'rsa-3072',
  'RSA-4096': 'rsa-4096',
  'ECDSA-P256': 'ecdsa-p256',
  'ECDSA-P384': 'ecdsa-p384',
};

type Doc = Record<string, unknown>;

/** Typed access to one YAML document, naming `file: kind.path` in every error. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly kind: string,
    private readonly doc: Doc,
  ) {}

  private get(path: string): unknown {
    return path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Doc)[key] : undefined), this.doc);
  }

  private fail(path: string, expected: string): never {
    throw badInput(this.file, `${this.kind}.${path} must be ${expected}`);
  }

  has(path: string): boolean {
    return this.get(path) !== undefined && this.get(path) !== null;
  }

  string(path: string): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') this.fail(path, 'a string');
    return v;
  }

  number(path: string): number | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, 'a whole number');
    return v;
  }

  strings(path: string): string[] | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(path, 'a list of strings');
    return v as string[];
  }

  boolean(path: string): boolean | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(path, 'true or false');
    return v;
  }
}

/** Go durations (`8760h0m0s`, `1h30m`, `90s`) in whole seconds, as kpki's duration syntax. */
function goDuration(text: string | undefined, where: string, file: string): string | undefined {
  if (text === undefined) return undefined;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 };
  if (!/^(\d+(\.\d+)?(h|m|s))+$/.test(text)) throw badInput(file, `${where} must be a duration such as 8760h0m0s`);
  const seconds = [...text.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)].reduce((sum, [, n, u]) => sum + Number(n) * units[u!]!, 0);
  return `${Math.round(seconds)}s`;
}

function clusterConfiguration(f: Fields, file: string, out: KubeadmConfig): void {
  const s = out.settings;
  s.clusterName = f.string('clusterName');
  s.controlPlaneEndpoint = f.string('controlPlaneEndpoint');
  out.certificatesDir = f.string('certificatesDir');
  s.serviceCidr = f.string('networking.serviceSubnet');
  s.dnsDomain = f.string('networking.dnsDomain');
  s.apiserverCertExtraSans = f.strings('apiServer.certSANs');
  s.etcdServerCertExtraSans = f.strings('etcd.local.serverCertSANs');
  s.etcdPeerCertExtraSans = f.strings('etcd.local.peerCertSANs');
  if (f.has('etcd.external')) {
    s.localEtcd = false;
    out.warnings.push(`${file}: etcd.external is set: kpki creates no etcd certificates; point kube-apiserver at the external etcd's files`);
  }
  const algorithm = f.string('encryptionAlgorithm');
  if (algorithm !== undefined) {
    const keyType = ENCRYPTION_ALGORITHMS[algorithm];
    if (!keyType) throw badInput(file, `ClusterConfiguration.encryptionAlgorithm "${algorithm}" is not one of ${Object.keys(ENCRYPTION_ALGORITHMS).join(', ')}`);
    s.keyType = keyType;
  } else if (f.boolean('featureGates.PublicKeysECDSA')) {
    // The v1beta2/v1beta3 way to ask for ECDSA keys.
    s.keyType = 'ecdsa-p256';
  }
  s.certValidity = goDuration(f.string('certificateValidityPeriod'), 'ClusterConfiguration.certificateValidityPeriod', file);
  s.caValidity = goDuration(f.string('caCertificateValidityPeriod'), 'ClusterConfiguration.caCertificateValidityPeriod', file);
}

/** InitConfiguration, and a control-plane JoinConfiguration: this node's name and endpoint. */
function nodeConfiguration(f: Fields, endpointPath: string, out: KubeadmConfig): void {
  out.settings.advertiseAddress = f.string(`${endpointPath}.advertiseAddress`);
  out.settings.bindPort = f.number(`${endpointPath}.bindPort`);
  out.settings.nodeName = f.string('nodeRegistration.name');
}

/** Parses kubeadm's multi-document config; flags given to kpki override what it yields. */
export function parseKubeadmConfig(text: string, file: string): KubeadmConfig {
  const docs = parseAllDocuments(text);
  const out: KubeadmConfig = { settings: {}, warnings: [] };
  let recognised = 0;
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) {
      const error = doc.errors[0]!;
      throw badInput(file, `not valid YAML: ${error.message.split('\n')[0]}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw badInput(file, 'each YAML document must be a mapping with apiVersion and kind');
    const { apiVersion, kind } = value as Doc;
    if (typeof kind !== 'string' || typeof apiVersion !== 'string') throw badInput(file, 'a document has no apiVersion or kind');
    const [group, version] = apiVersion.split('/');
    if (group !== API_GROUP) continue; // KubeletConfiguration, KubeProxyConfiguration: not kpki's business
    if (!SUPPORTED_VERSIONS.includes(version ?? '')) {
      throw badInput(file, `${kind} uses ${apiVersion}`, `kpki reads ${SUPPORTED_VERSIONS.map((v) => `${API_GROUP}/${v}`).join(', ')}; migrate it with kubeadm config migrate`);
    }
    const fields = new Fields(file, kind, value as Doc);
    if (kind === 'ClusterConfiguration') clusterConfiguration(fields, file, out);
    else if (kind === 'InitConfiguration') nodeConfiguration(fields, 'localAPIEndpoint', out);
    else if (kind === 'JoinConfiguration') nodeConfiguration(fields, 'controlPlane.localAPIEndpoint', out);
    else continue;
    recognised++;
  }
  if (recognised === 0) {
    throw badInput(file, 'holds no ClusterConfiguration, InitConfiguration or JoinConfiguration', 'give a kubeadm config file (kubeadm config print init-defaults shows one)');
  }
  out.settings = Object.fromEntries(Object.entries(out.settings).filter(([, v]) => v !== undefined));
  return out;
}

export async function readKubeadmConfig(file: string): Promise<KubeadmConfig> {
  const data = await readRequired(file, 'a kubeadm config file (--config)');
  return parseKubeadmConfig(data.toString('utf8'), file);
}

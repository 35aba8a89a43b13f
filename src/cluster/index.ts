import { existsSync } from 'node:fs';
import path from 'node:path';
import { badFlag, badInput } from '../errors.js';
import { withRememberedSans } from '../day2/remembered.js';
import { initPki, type InitOptions, type InitResult } from '../init/index.js';
import { issueLeaf, leafSpec, leafWrites, loadCa, writeLocked } from '../issue/leaf.js';
import { publicKeyObject } from '../pki/certificate.js';
import { keyTypeOf } from '../pki/keys.js';
import { certificateMismatches } from '../pki/match.js';
import { parseCertificate, parseKey } from '../pki/pem.js';
import { bracketedHost, canonicalIp, httpsUrl } from '../model/net.js';
import { kubeletPkiEntries, type CertificateEntry, type Profile, type Role } from '../model/profile.js';
import { nodeEntryFields } from '../model/plan.js';
import { listValue, parseNodeName, type SettingsInput } from '../model/settings.js';
import { readOptional, writeFileAtomic } from '../store/files.js';
import { acquireLock } from '../store/lock.js';
import { loadProfile } from '../store/profiles.js';

export type NodeRole = Exclude<Role, 'shared'>;

export interface ClusterNode {
  name: string;
  /** IPv4 and/or IPv6; the first is the one the node advertises (apiserver, etcd URLs). */
  addresses: string[];
  role: NodeRole;
}

/**
 * `cp1=10.0.0.11,cp2=fd00::12` → nodes; a bare IP after a node adds a second address to it, as in
 * kubelet's dual-stack `--node-ip` (`cp1=10.0.0.11,fd00::11,cp2=…`).
 */
export function parseNodeList(flag: string, text: string | undefined, role: NodeRole): ClusterNode[] {
  const nodes: ClusterNode[] = [];
  for (const item of listValue(text)) {
    const [name, address, ...rest] = item.split('=');
    const extra = address === undefined && canonicalIp(name!);
    if (extra && nodes.length) {
      nodes.at(-1)!.addresses.push(extra);
      continue;
    }
    const ip = address && canonicalIp(address);
    // The unspecified address (0.0.0.0, ::) is where a server listens, not where a node is reached.
    if (!name || !ip || rest.length || /^(0\.0\.0\.0|::)$/.test(ip)) {
      throw badFlag(flag, `"${item}" is not NAME=IP`, `e.g. ${flag} cp1=10.0.0.11,cp2=10.0.0.12 (dual-stack: cp1=10.0.0.11,fd00::11,cp2=…)`);
    }
    nodes.push({ name: parseNodeName(`${flag} (node ${name})`, name), addresses: [ip], role });
  }
  return nodes;
}

const primary = (node: ClusterNode) => node.addresses[0]!;

export interface ClusterOptions extends InitOptions {
  controlPlaneNodes?: string;
  workers?: string;
  /** External etcd members; without them etcd is stacked on the control-plane nodes. */
  etcdMembers?: string;
  /** Kubelet serving certificates signed by the cluster CA, so --kubelet-certificate-authority can be on. */
  kubeletServingCerts?: boolean;
  /** Where node directories go (default: <kubeconfig dir>/nodes). */
  nodesDir?: string;
}

export interface NodeResult extends ClusterNode {
  /** The node's root: copy `<dir>/etc/kubernetes` (and `var/lib/kubelet`) to the machine. */
  dir: string;
  init: InitResult;
  /** Kubelet serving certificate files, when asked for. */
  kubeletServing: { files: string[]; action: 'create' | 'reuse' } | undefined;
}

export interface ClusterResult {
  shared: InitResult;
  nodes: NodeResult[];
  /** kube-apiserver's --etcd-servers for this topology. */
  etcdServers: string[];
  /** The record `kpki node add` reads, in the kubeconfig dir. */
  record: string;
}

/** What `kpki node add` needs to extend a cluster the way it was made. */
export interface ClusterRecord {
  settings: SettingsInput & { profile?: string; certDir: string; kubeconfigDir: string; nodesDir: string; kubeletServingCerts: boolean };
  nodes: ClusterNode[];
  topology: 'stacked' | 'external';
}

export const RECORD_FILE = 'kpki-cluster.json';
/** Guards the record's read-modify-write; a lock of its own, since the PKI's lock is taken inside it. */
const RECORD_LOCK = '.kpki-cluster.lock';
/** Node additions started together queue up rather than fail: each holds the lock for one node's keys. */
const RECORD_WAIT_MS = 10 * 60_000;

/** Runs `update` holding the record's lock. */
async function withRecordLock<T>(recordFile: string, update: () => Promise<T>): Promise<T> {
  const release = await acquireLock(path.dirname(recordFile), { name: RECORD_LOCK, waitMs: RECORD_WAIT_MS });
  try {
    return await update();
  } finally {
    await release();
  }
}

export function nodeDirs(nodesDir: string, name: string) {
  const root = path.join(nodesDir, name);
  return { root, kubernetes: path.join(root, 'etc/kubernetes'), kubeletPki: path.join(root, 'var/lib/kubelet/pki') };
}

/** A kubelet pki entry of the profile (the kubelet's serving certificate) for one node: reused while it still fits. */
async function kubeletPkiCertificate(certDir: string, profile: Profile, entry: CertificateEntry, node: ClusterNode, kubeletPki: string, options: ClusterOptions) {
  const prefix = path.join(kubeletPki, entry.file);
  const files = [`${prefix}.key`, `${prefix}.crt`];
  const request = {
    name: entry.name,
    ...nodeEntryFields(entry, node.name, node.addresses),
    usages: entry.usages,
    validity: options.certValidity,
    keyType: options.keyType,
    profile: options.profile,
  };
  const issuer = profile.certificates.find((c) => c.name === entry.issuer)!;
  const ca = await loadCa(path.join(certDir, `${issuer.file}.crt`), certDir, { needKey: true });
  const decide = async () => {
    const [crt, key] = await Promise.all([readOptional(`${prefix}.crt`), readOptional(`${prefix}.key`)]);
    if (!crt || !key) return 'create' as const;
    const cert = parseCertificate(crt, `${prefix}.crt`);
    // An unchanged request keeps the key type the certificate already has.
    const spec = await leafSpec(ca, { ...request, keyType: request.keyType ?? keyTypeOf(publicKeyObject(cert)) });
    const reasons = await certificateMismatches(cert, spec, { issuer: ca.cert, key: parseKey(key, `${prefix}.key`), now: options.now ?? new Date() });
    if (!reasons.length) return 'reuse' as const;
    if (!options.force) throw badInput(`${prefix}.crt`, `no longer matches the node (${reasons.join('; ')})`, 'rerun with --force to reissue it');
    return 'create' as const;
  };
  if (options.dryRun) return { files, action: await decide() };
  let action: 'create' | 'reuse' = 'reuse';
  // Decided and replaced under the lock, after finishing any replacement a killed run left there.
  await writeLocked(kubeletPki, [], true, async () => {
    action = await decide();
    return action === 'reuse' ? [] : leafWrites(prefix, await issueLeaf(ca, request, options.now));
  });
  return { files, action };
}

/** One node's directory: its share of the profile, with CAs and sa taken from the shared set. */
async function writeNode(record: ClusterRecord, profile: Profile, node: ClusterNode, base: InitOptions): Promise<NodeResult> {
  const roleEntries = profile.roles[node.role];
  if (!roleEntries) throw badFlag('--profile', `${profile.name} has no roles.${node.role}`, 'use a profile with roles (kubeadm)');
  const etcdOnly = new Set(profile.roles.etcd ?? []);
  // With external etcd members the control planes keep only the etcd CA's certificate and their client cert.
  const external = node.role === 'control-plane' && record.topology === 'external';
  const isCa = (name: string) => profile.certificates.some((c) => c.name === name && !c.issuer);
  const entries = external ? roleEntries.filter((e) => !etcdOnly.has(e) || isCa(e)) : roleEntries;
  // Control planes hold the signing keys kubeadm copies to joining control planes; other nodes none.
  const keys = node.role === 'control-plane' ? entries.filter((e) => !(external && etcdOnly.has(e))) : [];
  const dirs = nodeDirs(record.settings.nodesDir, node.name);
  const first = record.nodes.find((n) => n.role === 'control-plane')!;
  // A dual-stack node's other addresses go wherever its advertise address does.
  const more = (sans: string[] | string | undefined) => [...listValue(sans), ...node.addresses.slice(1)];
  const init = await initPki({
    ...base,
    ...record.settings,
    // Without an HA endpoint, other nodes reach the first control plane.
    controlPlaneEndpoint: record.settings.controlPlaneEndpoint ?? (node.role === 'control-plane' ? undefined : bracketedHost(primary(first))),
    certDir: path.join(dirs.kubernetes, 'pki'),
    kubeconfigDir: dirs.kubernetes,
    nodeName: node.name,
    advertiseAddress: primary(node),
    apiserverCertExtraSans: more(record.settings.apiserverCertExtraSans),
    etcdServerCertExtraSans: more(record.settings.etcdServerCertExtraSans),
    etcdPeerCertExtraSans: more(record.settings.etcdPeerCertExtraSans),
    entries,
    shared: { certDir: record.settings.certDir, entries: profile.roles.shared ?? [], keys },
  });
  const kubelet = record.settings.kubeletServingCerts && node.role !== 'etcd';
  const kubeletEntries = kubelet ? kubeletPkiEntries(profile) : [];
  if (kubelet && !kubeletEntries.length) {
    throw badFlag('--kubelet-serving-certs', `${profile.name} has no entry with location: kubeletPki to issue`, 'use a profile that describes the kubelet serving certificate (kubeadm)');
  }
  const kubeletWritten = [];
  for (const entry of kubeletEntries) kubeletWritten.push(await kubeletPkiCertificate(record.settings.certDir, profile, entry, node, dirs.kubeletPki, { ...base, ...record.settings }));
  return {
    ...node,
    dir: dirs.root,
    init,
    kubeletServing: kubelet ? { files: kubeletWritten.flatMap((w) => w.files), action: kubeletWritten.some((w) => w.action === 'create') ? 'create' : 'reuse' } : undefined,
  };
}

function etcdServers(record: ClusterRecord): string[] {
  const members = record.nodes.filter((n) => (record.topology === 'external' ? n.role === 'etcd' : n.role === 'control-plane'));
  return members.map((n) => httpsUrl(primary(n), 2379));
}

/**
 * A whole cluster's PKI from one machine: the shared material once (CAs, sa key, admin
 * kubeconfigs), then a directory per node shaped like its /etc/kubernetes. Idempotent like initPki.
 */
export async function initCluster(options: ClusterOptions): Promise<ClusterResult> {
  const controlPlanes = parseNodeList('--control-plane-nodes', options.controlPlaneNodes, 'control-plane');
  const nodes = [
    ...controlPlanes,
    ...parseNodeList('--workers', options.workers, 'worker'),
    ...parseNodeList('--etcd-members', options.etcdMembers, 'etcd'),
  ];
  if (!controlPlanes.length) throw badFlag('--control-plane-nodes', 'names no node', 'e.g. --control-plane-nodes cp1=10.0.0.11');
  const duplicate = nodes.find((n, i) => nodes.findIndex((m) => m.name === n.name) !== i);
  if (duplicate) throw badFlag('--control-plane-nodes', `node "${duplicate.name}" is listed twice`);
  if (controlPlanes.length > 1 && !options.controlPlaneEndpoint) {
    throw badFlag('--control-plane-endpoint', `is required with ${controlPlanes.length} control-plane nodes`, 'give the load-balancer VIP or DNS name in front of them');
  }
  const certDir = options.certDir ?? 'pki';
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(path.resolve(certDir));
  const record: ClusterRecord = {
    settings: {
      ...settingsOf(options),
      certDir,
      kubeconfigDir,
      nodesDir: options.nodesDir ?? path.join(kubeconfigDir, 'nodes'),
      kubeletServingCerts: options.kubeletServingCerts ?? false,
    },
    nodes,
    topology: options.etcdMembers ? 'external' : 'stacked',
  };
  const profile = await loadProfile(options.profile);
  const recordFile = path.join(kubeconfigDir, RECORD_FILE);
  const run = async () => {
    const previous = existsSync(recordFile) ? await readRecord(recordFile) : undefined;
    // SANs `kpki renew --add-san` added stay, whatever this run's flags say.
    if (previous) record.settings = withRememberedSans(record.settings, previous.settings);
    const shared = await initPki({ ...options, certDir, kubeconfigDir, nodeName: controlPlanes[0]!.name, advertiseAddress: primary(controlPlanes[0]!), entries: profile.roles.shared });
    const result = (results: NodeResult[]) => ({ shared, nodes: results, etcdServers: etcdServers(record), record: recordFile });
    // Node plans sign with the shared CAs, so a dry run can plan them only once those exist.
    if (options.dryRun && !shared.items.every((i) => i.action === 'reuse')) return result([]);
    const results: NodeResult[] = [];
    for (const node of nodes) results.push(await writeNode(record, profile, node, options));
    if (options.dryRun) return result(results);
    // Nodes added since (kpki node add) stay in the record: their directories stay too.
    record.nodes.push(...(previous?.nodes ?? []).filter((p) => !nodes.some((n) => n.name === p.name)));
    await writeRecord(recordFile, record);
    return result(results);
  };
  return options.dryRun ? run() : withRecordLock(recordFile, run);
}

/** The settings a cluster was made with, as given, for `node add` to repeat. */
function settingsOf(options: InitOptions): SettingsInput & { profile?: string } {
  const keys = ['controlPlaneEndpoint', 'bindPort', 'serviceCidr', 'dnsDomain', 'clusterName', 'apiserverCertExtraSans', 'etcdServerCertExtraSans', 'etcdPeerCertExtraSans', 'keyType', 'certValidity', 'caValidity', 'profile'] as const;
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

const RECORD_PATHS = ['certDir', 'kubeconfigDir', 'nodesDir'] as const;

/** Paths are stored relative to the record, so the tree can move and `node add` run from anywhere. */
export function recordText(file: string, record: ClusterRecord): string {
  const settings = { ...record.settings };
  for (const key of RECORD_PATHS) settings[key] = path.relative(path.dirname(path.resolve(file)), path.resolve(settings[key])) || '.';
  return `${JSON.stringify({ ...record, settings }, null, 2)}\n`;
}

async function writeRecord(file: string, record: ClusterRecord): Promise<void> {
  const text = recordText(file, record);
  if ((await readOptional(file))?.toString() !== text) await writeFileAtomic(file, text, 0o644);
}

export interface AddNodeOptions {
  name: string;
  /** One address, or IPv4 and IPv6 comma-separated for a dual-stack node. */
  address: string;
  role: NodeRole;
  /** Where kpki-cluster.json is (default: the current directory). */
  kubeconfigDir?: string;
  force?: boolean;
  now?: Date;
}

export async function readRecord(file: string): Promise<ClusterRecord> {
  const data = await readOptional(file);
  if (!data) throw badInput(file, 'not found', 'run kpki init --control-plane-nodes … first, or pass --kubeconfig-dir where it wrote kpki-cluster.json');
  let record: ClusterRecord;
  try {
    record = JSON.parse(data.toString('utf8')) as ClusterRecord;
  } catch {
    throw badInput(file, 'is not valid JSON', 'restore it from the run that wrote it');
  }
  const valid = Array.isArray(record?.nodes) && record.nodes.every((n) => Array.isArray(n?.addresses)) && RECORD_PATHS.every((k) => typeof record.settings?.[k] === 'string');
  if (!valid) throw badInput(file, 'is not a kpki cluster record', 'restore it from the run that wrote it');
  for (const key of RECORD_PATHS) record.settings[key] = path.resolve(path.dirname(file), record.settings[key]);
  return record;
}

/** `kpki node add`: one more node from the same CAs, other nodes' files untouched. */
export async function addNode(options: AddNodeOptions): Promise<NodeResult> {
  parseNodeName('NAME', options.name);
  const nodes = parseNodeList('--address', `${options.name}=${options.address}`, options.role);
  if (nodes.length !== 1) throw badFlag('--address', `"${options.address}" is not one node's addresses`, 'give IPs only, e.g. --address 10.0.0.23,fd00::23');
  const node = nodes[0]!;
  const recordFile = path.join(options.kubeconfigDir ?? '.', RECORD_FILE);
  await readRecord(recordFile); // a mistyped --kubeconfig-dir fails here, before the lock creates anything
  // Read, extended and written under the lock: concurrent additions never drop each other's node.
  return withRecordLock(recordFile, async () => {
    const record = await readRecord(recordFile);
    const existing = record.nodes.find((n) => n.name === node.name);
    if (existing && (existing.addresses.join() !== node.addresses.join() || existing.role !== node.role)) {
      throw badFlag('NAME', `node ${node.name} already exists as ${existing.role} at ${existing.addresses.join(',')}`, 'choose another name');
    }
    if (!existing) record.nodes.push(node);
    if (!existsSync(record.settings.certDir)) throw badInput(record.settings.certDir, 'the shared PKI is missing', 'restore it; kpki never re-creates CAs for an existing cluster');
    const result = await writeNode(record, await loadProfile(record.settings.profile), node, { force: options.force, now: options.now });
    await writeRecord(recordFile, record);
    return result;
  });
}


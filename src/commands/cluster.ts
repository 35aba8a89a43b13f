import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import path from 'node:path';
import { badFlag, badInput } from '../errors.js';
import { withRememberedSettings } from '../model/remembered-sans.js';
import { buildPkiSpec, selectEntries } from '../model/spec.js';
import { kubeletPkiEntries } from '../model/profile.js';
import type { SettingsInput } from '../model/settings.js';
import { parseNodeName } from '../model/settings.js';
import {
  etcdServers,
  nodeDirs,
  nodeEntries,
  nodeSettings,
  parseNodeList,
  primaryAddress,
  type ClusterNode,
  type ClusterRecord,
  type NodeRole,
} from '../model/topology.js';
import { readRotation } from '../store/rotation.js';
import { RECORD_FILE, readRecord, readRecordIfAny, withRecordLock, writeRecord } from '../store/cluster-record.js';
import { pathExists } from '../store/files.js';
import { acquireLock } from '../store/lock.js';
import { joinRotation } from './rotation.js';
import { checkRenewNames, initLocation, resolveRun, type InitOptions, type InitResult, type ResolvedRun, type RunOptions } from './init.js';
import type { TokenKeys } from '../hsm/token.js';
import { withTokenKeys, type TokenChoice } from './ca-keys.js';

export { parseNodeList, type ClusterNode, type NodeRole };

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
}

export interface ClusterResult {
  shared: InitResult;
  nodes: NodeResult[];
  /** kube-apiserver's --etcd-servers for this topology. */
  etcdServers: string[];
  /** The record `kpki node add` reads, in the kubeconfig dir. */
  record: string;
}

interface NodeRun {
  record: ClusterRecord;
  run: ResolvedRun;
  options: RunOptions;
}

/**
 * One node's directory: its share of the profile (and the kubelet's pki entries when asked for),
 * with CAs and shared entries taken from the shared set — the same observe → decide → apply path
 * as a single-node PKI, over the node's location.
 */
async function writeNode({ record, run, options }: NodeRun, node: ClusterNode): Promise<NodeResult> {
  const { profile } = run;
  const { entries, keys } = nodeEntries(profile, node, record.topology);
  const kubelet = record.settings.kubeletServingCerts && node.role !== 'etcd';
  const kubeletEntries = kubelet ? kubeletPkiEntries(profile).map((e) => e.name) : [];
  if (kubelet && !kubeletEntries.length) {
    throw badFlag(
      '--kubelet-serving-certs',
      `${profile.name} has no entry with location: kubeletPki to issue`,
      'use a profile that describes the kubelet serving certificate (kubeadm)',
    );
  }
  const first = record.nodes.find((n) => n.role === 'control-plane')!;
  const settings = nodeSettings(run.settings, node, first);
  const spec = selectEntries(buildPkiSpec(profile, settings, { kubeletPki: kubelet, controlPlane: node.role === 'control-plane' }), [
    ...entries,
    ...kubeletEntries,
  ]);
  const dirs = nodeDirs(record.settings.nodesDir, node.name);
  const location = {
    certDir: path.join(dirs.kubernetes, 'pki'),
    kubeconfigDir: dirs.kubernetes,
    kubeletPki: dirs.kubeletPki,
    shared: { certDir: record.settings.certDir, entries: profile.roles.shared ?? [], keys },
  };
  const init = await initLocation(spec, location, settings, profile.name, options, []);
  return { ...node, dir: dirs.root, init };
}

/**
 * A whole cluster's PKI from one machine: the shared material once (CAs, sa key, admin
 * kubeconfigs), then a directory per node shaped like its /etc/kubernetes. Settings are resolved
 * once; each node's are derived from them. Idempotent like initPki.
 */
export async function initCluster(given: ClusterOptions): Promise<ClusterResult> {
  // One clock for the whole run: every node's certificates start together.
  const options = { ...given, now: given.now ?? new Date() };
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
    throw badFlag(
      '--control-plane-endpoint',
      `is required with ${controlPlanes.length} control-plane nodes`,
      'give the load-balancer VIP or DNS name in front of them',
    );
  }
  const certDir = options.certDir ?? DEFAULTS.certDir;
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(certDir);
  const recordFile = path.join(kubeconfigDir, RECORD_FILE);
  const first = controlPlanes[0]!;
  const work = () => withTokenKeys(kubeconfigDir, options, !options.dryRun, (tokens) => writeCluster(tokens));
  const writeCluster = async (tokens: TokenKeys | undefined) => {
    const previous = await readRecordIfAny(recordFile);
    const record: ClusterRecord = {
      // SANs `kpki renew --add-san` added stay, whatever this run's flags say.
      settings: withRememberedSettings(
        {
          // A key algorithm a rotation moved to stays unless this run names one (in its place in the record).
          ...settingsOf({ ...options, keyType: options.keyType ?? previous?.settings.keyType }),
          certDir,
          kubeconfigDir,
          nodesDir: options.nodesDir ?? path.join(kubeconfigDir, DEFAULTS.nodesDirName),
          kubeletServingCerts: options.kubeletServingCerts ?? false,
          // Once asked for, kept: a later run without the flag does not drop the nodes' serving certificates.
          ...((options.componentServingCerts || previous?.settings.componentServingCerts) && { componentServingCerts: true }),
        },
        previous?.settings ?? {},
      ),
      nodes,
      topology: options.etcdMembers ? 'external' : 'stacked',
    };
    const run = await resolveRun(
      { ...options, ...record.settings, certDir, kubeconfigDir, nodeName: first.name, advertiseAddress: primaryAddress(first) },
      async (_, input) => input,
    );
    const sharedSpec = selectEntries(buildPkiSpec(run.profile, nodeSettings(run.settings, first, first)), run.profile.roles.shared ?? []);
    checkRenewNames(buildPkiSpec(run.profile, run.settings, { kubeletPki: true }), options.renew ?? []);
    const dryRun = options.dryRun ?? false;
    const shared = await initLocation(
      sharedSpec,
      { certDir, kubeconfigDir },
      run.settings,
      run.profile.name,
      { ...options, tokens },
      run.warnings,
    );
    const result = (results: NodeResult[]) => ({
      shared,
      nodes: results,
      etcdServers: etcdServers(record.nodes, record.topology),
      record: recordFile,
    });
    // Node plans sign with the shared CAs, so a dry run can plan them only once those exist.
    if (dryRun && !shared.items.every((i) => i.action === 'reuse')) return result([]);
    const results: NodeResult[] = [];
    for (const node of nodes) results.push(await writeNode({ record, run, options: { ...options, tokens } }, node));
    if (dryRun) return result(results);
    // Nodes added since (kpki node add) stay in the record: their directories stay too.
    record.nodes.push(...(previous?.nodes ?? []).filter((p) => !nodes.some((n) => n.name === p.name)));
    await writeRecord(recordFile, record);
    return result(results);
  };
  return options.dryRun ? work() : withRecordLock(recordFile, work);
}

/** The settings a cluster was made with, as given, for `node add` to repeat. */
function settingsOf(options: InitOptions): SettingsInput & { profile?: string } {
  const keys = [
    'controlPlaneEndpoint',
    'bindPort',
    'serviceCidr',
    'dnsDomain',
    'clusterName',
    'apiserverCertExtraSans',
    'etcdServerCertExtraSans',
    'etcdPeerCertExtraSans',
    'keyType',
    'certValidity',
    'caValidity',
    'profile',
  ] as const;
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
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
  /** The PIN and module of the token the cluster's CA keys are in (kpki-pkcs11.json beside the record). */
  token?: Pick<TokenChoice, 'pin' | 'pkcs11Module'>;
}

/** How long `node add` waits for a day-2 step holding the shared set (a rotation step takes seconds). */
const SHARED_LOCK_WAIT_MS = 60_000;

/** `kpki node add`: one more node from the same CAs, other nodes' files untouched; mid-rotation, in the rotation's phase. */
export async function addNode(options: AddNodeOptions): Promise<NodeResult> {
  parseNodeName('NAME', options.name);
  const nodes = parseNodeList('--address', `${options.name}=${options.address}`, options.role);
  if (nodes.length !== 1)
    throw badFlag('--address', `"${options.address}" is not one node's addresses`, 'give IPs only, e.g. --address 10.0.0.23,fd00::23');
  const node = nodes[0]!;
  const recordFile = path.join(options.kubeconfigDir ?? DEFAULTS.clusterDir, RECORD_FILE);
  await readRecord(recordFile); // a mistyped --kubeconfig-dir fails here, before the lock creates anything
  // Read, extended and written under the lock: concurrent additions never drop each other's node.
  return withRecordLock(recordFile, async () => {
    const record = await readRecord(recordFile);
    const existing = record.nodes.find((n) => n.name === node.name);
    if (existing && (existing.addresses.join() !== node.addresses.join() || existing.role !== node.role)) {
      throw badFlag(
        'NAME',
        `node ${node.name} already exists as ${existing.role} at ${existing.addresses.join(',')}`,
        'choose another name',
      );
    }
    if (!existing) record.nodes.push(node);
    if (!pathExists(record.settings.certDir))
      throw badInput(record.settings.certDir, 'the shared PKI is missing', 'restore it; kpki never re-creates CAs for an existing cluster');
    const first = record.nodes.find((n) => n.role === 'control-plane')!;
    const run = await resolveRun(
      { ...record.settings, nodeName: first.name, advertiseAddress: primaryAddress(first) },
      async (_, input) => input,
    );
    // Under the shared cert dir's lock, which every CA rotation step takes first: no step runs
    // between writing this node and bringing it into the rotation's phase.
    const release = await acquireLock(record.settings.certDir, { waitMs: SHARED_LOCK_WAIT_MS });
    try {
      // Once a type-changing rotation's new CAs sign (reissued), a new node's keys are of the new type already.
      const rotation = await readRotation(record.settings.certDir);
      const keyType = rotation?.phase === 'reissued' ? rotation.keyType : undefined;
      const nodeRun = keyType ? { ...run, settings: { ...run.settings, keyType } } : run;
      const result = await withTokenKeys(path.dirname(recordFile), options.token ?? {}, false, (tokens) =>
        writeNode({ record, run: nodeRun, options: { force: options.force, now: options.now, tokens } }, node),
      );
      await writeRecord(recordFile, record);
      await joinRotation({ kubeconfigDir: path.dirname(recordFile) }, node.name);
      return result;
    } finally {
      await release();
    }
  });
}

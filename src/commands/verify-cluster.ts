import path from 'node:path';
import { KpkiError } from '../errors.js';
import { kubeconfigDirOf } from '../model/defaults.js';
import { serverUrl } from '../model/spec.js';
import { SERVER_TARGETS, type ServerTarget } from '../model/profile.js';
import { resolveSettings } from '../model/settings.js';
import { nodeComponentFlags, nodeDirs, nodeSettings, primaryAddress, type ClusterNode, type ClusterRecord } from '../model/topology.js';
import { readRecordIfAny, RECORD_FILE } from '../store/cluster-record.js';
import { sortFindings, FindingCode, type Severity } from '../verify/findings.js';
import type { CheckedLocation, NodeContext, VerifyOptions, VerifyResult } from '../verify/options.js';
import { verifyDirectory } from './verify-directory.js';

/**
 * `kpki verify` over a cluster kpki wrote (kpki-cluster.json): the shared set as the source of the
 * nodes' CAs and admin kubeconfigs, then each node directory as that node, with the flags its
 * components run with in that cluster.
 */

/** What one node of a cluster is and runs, from the cluster's record. */
export function nodeContext(record: ClusterRecord, node: ClusterNode): NodeContext {
  const first = record.nodes.find((n) => n.role === 'control-plane') ?? node;
  const host = { nodeName: first.name, advertiseAddress: primaryAddress(first) };
  const settings = nodeSettings(resolveSettings({ ...record.settings, ...host }, host), node, first);
  return {
    role: node.role,
    name: node.name,
    addresses: node.addresses,
    stackedEtcd: record.topology !== 'external',
    flags: nodeComponentFlags(settings, node, record.nodes, record.topology),
    kubeletServingCerts: record.settings.kubeletServingCerts && node.role !== 'etcd',
    servers: Object.fromEntries(SERVER_TARGETS.map((t) => [t, serverUrl(t, settings, node.role === 'control-plane')])) as Record<
      ServerTarget,
      string
    >,
    sharedCertDir: record.settings.certDir,
  };
}

/** Options that ask for no particular input: what `kpki verify` checks by default. */
const asksForInputs = (o: VerifyOptions) =>
  Boolean(
    o.root ||
    o.apiserverArgs ||
    o.etcdArgs ||
    o.controllerManagerArgs ||
    o.schedulerArgs ||
    o.manifestsDir ||
    o.kubeletConfig ||
    o.kubeconfigs?.length ||
    o.apiServices?.length ||
    o.servingCerts?.length ||
    o.node,
  );

/**
 * The cluster kpki wrote whose record is in the kubeconfig dir verify looks at (the working
 * directory by default), when no other input is asked for: a --cert-dir then must be its shared set.
 */
export async function clusterToVerify(options: VerifyOptions): Promise<ClusterRecord | undefined> {
  if (asksForInputs(options)) return undefined;
  const kubeconfigDir = options.kubeconfigDir ?? (options.certDir ? kubeconfigDirOf(options.certDir) : '.');
  const record = await readRecordIfAny(path.join(kubeconfigDir, RECORD_FILE));
  if (!record || (options.certDir && path.resolve(options.certDir) !== record.settings.certDir)) return undefined;
  return record;
}

/** The node a --root directory is in a cluster kpki wrote (its record two levels up, as kpki init lays them out). */
export async function nodeOfRoot(root: string): Promise<NodeContext | undefined> {
  const resolved = path.resolve(root);
  for (let dir = path.dirname(path.dirname(resolved)), up = 0; up < 2; dir = path.dirname(dir), up++) {
    const record = await readRecordIfAny(path.join(dir, RECORD_FILE)).catch(() => undefined);
    const node = record?.nodes.find((n) => nodeDirs(record.settings.nodesDir, n.name).root === resolved);
    if (record && node) return nodeContext(record, node);
  }
  return undefined;
}

/** Every directory of the cluster, node by node; one result, each finding naming its directory. */
export async function verifyCluster(record: ClusterRecord, options: VerifyOptions): Promise<VerifyResult> {
  const common: VerifyOptions = {
    warnWithin: options.warnWithin,
    now: options.now,
    rules: options.rules,
    benchmark: options.benchmark,
    profile: options.profile ?? record.settings.profile,
  };
  const locations: CheckedLocation[] = [];
  // Each directory's findings are labelled in the benchmark chosen for it; the run reports the shared set's choice.
  let benchmark: VerifyResult['benchmark'] | undefined;
  const check = async (name: string, role: CheckedLocation['role'], dir: string, given: VerifyOptions) => {
    try {
      const result = await verifyDirectory({ ...common, ...given });
      benchmark ??= result.benchmark;
      locations.push({ name, role, dir, findings: result.findings, counts: result.counts, checked: result.checked });
    } catch (error) {
      // A node directory that is gone or unreadable is that node's finding, not the end of the run.
      if (!(error instanceof KpkiError) || role === 'shared') throw error;
      const findings = [
        {
          code: FindingCode.FileMissing,
          severity: 'error' as const,
          subject: dir,
          symptom: '',
          diagnosis: `node ${name} (${role}) cannot be checked: ${error.message}`,
          fix: `restore ${dir} (kpki init --control-plane-nodes … writes it again from the shared set)`,
          files: [dir],
        },
      ];
      locations.push({
        name,
        role,
        dir,
        findings,
        counts: { error: 1, warning: 0, info: 0 },
        checked: { components: {}, kubeconfigs: [], apiServices: [] },
      });
    }
  };
  await check('shared', 'shared', record.settings.certDir, {
    certDir: record.settings.certDir,
    kubeconfigDir: record.settings.kubeconfigDir,
    node: { role: 'shared' },
  });
  for (const node of record.nodes) {
    const root = nodeDirs(record.settings.nodesDir, node.name).root;
    await check(node.name, node.role, root, { root, node: nodeContext(record, node) });
  }
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const l of locations) for (const s of Object.keys(counts) as Severity[]) counts[s] += l.counts[s];
  const tagged = locations.map((l) => ({ ...l, findings: l.findings.map((f) => ({ ...f, node: l.name })) }));
  return {
    findings: sortFindings(tagged.flatMap((l) => l.findings)),
    counts,
    benchmark: benchmark!,
    checked: {
      components: Object.fromEntries(
        tagged.flatMap((l) => Object.entries(l.checked.components).map(([c, origin]) => [`${l.name}/${c}`, origin])),
      ),
      kubeconfigs: tagged.flatMap((l) => l.checked.kubeconfigs.map((k) => `${l.name}:${k}`)),
      apiServices: [],
    },
    locations: tagged,
  };
}

import path from 'node:path';
import { DEFAULTS } from '../model/defaults.js';
import { badFlag } from '../errors.js';
import { timeoutMs } from '../live/timeout.js';
import type { LiveVerifyOptions, VerifyOptions, VerifyResult } from '../verify/options.js';
import type { ClusterRecord } from '../model/topology.js';
import { kubeconfigFilesOf } from '../model/profile.js';
import { NEWEST_CHOSEN_BY } from '../verify/benchmarks.js';
import { clusterToVerify, nodeOfRoot, verifyCluster } from './verify-cluster.js';
import { checkInputs, verifyDirectory, warnWithinSeconds } from './verify-directory.js';
import { assembleVerifyInputs } from './verify-inputs.js';
import { kubeconfigsOnly, verifyKubeconfigs, verifyKubeconfigsLive } from './verify-kubeconfig.js';

/** What one run checks: kubeconfigs on their own, a whole cluster, or one directory (with the options to check it with). */
type Target = { kind: 'kubeconfigs' } | { kind: 'cluster'; record: ClusterRecord } | { kind: 'directory'; options: VerifyOptions };

/**
 * Kubeconfigs alone when only they are given; where kpki-cluster.json is, the whole cluster node
 * by node (with --cert-dir naming its shared set, that set alone); a --root inside a cluster kpki
 * wrote, that node as the record describes it; otherwise the inputs given.
 */
async function targetOf(options: VerifyOptions): Promise<Target> {
  if (await kubeconfigsOnly(options)) return { kind: 'kubeconfigs' };
  const cluster = await clusterToVerify(options);
  // Its shared set alone when named with --cert-dir; the whole cluster otherwise.
  if (cluster && options.certDir)
    return {
      kind: 'directory',
      options: {
        ...options,
        kubeconfigDir: options.kubeconfigDir ?? cluster.settings.kubeconfigDir,
        node: { role: 'shared' },
        profile: options.profile ?? cluster.settings.profile,
      },
    };
  if (cluster) return { kind: 'cluster', record: cluster };
  const node = options.node ?? (options.root ? await nodeOfRoot(options.root) : undefined);
  return { kind: 'directory', options: { ...options, node } };
}

/** `kpki verify`. */
export async function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  const target = await targetOf(options);
  if (target.kind === 'kubeconfigs') return verifyKubeconfigs(options);
  if (target.kind === 'cluster') return verifyCluster(target.record, options);
  return verifyDirectory(target.options);
}

/**
 * With no --benchmark and no version in a manifest, the benchmark kube-bench maps the version the
 * apiserver serves (`GET /version` through the kubeconfigs, in order) to: the offline checks again
 * under it. When no apiserver answers, the newest, saying why.
 */
async function withServedBenchmark(
  options: VerifyOptions,
  offline: VerifyResult,
  kubeconfigs: string[],
  timeout: number,
  recheck: (options: VerifyOptions) => Promise<VerifyResult>,
): Promise<VerifyResult> {
  if (options.benchmark || offline.benchmark.chosenBy !== NEWEST_CHOSEN_BY) return offline;
  // Loaded only here: plain verify runs never dial.
  const { servedVersion } = await import('../live/version.js');
  const served = await servedVersion(kubeconfigs, { context: options.context, timeoutMs: timeout });
  if ('gitVersion' in served) return recheck({ ...options, servedVersion: served });
  return {
    ...offline,
    benchmark: {
      ...offline.benchmark,
      chosenBy: `${NEWEST_CHOSEN_BY} (GET /version: ${served.errors.join('; ') || 'no kubeconfig names the apiserver'})`,
    },
  };
}

/**
 * `kpki verify --live`: the offline checks, then the running components, both over the inputs
 * assembled once, so that both see the same components, flags and files.
 */
export async function verifyLive(options: LiveVerifyOptions = {}): Promise<VerifyResult> {
  const timeout = timeoutMs('--live-timeout', options.timeout ?? DEFAULTS.liveTimeout);
  warnWithinSeconds(options);
  const target = await targetOf(options);
  if (target.kind === 'kubeconfigs') {
    const offline = await withServedBenchmark(
      options,
      await verifyKubeconfigs(options),
      options.kubeconfigs ?? [],
      timeout,
      verifyKubeconfigs,
    );
    return verifyKubeconfigsLive(options, offline, timeout);
  }
  if (target.kind === 'cluster')
    throw badFlag(
      '--live',
      'checks the running components of one node, not a whole cluster directory',
      'run kpki verify --live on each node (or with --root NODE_DIR and its flags)',
    );
  const assembled = await assembleVerifyInputs(target.options);
  // An admin kubeconfig first: it may read everything.
  const admin = new Set(kubeconfigFilesOf(assembled.inputs.profile, 'admin'));
  const kubeconfigs = assembled.inputs.kubeconfigs
    .map((k) => k.file)
    .sort((a, b) => Number(admin.has(path.basename(b))) - Number(admin.has(path.basename(a))));
  const offline = await withServedBenchmark(target.options, await checkInputs(assembled, target.options), kubeconfigs, timeout, (o) =>
    checkInputs(assembled, o),
  );
  // Loaded only here: plain verify runs never dial.
  const { checkLive } = await import('../live/verify.js');
  return checkLive(assembled, offline, timeout);
}

import type { VerifyOptions, VerifyResult } from '../verify/options.js';
import { clusterToVerify, nodeOfRoot, verifyCluster } from './verify-cluster.js';
import { verifyDirectory } from './verify-directory.js';
import { kubeconfigsOnly, verifyKubeconfigs } from './verify-kubeconfig.js';

/**
 * `kpki verify`: kubeconfigs alone when only they are given; where kpki-cluster.json is, the whole
 * cluster node by node (with --cert-dir naming its shared set, that set alone); a --root inside a
 * cluster kpki wrote, that node as the record describes it; otherwise the inputs given.
 */
export async function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  if (await kubeconfigsOnly(options)) return verifyKubeconfigs(options);
  const cluster = await clusterToVerify(options);
  // Its shared set alone when named with --cert-dir; the whole cluster otherwise.
  if (cluster && options.certDir) return verifyDirectory({ ...options, kubeconfigDir: options.kubeconfigDir ?? cluster.settings.kubeconfigDir, node: { role: 'shared' }, profile: options.profile ?? cluster.settings.profile });
  if (cluster) return verifyCluster(cluster, options);
  const node = options.node ?? (options.root ? await nodeOfRoot(options.root) : undefined);
  return verifyDirectory({ ...options, node });
}

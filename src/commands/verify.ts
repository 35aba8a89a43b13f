import type { VerifyOptions, VerifyResult } from '../verify/options.js';
import { clusterToVerify, nodeOfRoot, verifyCluster } from './verify-cluster.js';
import { verifyDirectory } from './verify-directory.js';

/**
 * `kpki verify`: where kpki-cluster.json is, the whole cluster node by node; a --root inside a
 * cluster kpki wrote, that node as the record describes it; otherwise the inputs given.
 */
export async function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  const cluster = await clusterToVerify(options);
  if (cluster) return verifyCluster(cluster, options);
  const node = options.node ?? (options.root ? await nodeOfRoot(options.root) : undefined);
  return verifyDirectory({ ...options, node });
}

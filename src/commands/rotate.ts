import type { Layout, Location } from '../day2/layout.js';
import { rotateCa as rotate, type RotateOptions, type RotateResult } from '../day2/rotate.js';
import type { VerifyOptions } from '../verify/options.js';
import { verify } from './verify.js';
import { nodeContext } from './verify-cluster.js';

/** How verify checks one location of a day-2 layout: a cluster node as the record describes it, the shared set as the shared set. */
function verifyOptionsOf(location: Location, layout: Layout): VerifyOptions {
  const record = layout.record?.data;
  const node = record?.nodes.find((n) => n.name === location.node);
  const profile = record?.settings.profile;
  if (record && node && location.root) return { root: location.root, node: nodeContext(record, node), profile };
  const dirs = { certDir: location.certDir, kubeconfigDir: location.kubeconfigDir };
  return location.role === 'shared' ? { ...dirs, node: { role: 'shared' }, profile } : dirs;
}

/** `kpki ca rotate STEP`: every step that changes files first verifies every location of the layout. */
export function rotateCa(options: RotateOptions): Promise<RotateResult> {
  return rotate(options, async (location, layout) => (await verify(verifyOptionsOf(location, layout))).findings);
}

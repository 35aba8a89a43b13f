import type { Layout, LayoutLocation } from '../model/layout.js';
import type { RotateOptions, RotateResult } from '../plan/rotation.js';
import type { VerifyOptions } from '../verify/options.js';
import { KpkiError, ErrorCode } from '../errors.js';
import { rotateCa as rotateWith, type CheckBeforeWriting } from './rotation.js';
import { verify } from './verify.js';
import { nodeContext } from './verify-cluster.js';

/** How verify checks one location of a day-2 layout: a cluster node as the record describes it, the shared set as the shared set. */
function verifyOptionsOf(location: LayoutLocation, layout: Layout): VerifyOptions {
  const record = layout.record?.data;
  const node = record?.nodes.find((n) => n.name === location.node);
  const profile = record?.settings.profile;
  if (record && node && location.root) return { root: location.root, node: nodeContext(record, node), profile };
  const dirs = { certDir: location.certDir, kubeconfigDir: location.kubeconfigDir };
  return location.role === 'shared' ? { ...dirs, node: { role: 'shared' }, profile } : dirs;
}

/**
 * Refuses to change anything while verify finds errors anywhere the rotation writes: the shared
 * set, every control plane, every external etcd member (where the etcd CA's trust and leaves
 * live; control planes hold only etcd/ca.crt and their etcd client certificate) and every worker.
 * Abort runs unchecked: it is the way back from whatever state the files are in.
 */
export const verifyBeforeWriting: CheckBeforeWriting = async ({ step, layout }) => {
  if (step === 'abort' || step === 'ca-renew') return [];
  for (const location of layout.locations) {
    const { findings } = await verify(verifyOptionsOf(location, layout));
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const where = location.node && location.node !== 'local' ? `node ${location.node} (${location.role})` : location.certDir;
      const see = location.root ? `kpki verify --root ${location.root}` : `kpki verify --cert-dir ${location.certDir} --kubeconfig-dir ${location.kubeconfigDir}`;
      throw new KpkiError(ErrorCode.StaleFile, `verify finds ${errors.length} error(s) in ${where}: ${errors[0]!.subject}: ${errors[0]!.diagnosis}`, {
        subject: location.root ?? location.certDir,
        hint: `nothing was changed; see ${see} and fix them first`,
      });
    }
  }
  return [];
};

/** `kpki ca rotate STEP`: every step that changes files first verifies every location of the layout. */
export function rotateCa(options: RotateOptions): Promise<RotateResult> {
  return rotateWith(options, verifyBeforeWriting);
}

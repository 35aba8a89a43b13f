import type { Layout } from '../model/layout.js';
import type { Observed } from '../plan/decide.js';
import { authorityIn, refuseForeignKubeconfigs } from '../plan/trust.js';
import { observeLayoutFiles } from '../store/layout.js';

/**
 * Every file of a layout a day-2 run may need, read once under the lock (store/layout.ts), with
 * user kubeconfigs of another PKI refused before anything is decided.
 */
export async function readLayoutFiles(layout: Layout, apiServices: string[] = []): Promise<Observed> {
  const observed = await observeLayoutFiles(layout, apiServices);
  const ca = layout.profile.certificates.find((c) => c.name === 'ca');
  refuseForeignKubeconfigs(layout.kubeconfigs, observed, ca && authorityIn(observed, layout.signing.certDir, ca.name, ca.file));
  return observed;
}

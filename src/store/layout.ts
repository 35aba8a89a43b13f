import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import {
  clusterLayout,
  layoutDirs,
  layoutFiles,
  singleLayout,
  type Layout,
  type LayoutLocation,
  type LayoutOptions,
} from '../model/layout.js';
import { readRecordIfAny, RECORD_FILE } from './cluster-record.js';
import { pathExists, removeStaleTempFiles } from './files.js';
import { completePendingJournals } from './journal.js';
import { acquireLock } from './lock.js';
import { danglingSymlinks, observeFiles } from './observe.js';
import { loadProfile } from './profiles.js';
import { requireDirectory } from './tree.js';

/**
 * Finds what kpki manages: a cluster (its record next to the kubeconfigs) with a directory per
 * node, or a single-node PKI.
 */
export async function observeLayout(options: LayoutOptions): Promise<Layout> {
  const kubeconfigs = (options.kubeconfigs ?? []).map((file) => path.resolve(file));
  const missing = kubeconfigs.find((file) => !pathExists(file));
  if (missing) throw badFlag('--kubeconfig', `${missing} does not exist`, 'name user kubeconfigs kpki made (kpki kubeconfig user)');
  const certDir = options.certDir ?? DEFAULTS.certDir;
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(certDir);
  const recordFile = path.join(kubeconfigDir, RECORD_FILE);
  const data = await readRecordIfAny(recordFile);
  // A mistyped --cert-dir is that, not a PKI without CA keys.
  await requireDirectory(data?.settings.certDir ?? certDir, '--cert-dir');
  if (!data) return singleLayout(await loadProfile(options.profile), certDir, kubeconfigDir, kubeconfigs, options);
  const profile = await loadProfile(options.profile ?? data.settings.profile);
  return clusterLayout(profile, { file: recordFile, data }, options.nodesDir ?? data.settings.nodesDir, kubeconfigs, options);
}

/**
 * Locks every cert directory of the layout (a concurrent init, node add or day-2 run on any of
 * them is refused): the signing one first, under which `kpki node add` extends a cluster, then the
 * layout read again — with any node added meanwhile — and each of its directories in order.
 * Returns that layout and the release.
 */
export async function lockLayout(layout: Layout): Promise<{ layout: Layout; release: () => Promise<void> }> {
  const releases: (() => Promise<void>)[] = [];
  const release = async () => {
    for (const r of releases.reverse()) await r();
  };
  try {
    const lock = async (location: LayoutLocation) => {
      if (pathExists(location.certDir)) releases.push(await acquireLock(location.certDir));
    };
    await lock(layout.signing);
    const current = layout.record ? await observeLayout(layout.options) : layout;
    for (const location of current.locations) if (location !== current.signing) await lock(location);
    return { layout: current, release };
  } catch (error) {
    await release();
    throw error;
  }
}

/**
 * Runs a day-2 change with every directory of the layout locked, over the layout as it is then
 * (see lockLayout). A change a killed run had committed (the store's journal) is completed first
 * and reported through `resumed` — the files it finished — instead of starting a new one, so
 * rerunning a killed command finishes what it had started. Dry runs lock nothing.
 */
export async function underLayoutLock<T>(
  observed: Layout,
  dryRun: boolean | undefined,
  resumed: (completed: string[], layout: Layout) => T | Promise<T>,
  change: (layout: Layout) => Promise<T>,
): Promise<T> {
  if (dryRun) return change(observed);
  const { layout, release } = await lockLayout(observed);
  try {
    const completed: string[] = [];
    for (const location of layout.locations) completed.push(...(await completePendingJournals(location.certDir)));
    removeStaleTempFiles(layoutDirs(layout));
    return completed.length ? await resumed(completed, layout) : await change(layout);
  } finally {
    await release();
  }
}

/**
 * Reads the layout's files once, at a day-2 run's start (under the lock): its phases decide from
 * this alone. A symlink to nothing where a file belongs is an error, not a file that is absent.
 */
export async function observeLayoutFiles(layout: Layout, apiServices: string[] = []): Promise<ReadonlyMap<string, Buffer>> {
  const files = layoutFiles(layout, apiServices);
  const observed = await observeFiles(files);
  const [dangling] = danglingSymlinks(files.filter((f) => !observed.has(f)));
  if (dangling) {
    throw new KpkiError(ErrorCode.MissingFile, `${dangling.file}: is a dangling symlink (to ${dangling.target}, which does not exist)`, {
      subject: dangling.file,
      hint: 'restore the file it points to, or remove the link; nothing was changed',
    });
  }
  return observed;
}

import path from 'node:path';
import { removeStaleTempFiles } from '../store/files.js';
import { completePendingJournals } from '../store/journal.js';
import { lockLayout, type Layout } from './layout.js';

/** Directories a killed run may have left temp files in. */
function layoutDirs(layout: Layout): string[] {
  return layout.locations.flatMap((l) => [l.certDir, path.join(l.certDir, 'etcd'), l.kubeconfigDir, ...(l.kubeletPki ? [l.kubeletPki] : [])]);
}

/**
 * Runs a day-2 change with every directory of the layout locked, over the layout as it is then
 * (see lockLayout). A change a killed run had committed (the store's journal) is completed first
 * and reported through `resumed` — the files it finished — instead of starting a new one, so
 * rerunning a killed command finishes what it had started. Dry runs lock nothing.
 */
export async function underLock<T>(observed: Layout, dryRun: boolean | undefined, resumed: (completed: string[], layout: Layout) => T | Promise<T>, change: (layout: Layout) => Promise<T>): Promise<T> {
  if (dryRun) return change(observed);
  const { layout, release } = await lockLayout(observed);
  try {
    const completed: string[] = [];
    for (const location of layout.locations) completed.push(...(await completePendingJournals(location.certDir)));
    await removeStaleTempFiles(layoutDirs(layout));
    return completed.length ? await resumed(completed, layout) : await change(layout);
  } finally {
    await release();
  }
}

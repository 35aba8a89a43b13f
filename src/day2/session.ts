import path from 'node:path';
import { removeStaleTempFiles } from '../store/files.js';
import { completeJournal, type Journal } from './journal.js';
import { lockLayout, type Layout } from './layout.js';

/** Directories a killed run may have left temp files in. */
function layoutDirs(layout: Layout): string[] {
  return layout.locations.flatMap((l) => [l.certDir, path.join(l.certDir, 'etcd'), l.kubeconfigDir, ...(l.kubeletPki ? [l.kubeletPki] : [])]);
}

/**
 * Runs a day-2 change with every directory of the layout locked. An interrupted change found in
 * the journal is completed first and reported through `resumed` instead of starting a new one,
 * so rerunning a killed command finishes exactly what it had started. Dry runs lock nothing.
 */
export async function underLock<T>(layout: Layout, dryRun: boolean | undefined, resumed: (journal: Journal) => T | Promise<T>, change: () => Promise<T>): Promise<T> {
  if (dryRun) return change();
  const release = await lockLayout(layout);
  try {
    await removeStaleTempFiles(layoutDirs(layout));
    const journal = await completeJournal(layout.signing.certDir);
    return journal ? await resumed(journal) : await change();
  } finally {
    await release();
  }
}

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FileChange, FileRemoval, FileWrite } from '../plan/steps.js';
import { syncDirectories } from './files.js';
import { writeFilesTogether, type WriteHooks } from './journal.js';

const isRemoval = (change: FileChange): change is FileRemoval => 'remove' in change;

/**
 * Applies a set of changes through the journal (all old or all new; a killed run is completed by
 * the next one), then removes what the set retires. Removals come last and are idempotent: a run
 * killed among them leaves only leftovers the next run clears. Returns the paths it changed.
 */
export async function applyChanges(journalDir: string, changes: FileChange[], hooks: WriteHooks = {}): Promise<string[]> {
  const writes = changes.filter((c): c is FileWrite => !isRemoval(c));
  await writeFilesTogether(journalDir, writes, hooks);
  const removals = changes.filter(isRemoval);
  for (const removal of removals) await fs.rm(removal.path, { force: true });
  if (removals.length) await syncDirectories(removals.map((r) => path.dirname(r.path)));
  return changes.map((c) => c.path);
}

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { syncDirectories } from '../store/files.js';
import { writeFilesTogether } from '../store/journal.js';

/** One file a day-2 step writes, or removes when `data` is undefined. */
export interface FileWrite {
  path: string;
  data: string | Buffer | undefined;
  mode: number;
}

/**
 * Applies a step's files as one set through the store's journal (all old or all new; a killed
 * run is completed by the next one), then removes what the step retires. Removals come last and
 * are idempotent: a run killed among them leaves only leftovers the next run clears.
 */
export async function applyChanges(journalDir: string, changes: FileWrite[]): Promise<void> {
  const writes = changes.filter((c): c is FileWrite & { data: string | Buffer } => c.data !== undefined);
  await writeFilesTogether(journalDir, writes);
  const removals = changes.filter((c) => c.data === undefined);
  for (const removal of removals) await fs.rm(removal.path, { force: true });
  if (removals.length) await syncDirectories(removals.map((r) => path.dirname(r.path)));
}

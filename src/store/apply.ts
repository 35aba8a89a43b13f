import type { FileWrite } from '../model/files.js';
import { writeFilesTogether, type WriteHooks } from './journal.js';

/**
 * Applies a set of files through the journal: all old or all new, and a killed run is completed
 * by the next one. Returns the paths it wrote.
 */
export async function applyChanges(journalDir: string, writes: FileWrite[], hooks: WriteHooks = {}): Promise<string[]> {
  await writeFilesTogether(journalDir, writes, hooks);
  return writes.map((w) => w.path);
}

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { stageFile, syncDirectories, writeFileAtomic } from './files.js';
import type { FileWrite } from '../plan/steps.js';

/**
 * Files replaced as one unit (a certificate and its key, a kubeconfig and its files, a node's
 * copies): on disk there is always the old set or the new set, or a journal that the next write
 * command in the directory completes before doing anything else.
 *
 * The protocol: every new file is staged under a temp name and synced; the journal naming the
 * staged files and their targets is written atomically (the commit point); the staged files
 * are renamed over their targets; the journal is removed. Killed before the commit, the old set
 * is untouched and the staged files are dead temp files (removed by the next run); killed after
 * it, the journal says which renames to (re)do, and renaming is idempotent.
 */

export type { FileWrite };

const JOURNAL_PREFIX = '.kpki.journal-';

interface JournalEntry {
  /** Both relative to the journal's directory, so a moved tree still recovers. */
  target: string;
  staged: string;
}

export interface WriteHooks {
  /** Checked before each file is staged (aborting before the commit leaves the old set whole): throws `error()`. */
  abort?: { signal: AbortSignal | undefined; error: () => Error };
  onStaged?: () => void;
}

function checkAbort(hooks: WriteHooks): void {
  if (hooks.abort?.signal?.aborted) throw hooks.abort.error();
}

async function applyJournal(journal: string, entries: JournalEntry[]): Promise<string[]> {
  const dir = path.dirname(journal);
  const targets = entries.map((e) => path.resolve(dir, e.target));
  for (const [i, entry] of entries.entries()) {
    try {
      await fs.rename(path.resolve(dir, entry.staged), targets[i]!);
    } catch (error) {
      // Gone: renamed by the run that was killed, or by an earlier recovery.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new KpkiError(ErrorCode.WriteFailed, `${targets[i]}: cannot replace: ${(error as Error).message}`, { subject: targets[i] });
      }
    }
  }
  await syncDirectories(targets.map((t) => path.dirname(t)));
  await fs.rm(journal, { force: true });
  await syncDirectories([dir]);
  return targets;
}

/**
 * Writes files so that they change together. One file needs no journal: its rename is atomic.
 * The journal lives in `journalDir`, which the caller holds locked (see withWriteLock in lock.ts).
 */
export async function writeFilesTogether(journalDir: string, writes: FileWrite[], hooks: WriteHooks = {}): Promise<void> {
  if (writes.length === 1) {
    checkAbort(hooks);
    await writeFileAtomic(writes[0]!.path, writes[0]!.data, writes[0]!.mode);
    hooks.onStaged?.();
    return;
  }
  if (!writes.length) return;
  const staged: (string | undefined)[] = [];
  const journal = path.join(journalDir, `${JOURNAL_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  let committed = false;
  try {
    await Promise.all(
      writes.map(async (write, i) => {
        checkAbort(hooks);
        staged[i] = await stageFile(write.path, write.data, write.mode);
        hooks.onStaged?.();
      }),
    );
    // The staged names must be durable before a journal refers to them.
    await syncDirectories(writes.map((w) => path.dirname(w.path)));
    const relative = (file: string) => path.relative(journalDir, path.resolve(file));
    const entries = writes.map((w, i) => ({ target: relative(w.path), staged: relative(staged[i]!) }));
    await writeFileAtomic(journal, `${JSON.stringify({ entries }, null, 2)}\n`, 0o600);
    committed = true;
    await syncDirectories([journalDir]);
    await applyJournal(journal, entries);
  } catch (error) {
    // Not committed: drop what was staged. Committed: the journal keeps it for the next run.
    if (!committed) await Promise.all(staged.map((s) => s && fs.rm(s, { force: true })));
    throw error;
  }
}

function readJournal(file: string, text: string): JournalEntry[] {
  try {
    const { entries } = JSON.parse(text) as { entries: JournalEntry[] };
    if (Array.isArray(entries) && entries.every((e) => typeof e?.target === 'string' && typeof e?.staged === 'string')) return entries;
  } catch {
    // Reported below.
  }
  throw badInput(file, 'is not a kpki journal', 'it records an interrupted replacement; restore it, or remove it and check the files it names');
}

/** Journals a killed run committed in `dir` and nobody completed yet. */
export async function pendingJournals(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(JOURNAL_PREFIX)).sort().map((n) => path.join(dir, n));
}

/** Completes every replacement a killed run committed in `dir`; returns the files it finished. */
export async function completePendingJournals(dir: string): Promise<string[]> {
  const completed: string[] = [];
  for (const file of await pendingJournals(dir)) {
    completed.push(...(await applyJournal(file, readJournal(file, await fs.readFile(file, 'utf8')))));
  }
  return completed;
}

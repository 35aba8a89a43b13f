import type { FileWrite } from '../model/files.js';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomHex } from '../pki/random.js';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { listOrNothing, readOptional, stageFile, syncDirectories, writeFileAtomic } from './files.js';
import { prepareSwitch, resolveTarget, switchGeneration } from './generations.js';

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
 *
 * What a reader sees during a write. kube-apiserver, etcd, kubelet, kubeadm and Go's
 * tls.LoadX509KeyPair open a pair's certificate and key by their kubeadm names, one after the
 * other; no scheme on disk makes two opens at two instants agree when both files change. So:
 * - A renewal keeps the key (plan/renewal.ts, as kubeadm does) and writes only the certificate:
 *   one rename, and a reader sees old certificate + key or new certificate + the same key.
 * - A write that changes a private key (--new-key, a rotation's CA keys, a key-type change,
 *   `--renew sa`) switches its directory as a whole (generations.ts): kubeadm's names become
 *   links through `..data`, and one rename of `..data` changes every file of the set at once.
 *   After a crash at any instant each pair resolves to the old set or the new one, with no rerun;
 *   a reader that opens the two names across that one rename sees one old and one new file
 *   (it reads again, as kubelet and the apiserver do on their next reload).
 * - A kubeconfig is one file holding its certificate, key and CA data: one rename.
 * The journal then only ties the units (plain renames and directory switches) of one set together.
 */

const JOURNAL_PREFIX = '.kpki.journal-';

/** Paths relative to the journal's directory, so a moved tree still recovers. `names`: the files a switch changes. */
type JournalEntry = { target: string; staged: string } | { dir: string; generation: string; names: string[] };

export interface WriteHooks {
  /** Checked before each file is staged (aborting before the commit leaves the old set whole): throws `error()`. */
  abort?: { signal: AbortSignal | undefined; error: () => Error };
  onStaged?: () => void;
}

function checkAbort(hooks: WriteHooks): void {
  if (hooks.abort?.signal?.aborted) throw hooks.abort.error();
}

/**
 * Carries out one unit: a rename of a staged file, or a directory's switch (which syncs its own
 * directory). Returns the files it changed; a rename is durable once the caller syncs their directory.
 */
async function applyEntry(dir: string, entry: JournalEntry): Promise<string[]> {
  if ('generation' in entry) {
    const switched = path.resolve(dir, entry.dir);
    await switchGeneration(switched, entry.generation);
    return entry.names.map((name) => path.join(switched, name));
  }
  const target = path.resolve(dir, entry.target);
  try {
    renameSync(path.resolve(dir, entry.staged), target);
  } catch (error) {
    // Gone: renamed by the run that was killed, or by an earlier recovery.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new KpkiError(ErrorCode.WriteFailed, `${target}: cannot replace: ${(error as Error).message}`, { subject: target });
    }
  }
  return [target];
}

/** Applies a journal's units in order; each directory they renamed into is synced once, before the journal goes. */
async function applyJournal(journal: string, entries: JournalEntry[]): Promise<string[]> {
  const dir = path.dirname(journal);
  const changed: string[] = [];
  for (const entry of entries) changed.push(...(await applyEntry(dir, entry)));
  await syncDirectories(changed.map((file) => path.dirname(file)));
  rmSync(journal, { force: true });
  await syncDirectories([dir]);
  return changed;
}

/** A PEM private key, as Go's X509KeyPair finds one (`PRIVATE KEY`, `EC PRIVATE KEY`, …). */
const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/**
 * Whether writing `group` (files of one directory) changes a private key beside files that exist:
 * a key replaced, or a missing one written next to its certificate. Then its pair's two files
 * change, and only a switch of the whole directory keeps them agreeing at every instant. A set
 * written where nothing exists yet (a new PKI, a new entry) has no old pair to keep.
 */
async function changesKey(group: FileWrite[], targets: Map<FileWrite, string>): Promise<boolean> {
  const existing = await Promise.all(group.map((w) => readOptional(targets.get(w)!)));
  const keyChanges = group.some((w, i) => PRIVATE_KEY_PEM.test(w.data.toString()) && !existing[i]?.equals(Buffer.from(w.data)));
  return keyChanges && existing.some((e) => e !== undefined);
}

/**
 * The set's units: directories switched as a whole (where a key changes) and single files renamed
 * into place, with where each write goes (`resolveTarget`: switching one directory moves no other's links).
 */
async function unitsOf(
  writes: FileWrite[],
): Promise<{ switched: Map<string, FileWrite[]>; single: FileWrite[]; targets: Map<FileWrite, string> }> {
  const targets = new Map(writes.map((w) => [w, resolveTarget(w.path)] as const));
  const byDir = new Map<string, FileWrite[]>();
  for (const write of writes) {
    const dir = path.dirname(path.resolve(write.path));
    byDir.set(dir, [...(byDir.get(dir) ?? []), write]);
  }
  const switched = new Map<string, FileWrite[]>();
  const single: FileWrite[] = [];
  for (const [dir, group] of byDir) {
    if (await changesKey(group, targets)) switched.set(dir, group);
    else single.push(...group);
  }
  return { switched, single, targets };
}

/**
 * Writes files so that they change together. One unit needs no journal: its rename is atomic.
 * The journal lives in `journalDir`, which the caller holds locked (see withWriteLock in lock.ts).
 */
export async function writeFilesTogether(journalDir: string, writes: FileWrite[], hooks: WriteHooks = {}): Promise<void> {
  if (!writes.length) return;
  const { switched, single, targets } = await unitsOf(writes);
  const staged: (string | undefined)[] = [];
  const entries: JournalEntry[] = [];
  const relative = (file: string) => path.relative(journalDir, path.resolve(file));
  let committed = false;
  try {
    // One directory at a time: a switch's preparation reads what the previous one left.
    for (const [dir, group] of switched) {
      checkAbort(hooks);
      const generation = await prepareSwitch(
        dir,
        group.map((w) => ({ name: path.basename(w.path), data: w.data, mode: w.mode })),
      );
      staged.push(path.join(dir, generation));
      entries.push({ dir: relative(dir), generation, names: group.map((w) => path.basename(w.path)) });
      group.forEach(() => hooks.onStaged?.());
    }
    await Promise.all(
      single.map(async (write) => {
        checkAbort(hooks);
        // Staged beside the name (where a killed run's temp files are looked for), renamed through its link.
        const file = await stageFile(write.path, write.data, write.mode);
        staged.push(file);
        entries.push({ target: relative(targets.get(write)!), staged: relative(file) });
        hooks.onStaged?.();
      }),
    );
    if (entries.length === 1) {
      committed = true;
      await syncDirectories((await applyEntry(journalDir, entries[0]!)).map((file) => path.dirname(file)));
      return;
    }
    // The staged names must be durable before a journal refers to them.
    checkAbort(hooks);
    await syncDirectories([...single.map((w) => path.dirname(path.resolve(w.path))), ...switched.keys()]);
    const journal = path.join(journalDir, `${JOURNAL_PREFIX}${process.pid}-${randomHex(4)}`);
    await writeFileAtomic(journal, `${JSON.stringify({ entries }, null, 2)}\n`, 0o600);
    committed = true;
    await syncDirectories([journalDir]);
    await applyJournal(journal, entries);
  } catch (error) {
    // Not committed: drop what was staged. Committed: the journal keeps it for the next run.
    if (!committed) for (const s of staged) if (s) rmSync(s, { recursive: true, force: true });
    throw error;
  }
}

function readJournal(file: string, text: string): JournalEntry[] {
  try {
    const { entries } = JSON.parse(text) as { entries: JournalEntry[] };
    const valid = (e: Partial<Record<string, unknown>>) =>
      (typeof e?.target === 'string' && typeof e?.staged === 'string') ||
      (typeof e?.dir === 'string' && typeof e?.generation === 'string' && Array.isArray(e?.names));
    if (Array.isArray(entries) && entries.every(valid)) return entries;
  } catch {
    // Reported below.
  }
  throw badInput(
    file,
    'is not a kpki journal',
    'it records an interrupted replacement; restore it, or remove it and check the files it names',
  );
}

/** Journals a killed run committed in `dir` and nobody completed yet. */
export function pendingJournals(dir: string): string[] {
  return listOrNothing(dir)
    .filter((n) => n.startsWith(JOURNAL_PREFIX))
    .sort()
    .map((n) => path.join(dir, n));
}

/** Completes every replacement a killed run committed in `dir`; returns the files it finished. */
export async function completePendingJournals(dir: string): Promise<string[]> {
  const completed: string[] = [];
  for (const file of pendingJournals(dir)) {
    completed.push(...(await applyJournal(file, readJournal(file, readFileSync(file, 'utf8')))));
  }
  return completed;
}

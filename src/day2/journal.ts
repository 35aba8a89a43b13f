import { promises as fs } from 'node:fs';
import path from 'node:path';
import { badInput } from '../errors.js';
import { readOptional, syncDirectories, writeFileAtomic } from '../store/files.js';

/** One file a day-2 operation writes (or removes, when `data` is undefined). */
export interface FileWrite {
  path: string;
  data: string | Buffer | undefined;
  mode: number;
}

const JOURNAL_FILE = '.kpki-day2-journal.json';

interface JournalRecord {
  /** What the journaled run was: `renew`, `ca renew ca`, `ca rotate begin`, … */
  operation: string;
  writes: { path: string; data: string | null; mode: number }[];
}

export interface Journal {
  operation: string;
  writes: FileWrite[];
}

const journalPath = (dir: string) => path.join(dir, JOURNAL_FILE);

/** An interrupted run's journal, if one is left in the locked directory. */
export async function readJournal(dir: string): Promise<Journal | undefined> {
  const file = journalPath(dir);
  const data = await readOptional(file);
  if (!data) return undefined;
  let record: JournalRecord;
  try {
    record = JSON.parse(data.toString('utf8')) as JournalRecord;
  } catch {
    // Written atomically, so a torn journal means someone edited it; refusing is the safe answer.
    throw badInput(file, 'is not a readable kpki journal', 'restore the files from a backup, then remove it');
  }
  return {
    operation: record.operation,
    writes: record.writes.map((w) => ({ path: w.path, data: w.data === null ? undefined : Buffer.from(w.data, 'base64'), mode: w.mode })),
  };
}

async function applyWrites(writes: FileWrite[]): Promise<void> {
  for (const write of writes) {
    if (write.data === undefined) await fs.rm(write.path, { force: true });
    else if (!(await readOptional(write.path))?.equals(Buffer.from(write.data))) await writeFileAtomic(write.path, write.data, write.mode);
  }
  await syncDirectories(writes.map((w) => path.dirname(w.path)).filter((d, i, all) => all.indexOf(d) === i));
}

/**
 * Writes a set of files as one change: the whole set (keys included, so the journal is 0600) is
 * recorded first, then applied file by file, then the record is removed. A run killed at any
 * instant leaves either no journal (old or new set complete) or a journal that `completeJournal`
 * replays, so rerunning finishes the change instead of mixing old and new files.
 */
export async function commitWrites(dir: string, operation: string, writes: FileWrite[]): Promise<void> {
  if (!writes.length) return;
  const record: JournalRecord = {
    operation,
    writes: writes.map((w) => ({ path: path.resolve(w.path), data: w.data === undefined ? null : Buffer.from(w.data).toString('base64'), mode: w.mode })),
  };
  await writeFileAtomic(journalPath(dir), JSON.stringify(record), 0o600);
  await syncDirectories([dir]);
  await applyWrites(writes);
  await fs.rm(journalPath(dir), { force: true });
  await syncDirectories([dir]);
}

/** Replays an interrupted change; returns what it was, or undefined when nothing was pending. */
export async function completeJournal(dir: string): Promise<Journal | undefined> {
  const journal = await readJournal(dir);
  if (!journal) return undefined;
  await applyWrites(journal.writes);
  await fs.rm(journalPath(dir), { force: true });
  await syncDirectories([dir]);
  return journal;
}

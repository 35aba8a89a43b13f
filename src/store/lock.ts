import { randomHex, sha256Hex } from '../pki/random.js';
import { closeSync, constants, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { ErrorCode, KpkiError } from '../errors.js';
import { isAlive, listOrNothing, removeStaleTempFiles, writeError } from './files.js';
import { completePendingJournals } from './journal.js';

const LOCK_FILE = '.kpki.lock';
const TAKEOVER = '.takeover-';
/** Takeovers of takeovers (each one a run killed inside a takeover): more means someone is meddling. */
const MAX_TAKEOVER_DEPTH = 4;

/** A lock file's content and what it says about its owner. */
interface LockContent {
  text: string;
  /** Names this exact lock file: a fresh nonce per run, so a replaced lock never looks like its predecessor. */
  identity: string;
  pid: number;
  /** True when the owner is still running, or may be: another host's pid cannot be checked. */
  live: boolean;
}

// Synchronous, as every step of the store's writes (files.ts says why).
function readLock(file: string): LockContent | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw lockError(file, error);
  }
  // `pid host nonce`; a bare pid (older kpki, or written by hand) is from this host.
  const [pidText, host = hostname()] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  const live = host !== hostname() || (Number.isInteger(pid) && pid > 0 && isAlive(pid));
  return { text, identity: sha256Hex(text).slice(0, 16), pid, live };
}

const lockError = (file: string, error: unknown): KpkiError => writeError(path.dirname(file), error, 'create a lock');

/** A complete file holding `content`, under a temp name that a dead run's cleanup recognises. */
function tokenFile(dir: string, content: string): string {
  const file = path.join(dir, `.lock.kpki-tmp-${process.pid}-${randomHex(4)}`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    throw writeError(dir, error, 'create a lock');
  }
  try {
    writeFileSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return file;
}

/**
 * Makes `file` hold `content` unless a live owner holds it; returns false when one does.
 *
 * Why exactly one of many runs wins: `link` creates the name only if it does not exist, with
 * the content already complete (no reader ever sees an empty lock). A lock whose owner is dead
 * is replaced only by `rename` over it, and only by the run that first claimed the takeover
 * marker named after that lock's identity, and only after re-reading it under the marker. The
 * marker is claimed with this same function, so a run killed mid-takeover leaves a marker that
 * the next run takes over in turn. Identities carry a fresh nonce, so a replaced lock never
 * comes back under an old name, and a late run holding an old marker finds the lock changed.
 */
function claim(file: string, content: string, depth = 0): boolean {
  if (depth > MAX_TAKEOVER_DEPTH) return false;
  const dir = path.dirname(file);
  const token = tokenFile(dir, content);
  try {
    for (;;) {
      try {
        linkSync(token, file);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(file, error);
      }
      const current = readLock(file);
      if (!current) continue; // released between our link and our read
      if (current.live) return false;
      const marker = `${file}${TAKEOVER}${current.identity}`;
      if (!claim(marker, content, depth + 1)) return false;
      try {
        if (readLock(file)?.identity !== current.identity) continue;
        renameSync(token, file);
        return true;
      } finally {
        rmSync(marker, { force: true });
      }
    }
  } finally {
    rmSync(token, { force: true });
  }
}

/** Markers of takeovers whose runs were killed: harmless once the lock has moved on, so the holder removes them. */
function removeTakeoverMarkers(lockFile: string): void {
  const dir = path.dirname(lockFile);
  const prefix = `${path.basename(lockFile)}${TAKEOVER}`;
  for (const name of listOrNothing(dir)) if (name.startsWith(prefix)) rmSync(path.join(dir, name), { force: true });
}

export interface LockOptions {
  /** Wait this long for a live owner to finish instead of failing at once. */
  waitMs?: number;
  /** Another lock in the same directory (the cluster record's), default `.kpki.lock`. */
  name?: string;
}

/**
 * Takes an exclusive lock on a directory (`.kpki.lock`, holding our pid, host and a nonce). A lock
 * whose owner is gone is taken over atomically (see claim), so a crashed run never blocks the
 * next one and of many runs that find the same dead owner exactly one proceeds.
 */
export async function acquireLock(dir: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const lockFile = path.join(dir, options.name ?? LOCK_FILE);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw writeError(dir, error, 'create directory');
  }
  const content = `${process.pid} ${hostname()} ${randomHex(8)}\n`;
  const deadline = Date.now() + (options.waitMs ?? 0);
  while (!claim(lockFile, content)) {
    if (Date.now() >= deadline) {
      const owner = readLock(lockFile);
      const holder =
        owner && !owner.live
          ? 'is being taken over by another kpki run'
          : `is locked by another kpki run${owner ? ` (pid ${owner.pid})` : ''}`;
      throw new KpkiError(ErrorCode.Locked, `${dir} ${holder}`, {
        subject: lockFile,
        hint: `wait for it to finish; if no kpki is running, remove ${lockFile}`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 50));
  }
  removeTakeoverMarkers(lockFile);
  // Synchronous on purpose: after an interrupt the thread pool may be busy generating keys,
  // and the lock must go before the process exits. Only our own lock is removed.
  return async () => {
    try {
      if (readFileSync(lockFile, 'utf8') === content) rmSync(lockFile, { force: true });
    } catch {
      // Already gone.
    }
  };
}

/**
 * What every write command does: lock the directory, finish any replacement a killed run left
 * half done there (journal.ts) and drop the temp files it never committed, run `write`, release.
 * `write` gets the files the recovery completed.
 */
export async function withWriteLock<T>(dir: string, write: (completed: string[]) => Promise<T>, options: LockOptions = {}): Promise<T> {
  const release = await acquireLock(dir, options);
  try {
    const completed = await completePendingJournals(dir);
    removeStaleTempFiles([dir]);
    return await write(completed);
  } finally {
    await release();
  }
}

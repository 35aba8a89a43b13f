import { randomHex } from '../pki/random.js';
import {
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  fsync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, KpkiError } from '../errors.js';
import { ioError, readBounded } from './bounded-read.js';

const TEMP_MARK = '.kpki-tmp-';

/**
 * Writes are made of short calls (open, write, mode, rename, mkdir), made synchronously: each would
 * otherwise cost a trip through the thread pool worth several times the call. Only the flush waits
 * for the disk; it goes through the thread pool, so that the files of a set flush side by side.
 * (Not fs.promises: its first use also loads Node's readline and file watchers.)
 */
const flush = promisify(fsync);

/** A failed read of `file` (or of a directory), as a one-line error naming it. */
export const readError = (file: string, error: unknown): KpkiError => ioError(file, error as NodeJS.ErrnoException);

/**
 * Reads a file, or returns undefined when it does not exist; other failures name the file. Bounded
 * as verify's reads are: a file far larger than any PKI file is refused unread, a loop named.
 */
export async function readOptional(file: string): Promise<Buffer | undefined> {
  return (await readBounded(file))?.data;
}

export async function readRequired(file: string, what: string): Promise<Buffer> {
  const data = await readOptional(file);
  if (data === undefined) {
    throw new KpkiError(ErrorCode.MissingFile, `${file}: no such file`, { subject: file, hint: `give the path of ${what}` });
  }
  return data;
}

/** Creates `file` (which must not exist) holding `data` with exactly `mode`, synced. */
export async function createSynced(file: string, data: string | Buffer, mode: number): Promise<void> {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    writeFileSync(fd, data);
    // The umask may have narrowed the mode; a key must be 0600 and a cert 0644 regardless.
    fchmodSync(fd, mode);
    await flush(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to a new temp file beside `file` with the final mode, synced; returns its path. */
export async function stageFile(file: string, data: string | Buffer, mode: number): Promise<string> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}${TEMP_MARK}${process.pid}-${randomHex(4)}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    await createSynced(temp, data, mode);
    return temp;
  } catch (error) {
    rmSync(temp, { force: true });
    throw writeError(file, error);
  }
}

/**
 * A failed write of `file` (or of a directory, or a lock in one), as one line naming it: every
 * write path (init, node add, day 2, their locks) reports through here.
 */
export function writeError(file: string, error: unknown, what = 'write'): KpkiError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const why = code === 'EROFS' ? 'read-only file system' : 'permission denied';
    return new KpkiError(ErrorCode.WriteFailed, `${file}: cannot ${what} (${why})`, {
      subject: file,
      hint: 'run as a user that can write there (root on a node); nothing was changed',
    });
  }
  return new KpkiError(ErrorCode.WriteFailed, `${file}: cannot ${what}: ${(error as Error).message}`, {
    subject: file,
    hint: 'check that the directory is writable and the disk is not full',
  });
}

/**
 * Writes a file so that readers see either the old or the new content, never a partial one:
 * temp file with the final mode, fsync, rename. The rename is durable once the directory is
 * synced: callers writing many files call syncDirectories once at the end.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const temp = await stageFile(file, data, mode);
  try {
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw writeError(file, error);
  }
}

/** Makes renames into these directories durable. */
export async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(dirs)].map(async (dir) => {
      const fd = openSync(dir, 'r');
      try {
        await flush(fd);
      } finally {
        closeSync(fd);
      }
    }),
  );
}

/** Removes temp files a killed run left behind; they were never renamed into place. */
export function removeStaleTempFiles(dirs: string[]): void {
  for (const dir of dirs) {
    for (const name of listOrNothing(dir)) {
      const pid = Number(/\.kpki-tmp-(\d+)-/.exec(name)?.[1]);
      if (name.startsWith('.') && pid && !isAlive(pid)) rmSync(path.join(dir, name), { force: true });
    }
  }
}

/** Whether a process runs on this host (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether anything exists at `file`. */
export function pathExists(file: string): boolean {
  try {
    accessSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Removes a directory and everything under it; nothing when it is absent. */
export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Where a symlink points; undefined for anything else, or nothing. */
export function linkTarget(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}

/** A directory's entries; none when it cannot be listed (absent, or not a directory). */
export function listOrNothing(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

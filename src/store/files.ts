import { randomBytes } from 'node:crypto';
import { constants, promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { badInput, ErrorCode, KpkiError } from '../errors.js';

const TEMP_MARK = '.kpki-tmp-';

/** Reads a file, or returns undefined when it does not exist; other failures name the file. */
export async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR') throw badInput(file, 'is a directory, expected a file');
    if (code === 'EACCES') throw badInput(file, 'cannot be read (permission denied)', 'run as a user that can read it');
    throw badInput(file, `cannot be read: ${(error as Error).message}`);
  }
}

/** True for data that is not text: control characters, or bytes that were not UTF-8. */
export const isBinaryText = (text: string): boolean => /[\x00-\x08\x0e-\x1f]/.test(text) || text.includes('\uFFFD');

export async function readRequired(file: string, what: string): Promise<Buffer> {
  const data = await readOptional(file);
  if (data === undefined) {
    throw new KpkiError(ErrorCode.MissingFile, `${file}: no such file`, { subject: file, hint: `give the path of ${what}` });
  }
  return data;
}

/**
 * Writes a file so that readers see either the old or the new content, never a partial one:
 * temp file with the final mode, fsync, rename. The rename is durable once the directory is
 * synced: callers writing many files call syncDirectories once at the end.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await handle.writeFile(data);
      // The umask may have narrowed the mode; a key must be 0600 and a cert 0644 regardless.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw new KpkiError(ErrorCode.WriteFailed, `${file}: cannot write: ${(error as Error).message}`, {
      subject: file,
      hint: 'check that the directory is writable and the disk is not full',
    });
  }
}

/** Makes renames into these directories durable. */
export async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(dirs)].map(async (dir) => {
      const handle = await fs.open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }),
  );
}

/** Removes temp files a killed run left behind; they were never renamed into place. */
export async function removeStaleTempFiles(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const pid = Number(/\.kpki-tmp-(\d+)-/.exec(name)?.[1]);
      if (name.startsWith('.') && pid && !isAlive(pid)) await fs.rm(path.join(dir, name), { force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock on a directory (a lock file holding our pid). A lock whose owner is
 * gone is taken over, so a crashed run never blocks the next one.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const lockFile = path.join(dir, '.kpki.lock');
  await fs.mkdir(dir, { recursive: true, mode: 0o755 }).catch((error: Error) => {
    throw new KpkiError(ErrorCode.WriteFailed, `${dir}: cannot create directory: ${error.message}`, { subject: dir });
  });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      // Synchronous on purpose: after an interrupt the thread pool may be busy generating keys,
      // and the lock must go before the process exits.
      return async () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KpkiError(ErrorCode.WriteFailed, `${lockFile}: cannot create lock: ${(error as Error).message}`, {
          subject: lockFile,
        });
      }
      const owner = Number((await fs.readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (owner && isAlive(owner)) {
        throw new KpkiError(ErrorCode.Locked, `${dir} is locked by another kpki run (pid ${owner})`, {
          subject: lockFile,
          hint: `wait for it to finish; if no kpki is running, remove ${lockFile}`,
        });
      }
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new KpkiError(ErrorCode.Locked, `${dir}: could not take the lock`, { subject: lockFile, hint: 'retry' });
}

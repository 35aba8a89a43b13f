import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { badInput } from '../errors.js';

/**
 * Reads of the files verify is given or finds named: bounded in size (a 50 MB file where a
 * certificate belongs is rejected unread), symlink loops named as such.
 */

/** Far above any certificate, key, bundle, kubeconfig or manifest; a file this big is not one. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;
export const LOOP_HINT = 'a symlink points back at itself; fix the link';

/** A failed read of `file` (or of a directory), as one line naming it. */
export function ioError(file: string, error: NodeJS.ErrnoException) {
  switch (error.code) {
    case 'ELOOP':
      return badInput(file, 'is a symlink loop (too many levels of symbolic links)', LOOP_HINT);
    case 'EACCES':
    case 'EPERM':
      return badInput(file, 'cannot be read (permission denied)', 'run as a user that can read it (root on a node)');
    case 'EISDIR':
      return badInput(file, 'is a directory, expected a file');
    case 'ENOTDIR':
      return badInput(file, 'has a path component that is not a directory');
    default:
      return badInput(file, `cannot be read: ${error.message}`);
  }
}

export interface ReadFile {
  data: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/**
 * A regular file's bytes and ownership, or undefined when it does not exist; KpkiError (BadInput) for anything else.
 * Read synchronously: verify reads some thirty small files one after another, and each asynchronous
 * step (open, stat, read, close) would cost a trip through the thread pool. O_NONBLOCK keeps a FIFO
 * from blocking the open; it is then refused as not a regular file.
 */
export async function readBounded(file: string, limit = MAX_INPUT_BYTES): Promise<ReadFile | undefined> {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(file, error as NodeJS.ErrnoException);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw badInput(file, 'is a directory, expected a file');
    if (!stat.isFile()) throw badInput(file, 'is not a regular file');
    if (stat.size > limit) {
      throw badInput(
        file,
        `is ${megabytes(stat.size)}, far larger than any certificate, key or kubeconfig (limit ${megabytes(limit)})`,
        'point the flag at the right file',
      );
    }
    const data = readFileSync(fd);
    return { data, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code) throw ioError(file, error as NodeJS.ErrnoException);
    throw error;
  } finally {
    closeSync(fd);
  }
}

/** A user-given input file (flags, manifests, APIServices): bounded, and an error when missing. */
export async function readInput(file: string, what: string): Promise<Buffer> {
  const read = await readBounded(file);
  if (!read) throw badInput(file, 'no such file', `give the path of ${what}`);
  return read.data;
}

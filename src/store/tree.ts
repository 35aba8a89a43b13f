import { readdir, stat } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { LOOP_HINT, readBounded } from './bounded-read.js';
import { readError } from './files.js';
import { isSwitchEntry } from './generations.js';

/** Directories as a whole: listing them, walking them, and whether something is there. */

// node:fs's callbacks, promisified: the first use of fs.promises loads Node's readline and file
// watchers with it, ~2 ms of a read command, which touches the file system here only.
const fs = { readdir: promisify(readdir), stat: promisify(stat) };

/** A directory's entries, or a one-line error naming it. */
export async function listDirectory(dir: string, flag: string, hint: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOTDIR'
        ? 'is a file, not a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'cannot be read (permission denied)'
          : code === 'ENOENT'
            ? 'does not exist'
            : code === 'ELOOP'
              ? 'is a symlink loop'
              : `cannot be read: ${(error as Error).message}`;
    throw badInput(dir, `${problem} (${flag})`, hint);
  }
}

const PKI_FILE = /\.(crt|key|pub|pem)$/;
/** A kubeadm tree has a dozen files; a directory with thousands is not a PKI directory. */
const MAX_PKI_FILES = 2000;
const MAX_PKI_DEPTH = 4;

/** Every certificate, key and public key file below a PKI directory (symlinked folders not followed). */
export async function pkiFiles(certDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    // Code-unit order: localeCompare's first call loads ICU's collator (~6 ms).
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (isSwitchEntry(entry.name)) continue;
      const file = path.join(dir, entry.name);
      if (entry.isDirectory() && depth < MAX_PKI_DEPTH) await walk(file, depth + 1);
      else if ((entry.isFile() || entry.isSymbolicLink()) && PKI_FILE.test(entry.name)) found.push(file);
      if (found.length > MAX_PKI_FILES)
        throw badInput(
          certDir,
          `holds more than ${MAX_PKI_FILES} certificate and key files: not a PKI directory`,
          'point --cert-dir at a PKI directory such as /etc/kubernetes/pki',
        );
    }
  };
  const top = await listDirectory(certDir, '--cert-dir', 'point --cert-dir at a PKI directory such as /etc/kubernetes/pki');
  if (!top.length) return found;
  await walk(certDir, 0);
  return found;
}

/** True when something is at `file` (an unreadable one too: reading it then says why). */
export const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
  );

/** A directory the user named, or a one-line error naming it and `flag`. */
export async function requireDirectory(dir: string, flag: string): Promise<void> {
  const stat = await fs.stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw readError(dir, error);
  });
  if (!stat)
    throw new KpkiError(ErrorCode.MissingFile, `${dir}: no such directory`, {
      subject: dir,
      hint: `pass the PKI's directory with ${flag}`,
    });
  if (!stat.isDirectory()) throw badInput(dir, 'is not a directory', `pass a directory with ${flag}`);
}

/** A regular file met by walkFiles: its bytes, or the one-line error that says why they cannot be read. */
export type WalkedFile = { file: string; explicit: boolean } & (
  { data: Buffer; error?: undefined } | { data?: undefined; error: KpkiError }
);

function walkError(file: string, error: unknown, missingHint: string): KpkiError {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT')
    return new KpkiError(ErrorCode.MissingFile, `${file}: no such file or directory`, { subject: file, hint: missingHint });
  return readError(file, error);
}

/**
 * The regular files at `target` and, for a directory, below it, one at a time: entries in name
 * order, symlinks followed (a switched directory's own `..` entries skipped), other kinds of file skipped. `explicit` marks the path the caller gave;
 * a path that cannot be read (the target itself, a file or a folder below it) comes as its error.
 */
export async function* walkFiles(
  target: string,
  missingHint: string,
  explicit = true,
  within: Map<string, string> = new Map(),
): AsyncGenerator<WalkedFile> {
  let names: string[] | undefined;
  let data: Buffer | undefined;
  try {
    const stat = await fs.stat(target);
    if (stat.isDirectory()) {
      // A folder met again below itself (pki/self -> .): walked once, the link named.
      const id = `${stat.dev}:${stat.ino}`;
      const ancestor = within.get(id);
      if (ancestor !== undefined) {
        yield { file: target, explicit, error: badInput(target, `is a symlink loop (back to ${ancestor}); not followed`, LOOP_HINT) };
        return;
      }
      within = new Map(within).set(id, target);
      // A switched directory's `..data` and generations hold the same files again under other names.
      names = (await fs.readdir(target)).filter((n) => !isSwitchEntry(n)).sort();
    } else if (stat.isFile()) data = (await readBounded(target))?.data;
    else return;
  } catch (error) {
    yield { file: target, explicit, error: error instanceof KpkiError ? error : walkError(target, error, missingHint) };
    return;
  }
  if (data) yield { file: target, explicit, data };
  else for (const name of names ?? []) yield* walkFiles(path.join(target, name), missingHint, false, within);
}

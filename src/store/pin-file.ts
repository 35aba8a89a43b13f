import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { badFlag } from '../errors.js';
import { readError } from './files.js';

/**
 * A token PIN from `--pin-file`: refused unless only its owner may read it (0600 or 0400), as
 * ssh refuses a private key others can read. The first line is the PIN.
 */
export function readPinFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw readError(file, error);
  }
  try {
    const { mode } = fstatSync(fd);
    if (mode & 0o077) {
      throw badFlag(
        `--pin-file ${file}`,
        `is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
        `chmod 600 ${file}`,
      );
    }
    const pin = readFileSync(fd, 'utf8').split(/\r?\n/)[0] ?? '';
    if (!pin) throw badFlag(`--pin-file ${file}`, 'is empty', 'write the PIN on its first line');
    return pin;
  } finally {
    closeSync(fd);
  }
}

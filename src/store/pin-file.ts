import { open } from 'node:fs/promises';
import { badFlag } from '../errors.js';
import { readError } from './files.js';

/**
 * A token PIN from `--pin-file`: refused unless only its owner may read it (0600 or 0400), as
 * ssh refuses a private key others can read. The first line is the PIN.
 */
export async function readPinFile(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw readError(file, error);
  }
  try {
    const { mode } = await handle.stat();
    if (mode & 0o077) {
      throw badFlag(
        `--pin-file ${file}`,
        `is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
        `chmod 600 ${file}`,
      );
    }
    const pin = (await handle.readFile('utf8')).split(/\r?\n/)[0] ?? '';
    if (!pin) throw badFlag(`--pin-file ${file}`, 'is empty', 'write the PIN on its first line');
    return pin;
  } finally {
    await handle.close();
  }
}

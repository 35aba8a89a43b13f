import path from 'node:path';
import { parseRememberedSans, SETTINGS_FILE, type RememberedSans } from '../model/remembered-sans.js';
import { readOptional } from './files.js';

/** Extra SANs remembered for a single-node PKI (none when the file does not exist). */
export async function readRememberedSans(kubeconfigDir: string): Promise<RememberedSans> {
  const file = path.join(kubeconfigDir, SETTINGS_FILE);
  return parseRememberedSans(file, await readOptional(file));
}

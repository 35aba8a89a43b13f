import path from 'node:path';
import { parseRememberedSettings, SETTINGS_FILE, type RememberedSettings } from '../model/remembered-sans.js';
import { readOptional } from './files.js';

/** Extra SANs and the key algorithm remembered for a single-node PKI (none when the file does not exist). */
export async function readRememberedSettings(kubeconfigDir: string): Promise<RememberedSettings> {
  const file = path.join(kubeconfigDir, SETTINGS_FILE);
  return parseRememberedSettings(file, await readOptional(file));
}

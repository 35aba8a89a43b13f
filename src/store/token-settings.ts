import path from 'node:path';
import { badInput } from '../errors.js';
import { readOptional, writeFileAtomic } from './files.js';

/**
 * Next to the kubeconfigs: which CA keys a PKCS#11 token holds (by URI) and the module that opens
 * it, as `kpki init --ca-key-uri` chose them, so later commands need only the PIN. Never a PIN.
 */
export const TOKEN_SETTINGS_FILE = 'kpki-pkcs11.json';

export interface TokenSettings {
  /** The PKCS#11 module given with --pkcs11-module; absent: found as the first run found it. */
  module?: string;
  /** CA entry name → PKCS#11 URI. */
  caKeys: Record<string, string>;
}

export const tokenSettingsFile = (kubeconfigDir: string) => path.join(kubeconfigDir, TOKEN_SETTINGS_FILE);

export async function readTokenSettings(kubeconfigDir: string): Promise<TokenSettings | undefined> {
  const file = tokenSettingsFile(kubeconfigDir);
  const data = await readOptional(file);
  if (!data) return undefined;
  let parsed: TokenSettings;
  try {
    parsed = JSON.parse(data.toString('utf8')) as TokenSettings;
  } catch {
    throw badInput(file, 'is not valid JSON', 'restore it, or pass --ca-key-uri again');
  }
  const valid = parsed && typeof parsed.caKeys === 'object' && Object.values(parsed.caKeys).every((u) => typeof u === 'string') && (parsed.module === undefined || typeof parsed.module === 'string');
  if (!valid) throw badInput(file, 'is not a kpki PKCS#11 settings file', 'restore it, or pass --ca-key-uri again');
  return parsed;
}

export async function writeTokenSettings(kubeconfigDir: string, settings: TokenSettings): Promise<void> {
  const file = tokenSettingsFile(kubeconfigDir);
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  if ((await readOptional(file))?.toString() !== text) await writeFileAtomic(file, text, 0o644);
}

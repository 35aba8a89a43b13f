import path from 'node:path';
import { badFlag, badInput } from '../errors.js';
import { parseCaKeyUris, parsePkcs11Uri, type Pkcs11Uri } from '../model/pkcs11-uri.js';
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
  const valid =
    parsed &&
    typeof parsed.caKeys === 'object' &&
    Object.values(parsed.caKeys).every((u) => typeof u === 'string') &&
    (parsed.module === undefined || typeof parsed.module === 'string');
  if (!valid) throw badInput(file, 'is not a kpki PKCS#11 settings file', 'restore it, or pass --ca-key-uri again');
  return parsed;
}

export async function writeTokenSettings(kubeconfigDir: string, settings: TokenSettings): Promise<void> {
  const file = tokenSettingsFile(kubeconfigDir);
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  if ((await readOptional(file))?.toString() !== text) await writeFileAtomic(file, text, 0o644);
}

/** Where a run's CA keys are when a PKCS#11 token holds them: what the user gave, or what init remembered. */
export interface TokenChoice {
  /** `--ca-key-uri NAME=URI` values; absent: the remembered ones, if any. */
  caKeyUris?: string[];
  /** `--pkcs11-module`; absent: the remembered one, else found. */
  pkcs11Module?: string;
  /** The token's user PIN, asked only when a token is opened; default: KPKI_PKCS11_PIN. */
  pin?: () => Promise<string>;
}

/** The PIN of library callers that give no PIN source. */
export const envPin = async (): Promise<string> => {
  const pin = process.env.KPKI_PKCS11_PIN;
  if (!pin) throw badFlag('KPKI_PKCS11_PIN', 'is not set, and the CA keys are in a PKCS#11 token', 'set it to the token user PIN');
  return pin;
};

/** The token URIs a run uses, by CA name, and the module: from the choice, else from the kubeconfig dir's settings file. */
export async function tokenUris(
  kubeconfigDir: string,
  choice: TokenChoice,
): Promise<{ uris: Map<string, Pkcs11Uri>; module: string | undefined; given: boolean }> {
  if (choice.caKeyUris?.length) return { uris: parseCaKeyUris(choice.caKeyUris), module: choice.pkcs11Module, given: true };
  const remembered = await readTokenSettings(kubeconfigDir);
  const file = tokenSettingsFile(kubeconfigDir);
  const uris = new Map(Object.entries(remembered?.caKeys ?? {}).map(([name, uri]) => [name, parsePkcs11Uri(uri, `${file}: ${name}`)]));
  return { uris, module: choice.pkcs11Module ?? remembered?.module, given: false };
}

import type { TokenKeys } from '../hsm/token.js';
import { parseCaKeyUris, parsePkcs11Uri, type Pkcs11Uri } from '../model/pkcs11-uri.js';
import { badFlag } from '../errors.js';
import { readTokenSettings, tokenSettingsFile, writeTokenSettings } from '../store/token-settings.js';

/** Where a run's CA keys are when a PKCS#11 token holds them: what the user gave, or what init remembered. */
export interface TokenChoice {
  /** `--ca-key-uri NAME=URI` values; absent: the remembered ones, if any. */
  caKeyUris?: string[];
  /** `--pkcs11-module`; absent: the remembered one, else found. */
  pkcs11Module?: string;
  /** The token's user PIN, asked only when a token is opened; default: KPKI_PKCS11_PIN. */
  pin?: () => Promise<string>;
}

const envPin = async (): Promise<string> => {
  const pin = process.env.KPKI_PKCS11_PIN;
  if (!pin) throw badFlag('KPKI_PKCS11_PIN', 'is not set, and the CA keys are in a PKCS#11 token', 'set it to the token user PIN');
  return pin;
};

/** The token URIs a run uses, by CA name, and the module: from the choice, else from the kubeconfig dir's settings file. */
export async function tokenUris(kubeconfigDir: string, choice: TokenChoice): Promise<{ uris: Map<string, Pkcs11Uri>; module: string | undefined; given: boolean }> {
  if (choice.caKeyUris?.length) return { uris: parseCaKeyUris(choice.caKeyUris), module: choice.pkcs11Module, given: true };
  const remembered = await readTokenSettings(kubeconfigDir);
  const file = tokenSettingsFile(kubeconfigDir);
  const uris = new Map(Object.entries(remembered?.caKeys ?? {}).map(([name, uri]) => [name, parsePkcs11Uri(uri, `${file}: ${name}`)]));
  return { uris, module: choice.pkcs11Module ?? remembered?.module, given: false };
}

/**
 * Runs `work` with the CA keys the token holds (none when no URI names a token: `work` gets
 * undefined and no provider is loaded). A choice given on the command line is remembered once the
 * run has written (not for a dry run), so later commands need only the PIN.
 */
export async function withTokenKeys<T>(kubeconfigDir: string, choice: TokenChoice, remember: boolean, work: (tokens: TokenKeys | undefined) => Promise<T>): Promise<T> {
  const { uris, module, given } = await tokenUris(kubeconfigDir, choice);
  if (!uris.size) return work(undefined);
  // Loaded here only: commands whose CAs are files never load the PKCS#11 provider.
  const { openTokenKeys } = await import('../hsm/token.js');
  const tokens = await openTokenKeys(uris, { module, pin: choice.pin ?? envPin });
  try {
    const result = await work(tokens);
    if (given && remember) {
      await writeTokenSettings(kubeconfigDir, { ...(module ? { module } : {}), caKeys: Object.fromEntries([...uris].map(([name, uri]) => [name, uri.text])) });
    }
    return result;
  } finally {
    tokens.close();
  }
}

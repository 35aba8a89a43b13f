import type { TokenKeys } from '../hsm/token.js';
import { parsePkcs11Uri, type Pkcs11Uri } from '../model/pkcs11-uri.js';
import type { TokenCas } from '../plan/trust.js';
import { envPin, readTokenSettings, tokenSettingsFile, tokenUris, writeTokenSettings, type TokenChoice } from '../store/token-settings.js';

export type { TokenChoice };

/**
 * Runs `work` with the CA keys the token holds (none when no URI names a token: `work` gets
 * undefined and no provider is loaded). A choice given on the command line is remembered once the
 * run has written (not for a dry run), so later commands need only the PIN.
 */
export async function withTokenKeys<T>(
  kubeconfigDir: string,
  choice: TokenChoice,
  remember: boolean,
  work: (tokens: TokenKeys | undefined) => Promise<T>,
): Promise<T> {
  const { uris, module, given } = await tokenUris(kubeconfigDir, choice);
  if (!uris.size) return work(undefined);
  // Loaded here only: commands whose CAs are files never load the PKCS#11 provider.
  const { openTokenKeys } = await import('../hsm/token.js');
  const tokens = await openTokenKeys(uris, { module, pin: choice.pin ?? envPin });
  try {
    const result = await work(tokens);
    if (given && remember) {
      await writeTokenSettings(kubeconfigDir, {
        ...(module ? { module } : {}),
        caKeys: Object.fromEntries([...uris].map(([name, uri]) => [name, uri.text])),
      });
    }
    return result;
  } finally {
    tokens.close();
  }
}

/** A day-2 run's token keys: what the core decides with (TokenCas), and the open tokens that make and delete keys. */
export type DayTwoTokens = TokenCas & { open: TokenKeys };

/**
 * Runs a day-2 step with the CA keys kpki-pkcs11.json (beside the kubeconfigs) puts in tokens,
 * and the keys at `more` URIs (a rotation's old and new keys); `work` gets undefined, and no
 * provider is loaded, when neither names any.
 */
export async function withDayTwoTokens<T>(
  kubeconfigDir: string,
  choice: Pick<TokenChoice, 'pin' | 'pkcs11Module'> = {},
  more: string[],
  work: (tokens: DayTwoTokens | undefined) => Promise<T>,
): Promise<T> {
  const { uris, module } = await tokenUris(kubeconfigDir, { pkcs11Module: choice.pkcs11Module });
  const settingsFile = tokenSettingsFile(kubeconfigDir);
  const all = new Map<string, Pkcs11Uri>([...uris.values()].map((uri) => [uri.text, uri]));
  for (const text of more) if (!all.has(text)) all.set(text, parsePkcs11Uri(text, settingsFile));
  if (!all.size) return work(undefined);
  const { openTokenKeys } = await import('../hsm/token.js');
  const open = await openTokenKeys(all, { module, pin: choice.pin ?? envPin });
  try {
    const names = new Map([...uris].map(([name, uri]) => [name, uri.text]));
    return await work({ uris: names, keys: open.cas, settingsFile, module: (await readTokenSettings(kubeconfigDir))?.module, open });
  } finally {
    open.close();
  }
}

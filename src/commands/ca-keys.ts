import type { TokenKeys } from '../hsm/token.js';
import { envPin, tokenUris, writeTokenSettings, type TokenChoice } from '../store/token-settings.js';

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

import { badInput } from '../errors.js';
import { KEY_TYPES, listValue, type KeyType, type SettingsInput } from './settings.js';

/**
 * Next to a single-node PKI's kubeconfigs: what `kpki renew --add-san` added and the key algorithm
 * `kpki ca rotate --key-type` moved to, for later init and renew runs.
 */
export const SETTINGS_FILE = 'kpki-settings.json';

/** The entries `--add-san` may extend, and the setting that remembers their extra SANs. */
export const SAN_SETTINGS = {
  apiserver: 'apiserverCertExtraSans',
  'etcd-server': 'etcdServerCertExtraSans',
  'etcd-peer': 'etcdPeerCertExtraSans',
} as const;
export type SanSetting = (typeof SAN_SETTINGS)[keyof typeof SAN_SETTINGS];
export type RememberedSans = Partial<Record<SanSetting, string[]>>;
/** What a settings file remembers: extra SANs and, once a rotation changed it, the key algorithm. */
export type RememberedSettings = RememberedSans & { keyType?: KeyType };

/** Extra SANs and the key algorithm remembered in a settings file's bytes (none when the file does not exist). */
export function parseRememberedSettings(file: string, data: Buffer | undefined): RememberedSettings {
  if (!data) return {};
  try {
    const parsed = JSON.parse(data.toString('utf8')) as RememberedSettings;
    const keyType = (KEY_TYPES as readonly string[]).includes(parsed.keyType ?? '') ? { keyType: parsed.keyType } : {};
    return {
      ...Object.fromEntries(
        Object.values(SAN_SETTINGS)
          .map((key) => [key, listValue(parsed[key])])
          .filter(([, v]) => v!.length),
      ),
      ...keyType,
    };
  } catch {
    throw badInput(file, 'is not valid JSON', `restore it, or remove it and pass the SANs with --apiserver-cert-extra-sans`);
  }
}

/**
 * Settings with remembered SANs added to whatever the run gives (a SAN once added stays), and the
 * remembered key algorithm where the run names none.
 */
export function withRememberedSettings<T extends SettingsInput>(settings: T, remembered: Pick<SettingsInput, SanSetting | 'keyType'>): T {
  const merged: T = { ...settings };
  if (merged.keyType === undefined && remembered.keyType !== undefined) merged.keyType = remembered.keyType;
  for (const key of Object.values(SAN_SETTINGS)) {
    const union = [...new Set([...listValue(remembered[key]), ...listValue(settings[key])])];
    if (union.length) merged[key] = union;
  }
  return merged;
}

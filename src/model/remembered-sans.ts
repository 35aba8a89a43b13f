import { badInput } from '../errors.js';
import { listValue, type SettingsInput } from './settings.js';

/** Next to a single-node PKI's kubeconfigs: what `kpki renew --add-san` added, for later init runs. */
export const SETTINGS_FILE = 'kpki-settings.json';

/** The entries `--add-san` may extend, and the setting that remembers their extra SANs. */
export const SAN_SETTINGS = {
  apiserver: 'apiserverCertExtraSans',
  'etcd-server': 'etcdServerCertExtraSans',
  'etcd-peer': 'etcdPeerCertExtraSans',
} as const;
export type SanSetting = (typeof SAN_SETTINGS)[keyof typeof SAN_SETTINGS];
export type RememberedSans = Partial<Record<SanSetting, string[]>>;

/** Extra SANs remembered in a settings file's bytes (none when the file does not exist). */
export function parseRememberedSans(file: string, data: Buffer | undefined): RememberedSans {
  if (!data) return {};
  try {
    const parsed = JSON.parse(data.toString('utf8')) as RememberedSans;
    return Object.fromEntries(
      Object.values(SAN_SETTINGS)
        .map((key) => [key, listValue(parsed[key])])
        .filter(([, v]) => v!.length),
    );
  } catch {
    throw badInput(file, 'is not valid JSON', `restore it, or remove it and pass the SANs with --apiserver-cert-extra-sans`);
  }
}

/** Settings with remembered SANs added to whatever the run gives: a SAN once added stays. */
export function withRememberedSans<T extends SettingsInput>(settings: T, remembered: Pick<SettingsInput, SanSetting>): T {
  const merged: T = { ...settings };
  for (const key of Object.values(SAN_SETTINGS)) {
    const union = [...new Set([...listValue(remembered[key]), ...listValue(settings[key])])];
    if (union.length) merged[key] = union;
  }
  return merged;
}

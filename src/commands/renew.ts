import path from 'node:path';
import { DEFAULTS } from '../model/defaults.js';
import type { Layout } from '../model/layout.js';
import {
  SAN_SETTINGS,
  SETTINGS_FILE,
  withRememberedSettings,
  type RememberedSans,
  type RememberedSettings,
} from '../model/remembered-sans.js';
import { parseKeyType, type KeyType } from '../model/settings.js';
import { validityAboveDefault } from '../model/validity.js';
import {
  authoritiesIn,
  keyChoice,
  missingFromAll,
  refuseNothingFound,
  renewWrites,
  sanTargets,
  selectNames,
  validitySeconds,
  type RenewOptions,
  type RenewResult,
} from '../plan/renew.js';
import { restartPlan } from '../plan/restart.js';
import type { FileWrite } from '../model/files.js';
import { applyChanges } from '../store/apply.js';
import { recordText } from '../store/cluster-record.js';
import { observeLayout, underLayoutLock } from '../store/layout.js';
import { readRememberedSettings } from '../store/remembered-sans.js';
import { withDayTwoTokens } from './ca-keys.js';
import { readLayoutFiles } from './layout-files.js';

/**
 * The record (cluster) or settings file (single node) remembering `added` too: SANs join the
 * remembered ones, a key algorithm replaces the remembered one. Returns the write and what the
 * file remembers then.
 */
export async function rememberSettings(
  layout: Layout,
  added: RememberedSettings,
): Promise<{ write: FileWrite; settings: RememberedSettings }> {
  const keyType = added.keyType && { keyType: added.keyType };
  if (layout.record) {
    const { file, data } = layout.record;
    const settings = { ...withRememberedSettings(data.settings, added), ...keyType };
    return { write: { path: file, data: recordText(file, { ...data, settings }), mode: 0o644 }, settings: added };
  }
  const file = path.join(layout.signing.kubeconfigDir, SETTINGS_FILE);
  const settings = { ...withRememberedSettings(await readRememberedSettings(layout.signing.kubeconfigDir), added), ...keyType };
  return { write: { path: file, data: `${JSON.stringify(settings, null, 2)}\n`, mode: 0o644 }, settings };
}

/** The record (cluster) or settings file (single node) with the added SANs remembered. */
async function rememberSans(
  layout: Layout,
  sanPlan: { sans: string[]; entries: string[] },
): Promise<{ write: FileWrite; sans: RememberedSans } | undefined> {
  if (!sanPlan.sans.length) return undefined;
  const added: RememberedSans = Object.fromEntries(
    sanPlan.entries.map((e) => [SAN_SETTINGS[e as keyof typeof SAN_SETTINGS], sanPlan.sans]),
  );
  const { write, settings } = await rememberSettings(layout, added);
  // What is reported: the SANs, not the key algorithm the file may also remember.
  const sans: RememberedSans = Object.fromEntries(Object.entries(settings).filter(([key]) => key !== 'keyType'));
  return { write, sans };
}

/**
 * The key algorithm the cluster's settings name (kpki-cluster.json, or a single PKI's
 * kpki-settings.json once a rotation changed it), for every CA's leaves: a renewal that makes a
 * key makes one of this type. Undefined when none is recorded (each leaf keeps its own type).
 */
async function recordedKeyTypes(layout: Layout): Promise<Map<string, KeyType> | undefined> {
  const recorded = layout.record
    ? layout.record.data.settings.keyType && parseKeyType(layout.record.data.settings.keyType, layout.record.file)
    : (await readRememberedSettings(layout.signing.kubeconfigDir)).keyType;
  if (!recorded) return undefined;
  return new Map(layout.profile.certificates.filter((c) => !c.issuer).map((c) => [c.name, recorded]));
}

/**
 * `kpki renew`: re-signs leaves and kubeconfigs with the current CAs — in the shared set and in
 * every node directory holding them — keeping subjects, SANs (plus --add-san) and usages, and
 * returns which components to restart where. All files change as one journaled set.
 */
export async function renew(options: RenewOptions): Promise<RenewResult> {
  const layout = await observeLayout(options);
  const names = selectNames(layout, options);
  const sanPlan = sanTargets(names, options);
  const validity = validitySeconds(layout, options);
  const now = options.now ?? new Date();
  const lifetime = validityAboveDefault(options.validity === undefined ? "the cluster's --cert-validity" : '--validity', validity, false);
  const resumed = (completed: string[], layout: Layout): RenewResult => ({
    dryRun: false,
    items: [],
    restart: restartPlan(layout, completed),
    remembered: undefined,
    resumed: completed,
    warnings: [],
  });
  return underLayoutLock(layout, options.dryRun, resumed, async (layout) => {
    const snapshot = await readLayoutFiles(layout);
    refuseNothingFound(layout, options, names, snapshot);
    return withDayTwoTokens(layout.signing.kubeconfigDir, options.token, [], async (tokens) => {
      const cas = authoritiesIn(layout, snapshot, tokens);
      const warnings = [...(lifetime ? [lifetime] : []), ...(options.all ? missingFromAll(layout, names, snapshot) : [])];
      const remembered = options.dryRun ? undefined : await rememberSans(layout, sanPlan);
      const {
        writes,
        items,
        warnings: signed,
      } = await renewWrites(
        layout,
        {
          names,
          cas,
          sanPlan,
          csrOnly: options.csrOnly ?? false,
          csrDir: options.csrDir ?? path.join(layout.signing.kubeconfigDir, DEFAULTS.csrDirName),
          key: keyChoice(options),
          keyTypes: await recordedKeyTypes(layout),
          validity,
          now,
          dryRun: options.dryRun ?? false,
        },
        snapshot,
      );
      const restart = restartPlan(
        layout,
        items.filter((i) => i.action !== 'csr').flatMap((i) => i.files),
      );
      if (options.dryRun) {
        return {
          dryRun: true,
          items,
          restart,
          remembered: undefined,
          resumed: undefined,
          warnings,
        };
      }
      if (remembered) writes.push(remembered.write);
      await applyChanges(layout.signing.certDir, writes);
      return {
        dryRun: false,
        items,
        restart,
        remembered: remembered && { file: remembered.write.path, sans: remembered.sans },
        resumed: undefined,
        warnings: [...warnings, ...signed],
      };
    });
  });
}

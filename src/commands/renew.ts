import path from 'node:path';
import { DEFAULTS } from '../model/defaults.js';
import type { Layout } from '../model/layout.js';
import { SAN_SETTINGS, SETTINGS_FILE, withRememberedSans, type RememberedSans } from '../model/remembered-sans.js';
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
import { readRememberedSans } from '../store/remembered-sans.js';
import { withDayTwoTokens } from './ca-keys.js';
import { readLayoutFiles } from './layout-files.js';

/** The record (cluster) or settings file (single node) with the added SANs remembered. */
async function rememberSans(
  layout: Layout,
  sanPlan: { sans: string[]; entries: string[] },
): Promise<{ write: FileWrite; sans: RememberedSans } | undefined> {
  if (!sanPlan.sans.length) return undefined;
  const added: RememberedSans = Object.fromEntries(
    sanPlan.entries.map((e) => [SAN_SETTINGS[e as keyof typeof SAN_SETTINGS], sanPlan.sans]),
  );
  if (layout.record) {
    const { file, data } = layout.record;
    const settings = withRememberedSans(data.settings, added);
    return { write: { path: file, data: recordText(file, { ...data, settings }), mode: 0o644 }, sans: added };
  }
  const file = path.join(layout.signing.kubeconfigDir, SETTINGS_FILE);
  const sans = withRememberedSans(await readRememberedSans(layout.signing.kubeconfigDir), added);
  return { write: { path: file, data: `${JSON.stringify(sans, null, 2)}\n`, mode: 0o644 }, sans };
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

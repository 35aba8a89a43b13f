import type { Layout } from '../model/layout.js';
import { caEntryName } from '../model/profile.js';
import { validityAboveDefault } from '../model/validity.js';
import { caValidity, decideCaRenewal, shorteningNotes, type CaRenewOptions, type CaRenewResult } from '../plan/ca-renewal.js';
import { renderDay2Steps } from '../plan/render.js';
import { restartPlan } from '../plan/restart.js';
import { ROOT_CA_NOTE } from '../plan/trust.js';
import { applyChanges } from '../store/apply.js';
import { observeLayout, underLayoutLock } from '../store/layout.js';
import { withDayTwoTokens } from './ca-keys.js';
import { readLayoutFiles } from './layout-files.js';
import { runCheckBeforeWriting, type CheckBeforeWriting } from './rotation.js';

/**
 * `kpki ca renew NAME`: the CA certified again with the same key and subject (and
 * SubjectKeyIdentifier) for a new lifetime, so every leaf it signed keeps verifying; every copy
 * kpki manages (node CA files, kubeconfigs' CA data, named APIService caBundles) is updated.
 */
export async function renewCa(options: CaRenewOptions, checkBeforeWriting?: CheckBeforeWriting): Promise<CaRenewResult> {
  const layout = await observeLayout(options);
  const name = caEntryName(layout.profile, 'NAME', options.name);
  const validity = caValidity(options.validity);
  const now = options.now ?? new Date();
  const warnings = [validityAboveDefault('--validity', validity, true)].filter((w): w is string => w !== undefined);
  const resumed = (completed: string[], layout: Layout): CaRenewResult => ({
    ca: name,
    dryRun: false,
    notAfter: undefined,
    files: completed,
    restart: restartPlan(layout, completed),
    notes: [],
    resumed: completed,
    warnings,
  });
  return underLayoutLock(layout, options.dryRun, resumed, async (layout) => {
    const snapshot = await readLayoutFiles(layout, options.apiServices);
    return withDayTwoTokens(layout.signing.kubeconfigDir, options.token, [], async (tokens) => {
      const { steps, old } = decideCaRenewal(layout, snapshot, name, validity, options.apiServices, tokens);
      const { files: writes, made } = await renderDay2Steps(steps, now);
      const renewed = made.cas.get(name)!.certificate;
      const forced = shorteningNotes(layout, snapshot, name, old.cert, renewed.notAfter, options);
      await runCheckBeforeWriting(checkBeforeWriting, { step: 'ca-renew', layout, steps, writes });
      if (!options.dryRun) await applyChanges(layout.signing.certDir, writes);
      const files = writes.map((w) => w.path);
      const notes = [
        ...forced,
        ...(name === 'ca' ? [`${ROOT_CA_NOTE}, before the old certificate expires on ${old.cert.notAfter.toISOString()}`] : []),
        ...writes.filter((w) => options.apiServices?.includes(w.path)).map((w) => `kubectl apply -f ${w.path}`),
      ];
      return {
        ca: name,
        dryRun: options.dryRun ?? false,
        notAfter: renewed.notAfter.toISOString(),
        files,
        restart: restartPlan(layout, files),
        notes,
        resumed: undefined,
        warnings,
      };
    });
  });
}

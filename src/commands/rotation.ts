import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import type { Layout, LayoutOptions } from '../model/layout.js';
import { ROTATE_STEPS, rotationIn, ROTATION_DIR, ROTATION_FILE, type RotateStep, type RotationState } from '../model/rotation.js';
import { renderDay2Steps } from '../plan/render.js';
import type { FileWrite } from '../model/files.js';
import type { Day2Step } from '../plan/steps.js';
import { restartPlan } from '../plan/restart.js';
import { rotationUnderWay, status, unrecordedRotation } from '../plan/rotation-status.js';
import { decideRotation, pairsIn, rotationTokenUris, signerSideFiles, type RotateOptions, type RotateResult } from '../plan/rotation.js';
import { applyChanges } from '../store/apply.js';
import { observeLayout, underLayoutLock } from '../store/layout.js';
import { withWriteLock } from '../store/lock.js';
import { removeRotationMaterial } from '../store/rotation.js';
import { withRecordLock } from '../store/cluster-record.js';
import { rememberSettings } from './renew.js';
import type { Finding } from '../verify/findings.js';
import { parsePkcs11Uri, type Pkcs11Uri } from '../model/pkcs11-uri.js';
import type { KeyType } from '../pki/key-types.js';
import type { TokenCas } from '../plan/trust.js';
import { withDayTwoTokens } from './ca-keys.js';
import { readLayoutFiles } from './layout-files.js';

/** What a day-2 step is about to write, handed to the check that runs before anything is written. */
export interface WriteCheck {
  /** The rotation step, or `ca renew`. */
  step: RotateStep | 'ca-renew';
  layout: Layout;
  /** What the step decided, in order. */
  steps: Day2Step[];
  /** The files those steps render to (the rotation's record and material included); none is written yet. */
  writes: FileWrite[];
  /** The CA keys the step opened in PKCS#11 tokens, if any (the live gates sign their throw-away clients with them). */
  tokens?: TokenCas;
}

/**
 * The one "check before writing" hook of the day-2 pipeline: called once a step has decided and
 * before any file is written (on a dry run too); any error finding refuses the step, and a check
 * may also refuse by throwing its own error. `kpki ca rotate` plugs verify in (verifyBeforeWriting in commands/rotate.ts).
 */
export type CheckBeforeWriting = (check: WriteCheck) => Promise<Finding[]>;

/** Refuses when a check before writing found errors: nothing has been written yet. */
export async function runCheckBeforeWriting(check: CheckBeforeWriting | undefined, what: WriteCheck): Promise<void> {
  const errors = ((await check?.(what)) ?? []).filter((f) => f.severity === 'error');
  if (!errors.length) return;
  const [first] = errors;
  throw new KpkiError(ErrorCode.StaleFile, `${errors.length} error(s) before writing: ${first!.subject}: ${first!.diagnosis}`, {
    subject: first!.subject,
    hint: `nothing was changed; ${first!.fix}`,
  });
}

/**
 * A node just added to a cluster mid-rotation, brought into the phase: its trust files,
 * controller-manager signer file and SA public keys as the phase wants them (its keys and leaves
 * came from the shared set, which is in the phase already). `kpki node add` runs it holding the
 * shared cert dir's lock, as every rotation step takes it, so that no step runs in between.
 */
export async function joinRotation(options: LayoutOptions, node: string): Promise<string[]> {
  const layout = await observeLayout(options);
  const snapshot = await readLayoutFiles(layout);
  const state = rotationIn(snapshot, layout.signing.certDir);
  const location = layout.locations.find((l) => l.node === node);
  if (!state || !location) return [];
  const onlyNode: Layout = { ...layout, locations: [location], kubeconfigs: [] };
  const writes = signerSideFiles(onlyNode, snapshot, state, pairsIn(layout, snapshot, state), state.phase === 'begun', undefined);
  if (writes.length) await withWriteLock(location.certDir, () => applyChanges(location.certDir, writes));
  return writes.map((w) => w.path);
}

/**
 * `kpki ca rotate`: replaces CA keys (and the service-account key) in phases with overlapping
 * trust — begin (trust old+new, old signs), reissue (new signs, trust new+old), finish (trust new
 * only, old keys archived) — or abort back. Each phase is one journaled change followed by the
 * restarts it names.
 */
export async function rotateCa(options: RotateOptions, checkBeforeWriting?: CheckBeforeWriting): Promise<RotateResult> {
  if (!(ROTATE_STEPS as readonly string[]).includes(options.step))
    throw badFlag('STEP', `"${options.step}" is not one of ${ROTATE_STEPS.join(', ')}`);
  const observed = await observeLayout(options);
  const now = options.now ?? new Date();
  const certDir = observed.signing.certDir;
  const result = (
    layout: Layout,
    phase: RotateResult['phase'],
    state: Pick<RotationState, 'cas' | 'serviceAccount' | 'keyType'>,
    files: string[],
    notes: string[],
    extra: Partial<RotateResult> = {},
  ): RotateResult => ({
    step: options.step,
    phase,
    cas: state.cas,
    serviceAccount: state.serviceAccount,
    ...(state.keyType && { keyType: state.keyType }),
    dryRun: options.dryRun ?? false,
    files,
    restart: restartPlan(layout, files),
    notes,
    status: undefined,
    halfApplied: undefined,
    resumed: undefined,
    ...extra,
  });
  if (options.step === 'status') {
    const { state, snapshot } = rotationUnderWay(observed, await readLayoutFiles(observed, options.apiServices), options);
    if (!state)
      return result(observed, 'none', { cas: [], serviceAccount: false }, [], ['no rotation is under way'], {
        status: [],
        halfApplied: false,
      });
    const files = status(observed, snapshot, state, options);
    return result(observed, state.phase, state, [], [], { status: files, halfApplied: files.some((f) => f.state !== f.expected) });
  }
  if (!checkBeforeWriting) throw new Error('a rotation step that changes files needs a check before writing');
  const resumed = async (completed: string[], layout: Layout) => {
    const snapshot = await readLayoutFiles(layout);
    const state = rotationIn(snapshot, certDir);
    if (!state && !unrecordedRotation(layout, snapshot)) removeRotationMaterial(certDir);
    return result(
      layout,
      state?.phase ?? 'none',
      state ?? { cas: [], serviceAccount: false },
      completed,
      ['completed an interrupted step; run the step you meant again if it was another one'],
      { resumed: completed },
    );
  };
  // finish may rewrite kpki-cluster.json (the key algorithm): under its lock, taken before the
  // cert dirs' as kpki node add takes them, so that no node addition writes back an older record.
  const recordLocked = <T>(work: () => Promise<T>) =>
    observed.record && !options.dryRun ? withRecordLock(observed.record.file, work) : work();
  return recordLocked(() =>
    underLayoutLock(observed, options.dryRun, resumed, async (layout) => {
      // Every phase decides from one reading of the tree, taken under the lock.
      const { state, snapshot } = rotationUnderWay(layout, await readLayoutFiles(layout, options.apiServices), options);
      // Material left by a rotation that is over (its removal interrupted).
      if (!state) removeRotationMaterial(certDir);
      const step = options.step as Exclude<RotateStep, 'status'>;
      const { phase, writes, remembered } = await withDayTwoTokens(
        layout.signing.kubeconfigDir,
        options.token,
        rotationTokenUris(layout, snapshot),
        async (tokens) => {
          const phase = decideRotation(step, layout, snapshot, state, options, now, tokens);
          // Keys a step made in a token are deleted again when it writes nothing.
          const made: Pkcs11Uri[] = [];
          const makeTokenKey = (uri: string, keyType: KeyType) => {
            const parsed = parsePkcs11Uri(uri, tokens!.settingsFile);
            made.push(parsed);
            return tokens!.open.makeAt(parsed, keyType);
          };
          try {
            const { files: writes } = await renderDay2Steps(phase.steps, now, { makeTokenKey, dryRun: options.dryRun });
            // Once a type-changing rotation is over, later init, node add and renew make keys of the new type.
            const remembered =
              step === 'finish' && state?.keyType ? (await rememberSettings(layout, { keyType: state.keyType })).write : undefined;
            if (remembered) writes.push(remembered);
            await runCheckBeforeWriting(checkBeforeWriting, { step, layout, steps: phase.steps, writes, tokens });
            // From here the keys are the written files' (a journal the next run completes may name them).
            made.length = 0;
            if (!options.dryRun) await applyChanges(certDir, writes);
            if (!options.dryRun && !phase.next) removeRotationMaterial(certDir);
            for (const uri of options.dryRun ? [] : (phase.dropTokenKeys ?? []))
              await tokens!.open.destroyAt(parsePkcs11Uri(uri, tokens!.settingsFile));
            return { phase, writes, remembered };
          } finally {
            for (const uri of made) await tokens!.open.destroyAt(uri);
          }
        },
      );
      const record = path.join(certDir, ROTATION_FILE);
      const changed = writes.filter((w) => w.path !== record && !w.path.includes(`${path.sep}${ROTATION_DIR}`)).map((w) => w.path);
      const selection = phase.next ?? state ?? { cas: [], serviceAccount: false };
      const notes = remembered
        ? [
            ...phase.notes,
            `${remembered.path} now names ${state!.keyType}: later kpki init, node add and renew make ${state!.keyType} keys`,
          ]
        : phase.notes;
      // Where kpki wrote a signer file, the controller manager restarts signing from it (restartPlan's signerFlags).
      return result(layout, phase.next?.phase ?? 'none', selection, changed, notes);
    }),
  );
}

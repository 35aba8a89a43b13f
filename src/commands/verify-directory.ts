import path from 'node:path';
import { DEFAULTS } from '../model/defaults.js';
import { exists } from '../store/tree.js';
import { readRotation } from '../store/rotation.js';
import { badFlag, KpkiError } from '../errors.js';
import { parseDuration } from '../model/duration.js';
import { readBounded } from '../store/bounded-read.js';
import type { ComponentArgs } from '../verify/inputs/args.js';
import type { KubeletSettings } from '../verify/inputs/kubelet.js';
import { loadFacts } from '../verify/load.js';
import type { AssembledInputs } from '../verify/model.js';
import type { VerifyOptions, VerifyResult } from '../verify/options.js';
import type { RotationFacts } from '../verify/rotation.js';
import { chooseBenchmark, labelFindings } from '../verify/benchmarks.js';
import { runRules } from '../verify/run.js';
import { assembleVerifyInputs } from './verify-inputs.js';
import { noteTokenKeys } from '../verify/token-keys.js';
import { readTokenSettings, tokenSettingsFile } from '../store/token-settings.js';

/** `kpki verify` of one directory: the inputs assembled once, loaded into facts, judged by the rules. */

/** --warn-within in seconds; checked before any input is read. */
export function warnWithinSeconds(options: VerifyOptions): number {
  const seconds = parseDuration(options.warnWithin ?? DEFAULTS.warnWithin);
  if (seconds === undefined) throw badFlag('--warn-within', `"${options.warnWithin}" is not a duration`, 'use e.g. 30d or 720h');
  return seconds;
}

/** Checks assembled inputs offline: facts loaded once, the rules run, findings ordered by severity. */
export async function checkInputs(assembled: AssembledInputs, options: VerifyOptions): Promise<VerifyResult> {
  const { inputs, root, certDir, kubeconfigDir, assumedFlags, resolve } = assembled;
  const facts = await loadFacts(inputs, {
    read: readBounded,
    now: options.now ?? new Date(),
    warnWithinSeconds: warnWithinSeconds(options),
    root,
    certDir,
    assumedFlags,
    resolve,
  });
  // A rotation's record lies beside the CAs it rotates; a node copy (--root) has none.
  if (certDir && !root) facts.rotation = await loadRotation(certDir, kubeconfigDir);
  // CA keys a token holds (kpki init --ca-key-uri): their key files are absent on purpose.
  // A node of a cluster: the settings are beside the shared set's kubeconfigs.
  const sharedCertDir = options.node?.sharedCertDir;
  const settingsDir =
    sharedCertDir && (root || !(await exists(tokenSettingsFile(kubeconfigDir))))
      ? path.dirname(path.resolve(sharedCertDir))
      : kubeconfigDir;
  const tokenSettings = certDir && (!root || sharedCertDir) ? await readTokenSettings(settingsDir) : undefined;
  if (tokenSettings) noteTokenKeys(facts, tokenSettingsFile(settingsDir), tokenSettings.caKeys);
  const benchmark = chooseBenchmark(options.benchmark, inputs.apiserver, options.servedVersion);
  facts.benchmark = benchmark.name;
  const { findings, counts } = await runRules(facts, options.rules);
  const components: [string, ComponentArgs | KubeletSettings | undefined][] = [
    ['apiserver', inputs.apiserver],
    ['etcd', inputs.etcd],
    ['controller-manager', inputs.controllerManager],
    ['scheduler', inputs.scheduler],
    ['kubelet', inputs.kubelet],
  ];
  return {
    findings: labelFindings(findings, benchmark.name, (file) => facts.files.get(file)?.mode),
    benchmark,
    counts,
    checked: {
      components: Object.fromEntries(components.flatMap(([name, given]) => (given ? [[name, given.origin]] : []))),
      kubeconfigs: inputs.kubeconfigs.map((k) => k.file),
      apiServices: inputs.apiServices.map((a) => a.name),
    },
  };
}

/**
 * Checks a PKI against the flags its components run with. Without component flags, checks the
 * directory as kubeadm would wire the components its role runs (given, or told from its files).
 */
export async function verifyDirectory(options: VerifyOptions = {}): Promise<VerifyResult> {
  warnWithinSeconds(options);
  return checkInputs(await assembleVerifyInputs(options), options);
}

/**
 * Reads the rotation record next to the CAs and, when a rotation is under way, where each file
 * it covers stands (`kpki ca rotate status`); undefined when no rotation is under way.
 */
async function loadRotation(certDir: string, kubeconfigDir: string): Promise<RotationFacts | undefined> {
  const base = { certDir, kubeconfigDir, cas: [], serviceAccount: false, lagging: [] };
  let state;
  try {
    state = await readRotation(certDir);
  } catch (error) {
    if (!(error instanceof KpkiError)) throw error;
    return { ...base, file: error.subject ?? certDir, phase: undefined, problem: error.message };
  }
  if (!state) return undefined;
  const found: RotationFacts = {
    ...base,
    file: state.file,
    phase: state.phase,
    cas: state.cas,
    serviceAccount: state.serviceAccount,
    problem: undefined,
  };
  try {
    // Loaded only here: rotation code issues certificates, which plain verify runs never need.
    const { rotateCa } = await import('./rotation.js');
    const status = await rotateCa({ step: 'status', certDir, kubeconfigDir });
    found.lagging = (status.status ?? []).filter((f) => f.state !== f.expected);
  } catch (error) {
    // Whatever stops status (missing rotation material, an unreadable file) is reported as not checked.
    found.problem = (error as Error).message;
  }
  return found;
}

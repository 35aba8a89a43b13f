import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import path from 'node:path';
import { withRememberedSettings } from '../model/remembered-sans.js';
import { readRememberedSettings } from '../store/remembered-sans.js';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { buildPkiSpec, type PkiSpec } from '../model/spec.js';
import { validityAboveDefault } from '../model/validity.js';
import type { Profile } from '../model/profile.js';
import type { KubeadmConfig } from '../config/kubeadm.js';
import { resolveSettings, type ClusterSettings, type HostDefaults, type SettingOrigins, type SettingsInput } from '../model/settings.js';
import { decide, kubeconfigReferences, observedPaths, type ConvergeIntent } from '../plan/decide.js';
import type { Location } from '../model/layout.js';
import { cutAtCaExpiry, renderSteps, interruptedError } from '../plan/render.js';
import { planItem, writes, type PlanItem, type Step } from '../plan/steps.js';
import { applyChanges } from '../store/apply.js';
import { removeStaleTempFiles } from '../store/files.js';
import { pendingJournals } from '../store/journal.js';
import { withWriteLock } from '../store/lock.js';
import { detectHostDefaults } from '../store/host.js';
import { observeFiles } from '../store/observe.js';
import { loadProfile } from '../store/profiles.js';
import type { TokenKeys } from '../hsm/token.js';
import { withTokenKeys, type TokenChoice } from './ca-keys.js';

export type { Action as InitAction, ItemKind, PlanItem } from '../plan/steps.js';

export interface Progress {
  phase: 'keys' | 'write';
  done: number;
  total: number;
}

export interface InitOptions extends SettingsInput, TokenChoice {
  /** Default `./pki`, or `certificatesDir` of a `--config` file. */
  certDir?: string;
  /** Default: the cert dir's parent, as /etc/kubernetes is to /etc/kubernetes/pki. */
  kubeconfigDir?: string;
  /** Built-in profile name or a profile file; default `kubeadm`. */
  profile?: string;
  /** A kubeadm ClusterConfiguration/InitConfiguration file; explicit options override it. */
  config?: string;
  dryRun?: boolean;
  /** Reissue every leaf and kubeconfig that no longer matches (never CAs or the SA key). */
  force?: boolean;
  /** Entry names to reissue: `apiserver`, `admin.conf`, `sa`, … */
  renew?: string[];
  /** Clock and host facts, injectable for tests. */
  now?: Date;
  host?: HostDefaults;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface InitResult {
  certDir: string;
  kubeconfigDir: string;
  profile: string;
  dryRun: boolean;
  settings: ClusterSettings;
  items: PlanItem[];
  /** True when this run wrote anything. */
  changed: boolean;
  /** Things the user should know that did not stop the run (e.g. kubeadm config fields kpki ignores). */
  warnings: string[];
}

/** What a run was asked for, read and resolved once: the kubeadm config file, settings and profile. */
export interface ResolvedRun {
  certDir: string;
  kubeconfigDir: string;
  settings: ClusterSettings;
  profile: Profile;
  warnings: string[];
}

/** Option values that came from flags win over the kubeadm config file's (and so does their origin, for errors). */
function mergeSettings(config: KubeadmConfig | undefined, options: SettingsInput): { input: SettingsInput; origins: SettingOrigins } {
  const explicit = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const origins = Object.fromEntries(Object.entries(config?.origins ?? {}).filter(([key]) => !(key in explicit)));
  return { input: { ...config?.settings, ...explicit }, origins };
}

/**
 * Reads the kubeadm config file (if any) and the profile, and resolves the settings once, each
 * value keeping the flag or config field it came from. `remember` adds SANs an earlier renewal
 * added, which stay whatever this run's flags say.
 */
export async function resolveRun(
  options: InitOptions,
  remember: (kubeconfigDir: string, input: SettingsInput) => Promise<SettingsInput> = async (dir, input) =>
    withRememberedSettings(input, await readRememberedSettings(dir)),
): Promise<ResolvedRun> {
  // Loaded on demand: most runs have no kubeadm config file.
  const config = options.config ? await (await import('../config/kubeadm.js')).readKubeadmConfig(options.config) : undefined;
  const certDir = options.certDir ?? config?.certificatesDir ?? DEFAULTS.certDir;
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(certDir);
  const { input, origins } = mergeSettings(config, options);
  const settings = resolveSettings(await remember(kubeconfigDir, input), options.host ?? detectHostDefaults(), origins);
  // kubeadm's warnings for lifetimes above its defaults, naming the flag or config field given.
  const lifetimes = [
    validityAboveDefault(origins.certValidity ?? '--cert-validity', settings.certValidity, false),
    validityAboveDefault(origins.caValidity ?? '--ca-validity', settings.caValidity, true),
  ].filter((w): w is string => w !== undefined);
  return {
    certDir,
    kubeconfigDir,
    settings,
    profile: await loadProfile(options.profile ?? DEFAULTS.profile),
    warnings: [...(config?.warnings ?? []), ...lifetimes],
  };
}

function conflictError(items: PlanItem[]): KpkiError {
  const conflicts = items.filter((i) => i.action === 'conflict');
  const list = conflicts.map((i) => `${i.files[0]} (${i.reasons.join('; ')})`).join('; ');
  const external = conflicts.filter((i) => i.reasons.some((r) => r.includes('external CA')));
  if (external.length === conflicts.length) {
    return new KpkiError(ErrorCode.ExternalCaMissing, `cannot complete the PKI with an external CA: ${list}`, {
      subject: conflicts[0]!.files[0],
      hint: 'have the external CA sign the missing certificates (same names and subjects as --dry-run shows), then rerun',
    });
  }
  const renewable = conflicts.filter((i) => i.kind !== 'ca' && i.kind !== 'key-pair').map((i) => i.name);
  const hint = renewable.length
    ? `nothing was written; rerun with --renew ${renewable.join(',')} to reissue ${renewable.length > 1 ? 'them' : 'it'} (or --force for all leaves)`
    : 'nothing was written; CA and service-account keys are never replaced automatically: fix or remove the named files yourself';
  return new KpkiError(ErrorCode.StaleFile, `${conflicts.length} existing file(s) do not match the settings: ${list}`, {
    subject: conflicts[0]!.files[0],
    hint,
  });
}

/** `--renew` names entries of the whole profile: a node holding only part of it ignores the others. */
export function checkRenewNames(spec: PkiSpec, renew: readonly string[]): void {
  const names = [...spec.certificates, ...spec.keyPairs, ...spec.kubeconfigs, ...spec.manifests].map((e) => e.name);
  const unknown = renew.filter((n) => !names.includes(n));
  if (unknown.length) throw badFlag('--renew', `unknown entry "${unknown.join(', ')}"`, `use names from: ${names.join(', ')}`);
}

export interface ConvergeOptions {
  dryRun: boolean;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Collects what the user should know. */
  warnings: string[];
  /** CA keys a PKCS#11 token holds (found, and made with their CA). */
  tokens?: TokenKeys;
}

/** Observes what exists of a location's files and decides what the intent needs. */
async function observeAndDecide(spec: PkiSpec, location: Location, intent: ConvergeIntent): Promise<Step[]> {
  const observed = new Map<string, Buffer>();
  await observeFiles(observedPaths(spec, location), observed);
  await observeFiles(kubeconfigReferences(spec, location, observed), observed);
  return decide(spec, location, observed, intent);
}

/**
 * observe → decide → apply for one location (a single-node PKI, the shared set or a node), under
 * the lock of its cert dir. Any replacement a killed run committed is finished before anything is
 * read; all files change as one journaled set; nothing is written when any entry conflicts.
 */
async function converge(
  spec: PkiSpec,
  location: Location,
  intent: ConvergeIntent,
  options: ConvergeOptions,
): Promise<{ steps: Step[]; changed: boolean }> {
  const { certDir } = location;
  if (options.dryRun) {
    const pending = pendingJournals(certDir);
    if (pending.length)
      options.warnings.push(
        `${pending.join(', ')}: a killed run's replacement is pending; the plan shows the files before it, and the next write completes it`,
      );
    return { steps: await observeAndDecide(spec, location, intent), changed: false };
  }
  return withWriteLock(certDir, async (completed) => {
    if (completed.length) options.warnings.push(`completed an interrupted replacement of ${completed.join(', ')}`);
    const certDirs = spec.certificates.map((c) =>
      path.dirname(path.join(c.location === 'kubeletPki' ? location.kubeletPki! : certDir, c.file!)),
    );
    removeStaleTempFiles([...new Set([certDir, location.kubeconfigDir, ...certDirs])]);
    const steps = await observeAndDecide(spec, location, intent);
    if (steps.some((s) => s.action === 'conflict')) throw conflictError(steps);
    const rendered = await renderSteps(steps, {
      now: intent.now,
      signal: options.signal,
      makeCaKey: options.tokens?.make,
      onKey: (done, total) => options.onProgress?.({ phase: 'keys', done, total }),
    });
    options.warnings.push(...cutAtCaExpiry(rendered, intent.now));
    const files = rendered.flatMap((r) => r.files);
    let staged = 0;
    await applyChanges(certDir, files, {
      abort: { signal: options.signal, error: interruptedError },
      onStaged: () => options.onProgress?.({ phase: 'write', done: ++staged, total: files.length }),
    });
    return { steps, changed: steps.some(writes) };
  });
}

/** The part of a run's options that says what to do with existing files and how to report, and the token keys opened for it. */
export type RunOptions = Pick<InitOptions, 'dryRun' | 'force' | 'renew' | 'now' | 'onProgress' | 'signal'> & { tokens?: TokenKeys };

/** Converges one location (spec resolved with `settings`) as the run's options ask, and reports it as init does. */
export async function initLocation(
  spec: PkiSpec,
  location: Location,
  settings: ClusterSettings,
  profile: string,
  options: RunOptions,
  warnings: string[],
): Promise<InitResult> {
  const dryRun = options.dryRun ?? false;
  const { steps, changed } = await converge(
    spec,
    location,
    { force: options.force ?? false, renew: options.renew ?? [], now: options.now ?? new Date(), tokenCas: options.tokens?.cas },
    { dryRun, onProgress: options.onProgress, signal: options.signal, warnings, tokens: options.tokens },
  );
  return {
    certDir: location.certDir,
    kubeconfigDir: location.kubeconfigDir,
    profile,
    dryRun,
    settings,
    items: steps.map(planItem),
    changed,
    warnings,
  };
}

/**
 * Creates (or completes) a kubeadm-compatible PKI and its kubeconfigs. Existing valid files are
 * kept byte for byte; stale ones are reissued only when `force` or `renew` ask for it.
 */
export async function initPki(options: InitOptions = {}): Promise<InitResult> {
  const run = await resolveRun(options);
  const spec = buildPkiSpec(run.profile, run.settings);
  checkRenewNames(spec, options.renew ?? []);
  return withTokenKeys(run.kubeconfigDir, options, !options.dryRun, (tokens) =>
    initLocation(
      spec,
      { certDir: run.certDir, kubeconfigDir: run.kubeconfigDir },
      run.settings,
      run.profile.name,
      { ...options, tokens },
      run.warnings,
    ),
  );
}

import path from 'node:path';
import { readRememberedSans, withRememberedSans } from '../day2/remembered.js';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { buildPkiSpec, selectEntries } from '../model/plan.js';
import type { KubeadmConfig } from '../config/kubeadm.js';
import { resolveSettings, type ClusterSettings, type HostDefaults, type SettingOrigins, type SettingsInput } from '../model/settings.js';
import { removeStaleTempFiles } from '../store/files.js';
import { pendingJournals } from '../store/journal.js';
import { withWriteLock } from '../store/lock.js';
import { detectHostDefaults } from '../store/host.js';
import { DEFAULT_PROFILE, loadProfile } from '../store/profiles.js';
import { executePlan, type Progress } from './execute.js';
import { planInit, type PlanItem, type SharedSource } from './plan.js';

export type { InitAction, ItemKind, PlanItem } from './plan.js';
export type { Progress } from './execute.js';

export interface InitOptions extends SettingsInput {
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
  /** Only these profile entries (a node role's share of the set). */
  entries?: string[];
  /** Take CAs and the service-account key from the cluster's shared directory. */
  shared?: SharedSource;
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

/** Option values that came from flags win over the kubeadm config file's (and so does their origin, for errors). */
function mergeSettings(config: KubeadmConfig | undefined, options: InitOptions): { input: SettingsInput; origins: SettingOrigins } {
  const explicit = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const origins = Object.fromEntries(Object.entries(config?.origins ?? {}).filter(([key]) => !(key in explicit)));
  return { input: { ...config?.settings, ...explicit }, origins };
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

/**
 * Creates (or completes) a kubeadm-compatible PKI and its kubeconfigs. Existing valid files are
 * kept byte for byte; stale ones are reissued only when `force` or `renew` ask for it.
 */
export async function initPki(options: InitOptions = {}): Promise<InitResult> {
  // Loaded on demand: most runs have no kubeadm config file.
  const config = options.config ? await (await import('../config/kubeadm.js')).readKubeadmConfig(options.config) : undefined;
  const certDir = options.certDir ?? config?.certificatesDir ?? 'pki';
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(path.resolve(certDir));
  const { input, origins } = mergeSettings(config, options);
  // SANs `kpki renew --add-san` added to a single-node PKI stay, whatever this run's flags say.
  const settings = resolveSettings(withRememberedSans(input, await readRememberedSans(kubeconfigDir)), options.host ?? detectHostDefaults(), origins);
  const profile = await loadProfile(options.profile ?? DEFAULT_PROFILE);
  const fullSpec = buildPkiSpec(profile, settings);
  const spec = options.entries ? selectEntries(fullSpec, options.entries) : fullSpec;
  const now = options.now ?? new Date();

  // Any entry of the profile: a node that holds only part of it ignores the others.
  const names = [...fullSpec.certificates, ...fullSpec.keyPairs, ...fullSpec.kubeconfigs, ...fullSpec.manifests].map((e) => e.name);
  const unknown = (options.renew ?? []).filter((n) => !names.includes(n));
  if (unknown.length) throw badFlag('--renew', `unknown entry "${unknown.join(', ')}"`, `use names from: ${names.join(', ')}`);

  const warnings = [...(config?.warnings ?? [])];
  const planOptions = { certDir, kubeconfigDir, force: options.force ?? false, renew: options.renew ?? [], now, shared: options.shared };
  const result = (plan: { steps: PlanItem[] }, changed: boolean): InitResult => ({
    certDir,
    kubeconfigDir,
    profile: profile.name,
    dryRun: options.dryRun ?? false,
    settings,
    items: plan.steps.map(({ kind, name, files, action, reasons, subject, issuer, sans, keyType, validitySeconds }) => ({
      kind, name, files, action, reasons, subject, issuer, sans, keyType, validitySeconds,
    })),
    changed,
    warnings,
  });

  if (options.dryRun) {
    const pending = await pendingJournals(certDir);
    if (pending.length) warnings.push(`${pending.join(', ')}: a killed run's replacement is pending; the plan shows the files before it, and the next write completes it`);
    return result(await planInit(spec, planOptions), false);
  }

  // Any replacement a killed run committed is finished before anything is read.
  return withWriteLock(certDir, async (completed) => {
    if (completed.length) warnings.push(`completed an interrupted replacement of ${completed.join(', ')}`);
    await removeStaleTempFiles([...new Set([certDir, kubeconfigDir, ...spec.certificates.map((c) => path.dirname(path.join(certDir, c.file!)))])]);
    const plan = await planInit(spec, planOptions);
    if (plan.steps.some((s) => s.action === 'conflict')) throw conflictError(plan.steps);
    await executePlan(plan, { now, onProgress: options.onProgress, signal: options.signal, journalDir: certDir });
    return result(plan, plan.steps.some((s) => s.action !== 'reuse' && s.action !== 'external'));
  });
}

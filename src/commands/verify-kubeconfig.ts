import { DEFAULTS } from '../model/defaults.js';
import { badFlag } from '../errors.js';
import { wiringFromProfile } from '../model/flags.js';
import { readBounded } from '../store/bounded-read.js';
import { loadProfile } from '../store/profiles.js';
import { exists } from '../store/tree.js';
import type { Facts } from '../verify/facts.js';
import { tallyFindings } from '../verify/findings.js';
import { loadContexts } from '../verify/load-contexts.js';
import type { VerifyOptions, VerifyResult } from '../verify/options.js';
import { chooseBenchmark, labelFindings } from '../verify/benchmarks.js';
import { CONTEXT_RULES } from '../verify/rules/contexts.js';
import { hygiene } from '../verify/rules/hygiene.js';
import { runRules } from '../verify/run.js';
import { warnWithinSeconds } from './verify-directory.js';

/**
 * `kpki verify --kubeconfig F` for someone who holds a kubeconfig and nothing else: every context
 * (or `--context`) checked on its own, with no PKI directory or component flags to compare against.
 */

/** The inputs that name a PKI or a component: given any, verify checks the cluster's side as well. */
const CLUSTER_INPUTS = [
  'certDir',
  'kubeconfigDir',
  'apiserverArgs',
  'etcdArgs',
  'controllerManagerArgs',
  'schedulerArgs',
  'kubeletConfig',
  'manifestsDir',
  'root',
] as const;

/**
 * Whether to check the kubeconfigs on their own: they are all there is (no cluster inputs, no
 * PKI at the default places), or `--context` asks for one of their contexts.
 */
export async function kubeconfigsOnly(options: VerifyOptions): Promise<boolean> {
  const clusterInputs =
    CLUSTER_INPUTS.some((name) => options[name]) || Boolean(options.apiServices?.length || options.servingCerts?.length);
  if (options.context && (clusterInputs || !options.kubeconfigs?.length)) {
    throw badFlag(
      '--context',
      'checks a context of a kubeconfig on its own',
      'give it with --kubeconfig FILE and no --cert-dir, component flags or --root',
    );
  }
  if (!options.kubeconfigs?.length || clusterInputs) return false;
  if (options.context) return true;
  return !(await exists(DEFAULTS.nodeCertDir)) && !(await exists(DEFAULTS.certDir));
}

/** Loads the contexts of the kubeconfigs in `options` into facts, as offline and --live checks read them. */
export async function loadKubeconfigContexts(options: VerifyOptions): Promise<Facts> {
  const warnWithin = warnWithinSeconds(options);
  const profile = await loadProfile(options.profile);
  return loadContexts(options.kubeconfigs ?? [], {
    read: readBounded,
    now: options.now ?? new Date(),
    warnWithinSeconds: warnWithin,
    context: options.context,
    profile,
    wiring: wiringFromProfile(profile),
  });
}

/** `--live`: the server of every context `base` (the offline result for the same options) covered. */
export async function verifyKubeconfigsLive(options: VerifyOptions, base: VerifyResult, timeout: number): Promise<VerifyResult> {
  const facts = await loadKubeconfigContexts(options);
  const { contextsLive } = await import('../live/kubeconfig.js');
  const live = await contextsLive(facts.contexts ?? [], { timeoutMs: timeout, env: process.env, now: options.now ?? new Date() });
  return { ...base, ...tallyFindings([...base.findings, ...live]) };
}

export async function verifyKubeconfigs(options: VerifyOptions): Promise<VerifyResult> {
  const facts = await loadKubeconfigContexts(options);
  // No component flags: the version the server answered (--live), else the newest benchmark (or the one asked for).
  const benchmark = chooseBenchmark(options.benchmark, undefined, options.servedVersion);
  facts.benchmark = benchmark.name;
  const { findings, counts } = await runRules(facts, options.rules ?? [...CONTEXT_RULES, hygiene]);
  return {
    findings: labelFindings(findings, benchmark.name, (file) => facts.files.get(file)?.mode),
    counts,
    checked: {
      components: {},
      kubeconfigs: options.kubeconfigs ?? [],
      apiServices: [],
      contexts: (facts.contexts ?? []).map((c) => c.label),
    },
    benchmark,
  };
}

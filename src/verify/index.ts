import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { badFlag, badInput } from '../errors.js';
import { parseDuration } from '../model/duration.js';
import { flagsFor, type FlagComponent } from '../model/flags.js';
import { VerifyContext } from './context.js';
import { sortFindings, type Finding, type Severity } from './findings.js';
import { flag, readApiServices, readComponentArgs, readKubeletSettings, readManifestsDir, servingCertFiles, type Component, type ComponentArgs } from './inputs.js';
import type { ClusterInputs, KubeconfigInput, KubeconfigRole, Rule } from './model.js';
import { apiserverServing, apiserverToKubelet, frontProxy, serviceAccountKeys } from './rules/apiserver.js';
import { caFilesAreCas } from './rules/authorities.js';
import { apiServices } from './rules/apiservices.js';
import { apiserverToEtcd, etcdMember } from './rules/etcd.js';
import { hygiene } from './rules/hygiene.js';
import { kubeconfigs } from './rules/kubeconfigs.js';

export { FindingCode, type Finding, type Severity } from './findings.js';

/** Every rule, in the order findings are produced; hygiene last, as it looks at all files read. */
export const RULES: Rule[] = [caFilesAreCas, apiserverServing, kubeconfigs, apiserverToKubelet, frontProxy, serviceAccountKeys, etcdMember, apiserverToEtcd, apiServices];

export interface VerifyOptions {
  certDir?: string;
  kubeconfigDir?: string;
  apiserverArgs?: string;
  etcdArgs?: string;
  controllerManagerArgs?: string;
  schedulerArgs?: string;
  kubeletConfig?: string;
  kubeconfigs?: string[];
  manifestsDir?: string;
  root?: string;
  /** APIService manifests (files or folders) of extension apiservers. */
  apiServices?: string[];
  /** Their serving certificates (files or folders). */
  servingCerts?: string[];
  /** Duration such as `30d`: certificates expiring sooner are reported. Default 30d. */
  warnWithin?: string;
  now?: Date;
  /** Reads standard input for `-` sources. */
  stdin?: () => Promise<string>;
}

export interface VerifyResult {
  findings: Finding[];
  counts: Record<Severity, number>;
  /** What was checked: components with the origin of their flags, and kubeconfigs. */
  checked: { components: Record<string, string>; kubeconfigs: string[]; apiServices: string[] };
}

const STANDARD_KUBECONFIGS: Record<string, KubeconfigRole> = {
  'admin.conf': 'admin',
  'super-admin.conf': 'super-admin',
  'controller-manager.conf': 'controller-manager',
  'scheduler.conf': 'scheduler',
  'kubelet.conf': 'kubelet',
};

function kubeadmDefaults(component: FlagComponent, certDir: string, kubeconfigDir: string): ComponentArgs {
  const flags = new Map<string, string[]>(flagsFor(component, certDir, kubeconfigDir).map(([name, value]) => [name, [value]]));
  return { component, origin: `kubeadm's flags for ${certDir}`, flags };
}

async function componentInputs(options: VerifyOptions, root: string | undefined) {
  const components = new Map<Component, ComponentArgs>();
  const manifestsDir = options.manifestsDir ?? (root && !hasArgs(options) ? path.join(root, 'etc/kubernetes/manifests') : undefined);
  if (manifestsDir) for (const args of await readManifestsDir(manifestsDir)) components.set(args.component, args);
  const sources: [Component, string | undefined][] = [
    ['apiserver', options.apiserverArgs],
    ['etcd', options.etcdArgs],
    ['controller-manager', options.controllerManagerArgs],
    ['scheduler', options.schedulerArgs],
  ];
  for (const [component, source] of sources) {
    if (source) components.set(component, await readComponentArgs(source, component, options.stdin));
  }
  return components;
}

const hasArgs = (o: VerifyOptions) => Boolean(o.apiserverArgs || o.etcdArgs || o.controllerManagerArgs || o.schedulerArgs || o.manifestsDir);

/**
 * Checks a PKI against the flags its components run with. Without component flags, checks the
 * cert dir as kubeadm would wire it. Findings are ordered by severity.
 */
export async function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  const root = options.root ? path.resolve(options.root) : undefined;
  if (root && !existsSync(root)) throw badFlag('--root', `${options.root} does not exist`);
  const warnWithinSeconds = parseDuration(options.warnWithin ?? '30d');
  if (warnWithinSeconds === undefined) throw badFlag('--warn-within', `"${options.warnWithin}" is not a duration`, 'use e.g. 30d or 720h');
  const components = await componentInputs(options, root);
  const certDir = options.certDir ?? (existsSync('/etc/kubernetes/pki') ? '/etc/kubernetes/pki' : 'pki');
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(certDir);
  const givenPaths = [options.certDir, options.kubeconfigDir, ...(options.kubeconfigs ?? [])].filter((p): p is string => Boolean(p)).map((p) => path.resolve(p));
  const ctx = new VerifyContext({ root, now: options.now ?? new Date(), warnWithinSeconds, givenPaths });
  const extensionOnly = Boolean(options.apiServices?.length) && !options.certDir && components.size === 0;
  if (components.size === 0 && !extensionOnly) {
    if (!existsSync(certDir)) {
      throw badInput(certDir, 'nothing to verify: no such PKI directory and no component flags', 'pass --cert-dir, --manifests-dir or --apiserver-args');
    }
    if (!readdirSync(certDir, { recursive: true }).some((f) => String(f).endsWith('.crt'))) {
      throw badInput(certDir, 'holds no certificates (*.crt)', 'point --cert-dir at a PKI directory such as /etc/kubernetes/pki');
    }
    // No flags given: check the directory as kubeadm wires it.
    for (const component of ['apiserver', 'etcd', 'controller-manager', 'scheduler'] as const) {
      components.set(component, kubeadmDefaults(component, certDir, kubeconfigDir));
    }
  }
  const kubelet = options.kubeletConfig ? await readKubeletSettings(options.kubeletConfig, options.stdin) : undefined;

  const kubeconfigList: KubeconfigInput[] = [];
  const addKubeconfig = (file: string, role: KubeconfigRole, label: string) => {
    if (!kubeconfigList.some((k) => path.normalize(k.file) === path.normalize(file))) kubeconfigList.push({ file, role, label });
  };
  for (const file of options.kubeconfigs ?? []) addKubeconfig(file, STANDARD_KUBECONFIGS[path.basename(file)] ?? 'user', '--kubeconfig');
  const cm = components.get('controller-manager');
  const scheduler = components.get('scheduler');
  if (cm && flag(cm, 'kubeconfig')) addKubeconfig(flag(cm, 'kubeconfig')!, 'controller-manager', 'kube-controller-manager --kubeconfig');
  if (scheduler && flag(scheduler, 'kubeconfig')) addKubeconfig(flag(scheduler, 'kubeconfig')!, 'scheduler', 'kube-scheduler --kubeconfig');
  if (kubelet?.kubeconfig) addKubeconfig(kubelet.kubeconfig, 'kubelet', 'kubelet --kubeconfig');
  // The standard files beside the PKI: inside --root when reading a node copy.
  const standardDir = root && !options.kubeconfigDir ? '/etc/kubernetes' : kubeconfigDir;
  for (const [name, role] of Object.entries(STANDARD_KUBECONFIGS)) {
    const file = path.join(standardDir, name);
    if (!extensionOnly && existsSync(ctx.resolve(file))) addKubeconfig(file, role, name);
  }

  const inputs: ClusterInputs = {
    apiserver: components.get('apiserver'),
    etcd: components.get('etcd'),
    controllerManager: cm,
    scheduler,
    kubelet,
    kubeconfigs: kubeconfigList,
    apiServices: (await Promise.all((options.apiServices ?? []).map(readApiServices))).flat(),
    extensionServingCerts: (await Promise.all((options.servingCerts ?? []).map(servingCertFiles))).flat(),
  };
  for (const rule of RULES) await rule(ctx, inputs);
  await hygiene(ctx);

  const findings = sortFindings(ctx.findings);
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return {
    findings,
    counts,
    checked: {
      components: Object.fromEntries([...components].map(([name, args]) => [name, args.origin])),
      kubeconfigs: kubeconfigList.map((k) => k.file),
      apiServices: inputs.apiServices.map((a) => a.name),
    },
  };
}

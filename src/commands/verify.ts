import { DEFAULTS } from '../model/defaults.js';
import path from 'node:path';
import { readRotation } from '../day2/rotation-state.js';
import { badFlag, badInput, KpkiError } from '../errors.js';
import { parseDuration } from '../model/duration.js';
import { COMPONENTS, flagsFor, setByDefault, wiringFromProfile, type FlagComponent, type Wiring } from '../model/flags.js';
import type { Profile } from '../model/profile.js';
import { readBounded } from '../store/bounded-read.js';
import { parseNodeAddress } from '../verify/inputs/kubelet.js';
import { readApiServices, readComponentArgs, readKubeletSettings, readManifestsDir, servingCertFiles } from '../store/cluster-inputs.js';
import { pathResolver } from '../store/node-root.js';
import { loadProfile } from '../store/profiles.js';
import { exists, listDirectory, pkiFiles } from '../store/tree.js';
import { flag, type Component, type ComponentArgs } from '../verify/inputs/args.js';
import { loadFacts } from '../verify/load.js';
import type { ClusterInputs, KubeconfigInput, KubeconfigRole } from '../verify/model.js';
import type { VerifyOptions, VerifyResult } from '../verify/options.js';
import type { RotationFacts } from '../verify/rotation.js';
import { chooseBenchmark, labelFindings } from '../verify/benchmarks.js';
import { runRules } from '../verify/run.js';
import { kubeconfigsOnly, verifyKubeconfigs } from './verify-kubeconfig.js';

/** `kpki verify`: the inputs read by store, loaded into facts once, judged by the rules. */

/** The profile's kubeconfigs that carry a known identity: file name → identity. */
function standardKubeconfigs(profile: Profile): Map<string, KubeconfigRole> {
  return new Map(profile.kubeconfigs.flatMap((k) => (k.identity ? [[k.file, k.identity] as const] : [])));
}

/** kubeadm's flags for a cert dir; those of opt-in entries (component serving certificates) where the directory holds their files. */
function kubeadmDefaults(wiring: Wiring, component: FlagComponent, certDir: string, kubeconfigDir: string, files: ReadonlySet<string>): ComponentArgs {
  const flags = new Map<string, string[]>(flagsFor(wiring, component, certDir, kubeconfigDir, (flag, value) => setByDefault(flag) || files.has(value)).map(([name, value]) => [name, [value]]));
  return { component, origin: `kubeadm's flags for ${certDir}`, flags };
}

const hasArgs = (o: VerifyOptions) => Boolean(o.apiserverArgs || o.etcdArgs || o.controllerManagerArgs || o.schedulerArgs || o.manifestsDir);

async function componentInputs(options: VerifyOptions, root: string | undefined): Promise<Map<Component, ComponentArgs>> {
  const components = new Map<Component, ComponentArgs>();
  const rootManifests = root && !hasArgs(options) ? path.join(root, 'etc/kubernetes/manifests') : undefined;
  const manifestsDir = options.manifestsDir ?? (rootManifests && (await exists(rootManifests)) ? rootManifests : undefined);
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

const CERT_DIR_HINT = 'point --cert-dir at a PKI directory such as /etc/kubernetes/pki';

/**
 * Checks a PKI against the flags its components run with. Without component flags, checks the
 * cert dir as kubeadm would wire it. Findings are ordered by severity.
 */
export async function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  if (await kubeconfigsOnly(options)) return verifyKubeconfigs(options);
  const root = options.root ? path.resolve(options.root) : undefined;
  if (root) await listDirectory(root, '--root', 'point --root at a copy of a node filesystem');
  const warnWithinSeconds = parseDuration(options.warnWithin ?? DEFAULTS.warnWithin);
  if (warnWithinSeconds === undefined) throw badFlag('--warn-within', `"${options.warnWithin}" is not a duration`, 'use e.g. 30d or 720h');
  const nodeAddresses = (options.nodeAddresses ?? []).map(parseNodeAddress);
  const profile = await loadProfile(options.profile);
  const wiring = wiringFromProfile(profile);
  const standard = standardKubeconfigs(profile);
  const components = await componentInputs(options, root);
  // In a node copy the PKI is the node's /etc/kubernetes/pki, named as the node names it.
  const certDir = options.certDir ?? (root || (await exists(DEFAULTS.nodeCertDir)) ? DEFAULTS.nodeCertDir : DEFAULTS.certDir);
  const realCertDir = root && !options.certDir ? path.join(root, certDir) : certDir;
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(certDir);
  const extensionOnly = Boolean(options.apiServices?.length) && !options.certDir && components.size === 0;
  const assumedFlags = components.size === 0 && !extensionOnly;
  let files: string[] = [];
  if (options.certDir || assumedFlags || (root && (await exists(realCertDir)))) {
    if (assumedFlags && !(await exists(realCertDir))) throw badInput(realCertDir, 'nothing to verify: no such PKI directory and no component flags', 'pass --cert-dir, --manifests-dir or --apiserver-args');
    files = (await pkiFiles(realCertDir)).map((f) => path.join(certDir, path.relative(realCertDir, f)));
    if (assumedFlags && !files.some((f) => f.endsWith('.crt'))) throw badInput(realCertDir, 'holds no certificates (*.crt)', CERT_DIR_HINT);
  }
  if (assumedFlags) {
    // No flags given: check the directory as kubeadm wires it.
    for (const component of COMPONENTS) components.set(component, kubeadmDefaults(wiring, component, certDir, kubeconfigDir, new Set(files)));
  }
  const rootKubelet = root && !options.kubeletConfig ? path.join(root, 'var/lib/kubelet/config.yaml') : undefined;
  const kubeletSource = options.kubeletConfig ?? (rootKubelet && (await exists(rootKubelet)) ? rootKubelet : undefined);
  const givenPaths = [options.certDir, options.kubeconfigDir, ...(options.kubeconfigs ?? [])].filter((p): p is string => Boolean(p)).map((p) => path.resolve(p));
  const resolve = pathResolver(root, givenPaths);
  const kubelet = kubeletSource ? await readKubeletSettings(kubeletSource, options.stdin, resolve) : undefined;

  const kubeconfigList: KubeconfigInput[] = [];
  const addKubeconfig = (file: string, role: KubeconfigRole, label: string) => {
    if (!kubeconfigList.some((k) => path.normalize(k.file) === path.normalize(file))) kubeconfigList.push({ file, role, label });
  };
  for (const file of options.kubeconfigs ?? []) addKubeconfig(file, standard.get(path.basename(file)) ?? 'user', '--kubeconfig');
  const cm = components.get('controller-manager');
  const scheduler = components.get('scheduler');
  if (cm && flag(cm, 'kubeconfig')) addKubeconfig(flag(cm, 'kubeconfig')!, 'controller-manager', 'kube-controller-manager --kubeconfig');
  if (scheduler && flag(scheduler, 'kubeconfig')) addKubeconfig(flag(scheduler, 'kubeconfig')!, 'scheduler', 'kube-scheduler --kubeconfig');
  if (kubelet?.kubeconfig) addKubeconfig(kubelet.kubeconfig, 'kubelet', 'kubelet --kubeconfig');
  // The standard files beside the PKI: inside --root when reading a node copy.
  const standardDir = root && !options.kubeconfigDir ? '/etc/kubernetes' : kubeconfigDir;
  for (const [name, role] of standard) {
    const file = path.join(standardDir, name);
    if (!extensionOnly && (await exists(await resolve(file)))) addKubeconfig(file, role, name);
  }

  const inputs: ClusterInputs = {
    profile,
    wiring,
    apiserver: components.get('apiserver'),
    etcd: components.get('etcd'),
    controllerManager: cm,
    scheduler,
    kubelet,
    kubeconfigs: kubeconfigList,
    apiServices: (await Promise.all((options.apiServices ?? []).map(readApiServices))).flat(),
    extensionServingCerts: (await Promise.all((options.servingCerts ?? []).map(servingCertFiles))).flat(),
    pkiFiles: files,
    nodeAddresses,
  };
  const facts = await loadFacts(inputs, { read: readBounded, now: options.now ?? new Date(), warnWithinSeconds, root, certDir: options.certDir || assumedFlags || files.length ? certDir : undefined, assumedFlags, resolve });
  // A rotation's record lies beside the CAs it rotates; a node copy (--root) has none.
  if (facts.certDir && !root) facts.rotation = await loadRotation(certDir, kubeconfigDir);
  const { findings, counts } = await runRules(facts, options.rules);
  const benchmark = chooseBenchmark(options.benchmark, inputs.apiserver);
  return {
    findings: labelFindings(findings, benchmark.name, (file) => facts.files.get(file)?.mode),
    counts,
    benchmark,
    checked: {
      components: Object.fromEntries([...components].map(([name, args]) => [name, args.origin])),
      kubeconfigs: kubeconfigList.map((k) => k.file),
      apiServices: inputs.apiServices.map((a) => a.name),
    },
  };
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
  const found: RotationFacts = { ...base, file: state.file, phase: state.phase, cas: state.cas, serviceAccount: state.serviceAccount, problem: undefined };
  try {
    // Loaded only here: rotation code issues certificates, which plain verify runs never need.
    const { rotateCa } = await import('../day2/rotate.js');
    const status = await rotateCa({ step: 'status', certDir, kubeconfigDir });
    found.lagging = (status.status ?? []).filter((f) => f.state !== f.expected);
  } catch (error) {
    // Whatever stops status (missing rotation material, an unreadable file) is reported as not checked.
    found.problem = (error as Error).message;
  }
  return found;
}

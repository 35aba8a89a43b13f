import { DEFAULTS } from '../model/defaults.js';
import path from 'node:path';
import { badInput } from '../errors.js';
import { COMPONENTS, flagsFor, kubeadmValue, setByDefault, wiringFromProfile, type FlagComponent, type Wiring } from '../model/flags.js';
import { kubeconfigFilesOf, type Profile } from '../model/profile.js';
import { readInput } from '../store/bounded-read.js';
import { readApiServiceFiles, readInputText, readManifestFiles, servingCertFiles, type Stdin } from '../store/cluster-inputs.js';
import { pathResolver, type PathResolver } from '../store/node-root.js';
import { loadProfile } from '../store/profiles.js';
import { exists, listDirectory, pkiFiles } from '../store/tree.js';
import { NO_API_SERVICE_HINT, parseApiServices, type ApiServiceInput } from '../verify/inputs/apiservice.js';
import { BINARIES, flag, parseComponentArgs, parseManifests, type Component, type ComponentArgs } from '../verify/inputs/args.js';
import {
  KUBELET_CERT_DIR,
  parseKubeletConfig,
  parseKubeletConfigFile,
  parseNodeAddress,
  withConfigFile,
  type KubeletSettings,
} from '../verify/inputs/kubelet.js';
import type { AssembledInputs, ClusterInputs, HeldFile, KubeconfigInput, KubeconfigRole } from '../verify/model.js';
import type { NodeContext, VerifyOptions } from '../verify/options.js';

/**
 * Verify's inputs, assembled once per run: store reads the bytes, verify/inputs/ parses them,
 * and what comes out is what both the offline rules and `--live` check.
 */

/** A component's flags from a file, or from standard input for `-`. */
async function readComponentArgs(source: string, component: Component, stdin: Stdin): Promise<ComponentArgs> {
  const input = await readInputText(source, `${BINARIES[component]}'s manifest or flags file`, stdin);
  return parseComponentArgs(input.text, component, input.origin);
}

/**
 * The kubelet's KubeletConfiguration, or its flags with the file their --config names (read where
 * `resolve` puts it: below --root for a node copy).
 */
export async function readKubeletSettings(source: string, stdin: Stdin, resolve: PathResolver = async (f) => f): Promise<KubeletSettings> {
  const input = await readInputText(source, "the kubelet's config file", stdin);
  const settings = parseKubeletConfig(input.text, input.origin);
  if (!settings.config) return settings;
  const configFile = await resolve(settings.config, source === '-' ? undefined : path.dirname(source));
  const file = parseKubeletConfigFile(
    (await readInput(configFile, `the KubeletConfiguration ${input.origin}'s --config names`)).toString('utf8'),
    settings.config,
  );
  return withConfigFile(settings, file);
}

const MANIFESTS_HINT = 'point --manifests-dir at /etc/kubernetes/manifests or a copy';

/**
 * Every control-plane static pod manifest in a directory. With `emptyIsNormal` (a node copy's
 * /etc/kubernetes/manifests: empty on every kubeadm worker) a directory without any is no error.
 */
async function readManifestsDir(dir: string, emptyIsNormal: boolean): Promise<ComponentArgs[]> {
  const found = parseManifests(await readManifestFiles(dir, MANIFESTS_HINT));
  if (!found.length && !emptyIsNormal) throw badInput(dir, 'holds no control-plane static pod manifests', MANIFESTS_HINT);
  return found;
}

/** APIService objects from YAML files or a folder of them. */
async function readApiServices(target: string): Promise<ApiServiceInput[]> {
  const found = (await readApiServiceFiles(target)).flatMap((input) => parseApiServices(input.text, input.origin));
  if (!found.length) throw badInput(target, 'holds no APIService', NO_API_SERVICE_HINT);
  return found;
}

/** The profile's kubeconfigs that carry a known identity: file name → identity. */
function standardKubeconfigs(profile: Profile): Map<string, KubeconfigRole> {
  return new Map(profile.kubeconfigs.flatMap((k) => (k.identity ? [[k.file, k.identity] as const] : [])));
}

/** kubeadm's flags for a cert dir; those of opt-in entries (component serving certificates) where the directory holds their files. */
function kubeadmDefaults(
  wiring: Wiring,
  component: FlagComponent,
  certDir: string,
  kubeconfigDir: string,
  files: ReadonlySet<string>,
  extra: [string, string][] = [],
): ComponentArgs {
  const wired = flagsFor(wiring, component, certDir, kubeconfigDir, (flag, value) => setByDefault(flag) || files.has(value));
  const flags = new Map<string, string[]>([...wired, ...extra].map(([name, value]) => [name, [value]]));
  return { component, origin: `kubeadm's flags for ${certDir}`, flags };
}

/** The flags that name a component's own certificates and kubeconfigs: a directory holding one runs it. */
function ownFiles(wiring: Wiring, component: FlagComponent, certDir: string, kubeconfigDir: string): string[] {
  return wiring[component]
    .filter((w) => (w.file === 'tls-cert' || w.file === 'tls-key' || w.file === 'kubeconfig') && !w.signs)
    .flatMap((w) => {
      const value = kubeadmValue(w, certDir, kubeconfigDir);
      return value === undefined ? [] : [value];
    });
}

/**
 * What a directory without component flags is, from the files it holds: a control plane (with
 * its etcd member when etcd's certificates are there), an external etcd member, or a worker
 * (kubelet.conf only). Holding none of them, it is checked as a whole kubeadm control plane.
 */
function roleFromFiles(profile: Profile, wiring: Wiring, certDir: string, kubeconfigDir: string, held: Set<string>): NodeContext {
  const runs = (component: FlagComponent) => ownFiles(wiring, component, certDir, kubeconfigDir).some((f) => held.has(path.normalize(f)));
  const etcd = runs('etcd');
  if (runs('apiserver') || runs('controller-manager') || runs('scheduler')) return { role: 'control-plane', stackedEtcd: etcd };
  if (etcd) return { role: 'etcd' };
  if (kubeconfigFilesOf(profile, 'kubelet').some((file) => held.has(path.join(kubeconfigDir, file)))) return { role: 'worker' };
  return { role: 'control-plane', stackedEtcd: true };
}

/** The components a node of a role runs (the kubelet is added where its files are). */
function componentsOf(node: NodeContext): FlagComponent[] {
  switch (node.role) {
    case 'control-plane':
      return COMPONENTS.filter((c) => c !== 'etcd' || node.stackedEtcd !== false);
    case 'etcd':
      return ['etcd'];
    default:
      return [];
  }
}

/** kubeadm's KubeletConfiguration for a node: the cluster CA for client certificates, kubelet.conf, serving from /var/lib/kubelet/pki. */
function kubeadmKubelet(caFile: string, kubeconfig: string, node: NodeContext): KubeletSettings {
  const addresses = (node.addresses ?? []).map((a): [string, string] => ['InternalIP', a]);
  return {
    origin: "kubeadm's kubelet configuration",
    clientCAFile: caFile,
    serverTLSBootstrap: false,
    certDirectory: KUBELET_CERT_DIR,
    kubeconfig,
    nodeAddresses: node.name ? [['Hostname', node.name], ...addresses] : addresses,
  };
}

const hasArgs = (o: VerifyOptions) =>
  Boolean(o.apiserverArgs || o.etcdArgs || o.controllerManagerArgs || o.schedulerArgs || o.manifestsDir);

/** The components' flags given: the manifests (--manifests-dir, or the node copy's when no flags are given), then each --*-args over them. */
async function givenComponents(options: VerifyOptions, root: string | undefined): Promise<Map<Component, ComponentArgs>> {
  const components = new Map<Component, ComponentArgs>();
  const rootManifests = root && !hasArgs(options) ? path.join(root, 'etc/kubernetes/manifests') : undefined;
  const manifestsDir = options.manifestsDir ?? (rootManifests && (await exists(rootManifests)) ? rootManifests : undefined);
  // A node copy's manifests dir is empty on workers and etcd-less nodes: the node is then checked for what it holds.
  if (manifestsDir) for (const args of await readManifestsDir(manifestsDir, !options.manifestsDir)) components.set(args.component, args);
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
 * Reads and parses everything the options name, once. Without component flags, the components are
 * those the directory's role runs (given, or told from its files), with kubeadm's flags.
 */
export async function assembleVerifyInputs(options: VerifyOptions): Promise<AssembledInputs> {
  const root = options.root ? path.resolve(options.root) : undefined;
  if (root) await listDirectory(root, '--root', 'point --root at a copy of a node filesystem');
  const nodeAddresses = (options.nodeAddresses ?? []).map(parseNodeAddress);
  const profile = await loadProfile(options.profile);
  const wiring = wiringFromProfile(profile);
  const standard = standardKubeconfigs(profile);
  const components = await givenComponents(options, root);
  // In a node copy the PKI is the node's /etc/kubernetes/pki, named as the node names it.
  const certDir = options.certDir ?? (root || (await exists(DEFAULTS.nodeCertDir)) ? DEFAULTS.nodeCertDir : DEFAULTS.certDir);
  const realCertDir = root && !options.certDir ? path.join(root, certDir) : certDir;
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(certDir);
  // Inputs that stand alone: APIServices, or a kubelet's configuration where no PKI directory is.
  const namedOnly =
    !options.certDir &&
    components.size === 0 &&
    (Boolean(options.apiServices?.length) || (Boolean(options.kubeletConfig) && !root && !(await exists(realCertDir))));
  const assumedFlags = components.size === 0 && !namedOnly;
  let files: string[] = [];
  if (options.certDir || assumedFlags || (root && (await exists(realCertDir)))) {
    if (assumedFlags && !(await exists(realCertDir)))
      throw badInput(
        realCertDir,
        'nothing to verify: no such PKI directory and no component flags',
        'pass --cert-dir, --manifests-dir or --apiserver-args',
      );
    files = (await pkiFiles(realCertDir)).map((f) => path.join(certDir, path.relative(realCertDir, f)));
    if (assumedFlags && !files.some((f) => f.endsWith('.crt'))) throw badInput(realCertDir, 'holds no certificates (*.crt)', CERT_DIR_HINT);
  }
  // The standard files beside the PKI: inside --root when reading a node copy.
  const standardDir = root && !options.kubeconfigDir ? '/etc/kubernetes' : kubeconfigDir;
  const sharedCertDir = options.node?.sharedCertDir;
  const givenPaths = [options.certDir, options.kubeconfigDir, sharedCertDir, ...(options.kubeconfigs ?? [])]
    .filter((p): p is string => Boolean(p))
    .map((p) => path.resolve(p));
  const resolve = pathResolver(root, givenPaths);
  const presentKubeconfigs = new Set<string>();
  for (const name of standard.keys()) {
    const file = path.join(standardDir, name);
    if (!namedOnly && (await exists(await resolve(file)))) presentKubeconfigs.add(file);
  }
  // What the directory is: as the caller knows it (a cluster's record), or as its files tell.
  const node = assumedFlags
    ? (options.node ??
      roleFromFiles(profile, wiring, certDir, standardDir, new Set([...files, ...presentKubeconfigs].map((f) => path.normalize(f)))))
    : options.node;
  const caFile = path.join(certDir, `${profile.certificates.find((c) => c.alias === 'cluster')?.file ?? 'ca'}.crt`);
  if (assumedFlags && node) {
    // No flags given: check the directory as kubeadm wires the components its role runs.
    const extra = (component: FlagComponent): [string, string][] => [
      ...((node.flags as Record<string, [string, string][]> | undefined)?.[component] ?? []),
      // kpki init --kubelet-serving-certs: the apiservers verify the kubelets with the cluster CA.
      ...(component === 'apiserver' && node.kubeletServingCerts ? [['kubelet-certificate-authority', caFile] as [string, string]] : []),
    ];
    for (const component of componentsOf(node))
      components.set(component, kubeadmDefaults(wiring, component, certDir, kubeconfigDir, new Set(files), extra(component)));
  }
  const rootKubelet = root && !options.kubeletConfig ? path.join(root, 'var/lib/kubelet/config.yaml') : undefined;
  const kubeletSource = options.kubeletConfig ?? (rootKubelet && (await exists(rootKubelet)) ? rootKubelet : undefined);
  // A node copy that runs a kubelet (kubelet.conf there) without its config file: kubeadm's.
  const kubeletConf = path.join(standardDir, kubeconfigFilesOf(profile, 'kubelet')[0]!);
  const runsKubelet =
    root !== undefined && node !== undefined && node.role !== 'shared' && (node.role === 'worker' || presentKubeconfigs.has(kubeletConf));
  const kubelet = kubeletSource
    ? await readKubeletSettings(kubeletSource, options.stdin, resolve)
    : runsKubelet && assumedFlags
      ? kubeadmKubelet(caFile, kubeletConf, node)
      : undefined;

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
  // The shared set's admin kubeconfigs are what it is for: a missing one is a finding.
  const shared = node?.role === 'shared' ? sharedEntries(profile, certDir, kubeconfigDir) : undefined;
  for (const kc of shared?.kubeconfigs ?? []) if (!kc.optional || presentKubeconfigs.has(kc.file)) addKubeconfig(kc.file, kc.role, kc.file);
  for (const [name, role] of standard) {
    const file = path.join(standardDir, name);
    if (presentKubeconfigs.has(file)) addKubeconfig(file, role, name);
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
    node:
      node && assumedFlags
        ? {
            role: node.role,
            name: node.name,
            kubeletServer: node.servers?.[profile.kubeconfigs.find((k) => k.identity === 'kubelet')?.server ?? 'controlPlaneEndpoint'],
            clusterCa: node.role === 'worker' || node.role === 'shared' ? caFile : undefined,
            kubeletServingCa: node.kubeletServingCerts ? caFile : undefined,
            sharedCas: sharedCertDir ? sharedCaCopies(profile, certDir, path.resolve(sharedCertDir), new Set(files)) : [],
          }
        : undefined,
    held: shared?.files ?? [],
  };
  return {
    inputs,
    resolve,
    root,
    certDir: options.certDir || assumedFlags || files.length ? certDir : undefined,
    kubeconfigDir,
    assumedFlags,
  };
}

/** The CA files a node holds, each with the shared set's file it was copied from. */
function sharedCaCopies(profile: Profile, certDir: string, sharedCertDir: string, held: Set<string>): { file: string; source: string }[] {
  return profile.certificates
    .filter((c) => !c.issuer && held.has(path.join(certDir, `${c.file}.crt`)))
    .map((c) => ({ file: path.join(certDir, `${c.file}.crt`), source: path.join(sharedCertDir, `${c.file}.crt`) }));
}

/**
 * The shared set's entries (profile roles.shared) as files: its CAs and their keys, the leaves
 * and key pairs the nodes copy, and the admin kubeconfigs.
 */
function sharedEntries(
  profile: Profile,
  certDir: string,
  kubeconfigDir: string,
): { files: HeldFile[]; kubeconfigs: { file: string; role: KubeconfigRole; optional: boolean }[] } {
  const names = new Set(profile.roles.shared ?? []);
  const files: HeldFile[] = [];
  for (const c of profile.certificates.filter((e) => names.has(e.name) && e.location !== 'kubeletPki')) {
    const issuer = c.issuer ? profile.certificates.find((e) => e.name === c.issuer) : undefined;
    files.push({
      entry: c.name,
      cert: path.join(certDir, `${c.file}.crt`),
      key: path.join(certDir, `${c.file}.key`),
      issuerCert: issuer && path.join(certDir, `${issuer.file}.crt`),
      usage: c.usages?.includes('clientAuth') ? 'clientAuth' : 'serverAuth',
    });
  }
  for (const k of profile.keyPairs.filter((e) => names.has(e.name)))
    files.push({ entry: k.name, key: path.join(certDir, `${k.file}.key`), pub: path.join(certDir, `${k.file}.pub`) });
  const kubeconfigs = profile.kubeconfigs
    .filter((k) => names.has(k.name))
    .map((k) => ({ file: path.join(kubeconfigDir, k.file), role: k.identity ?? ('user' as const), optional: Boolean(k.optional) }));
  return { files, kubeconfigs };
}

import path from 'node:path';
import { renderVerifyResult } from '../render/findings.js';
import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import { COMPONENTS, flagsFor, setByDefault, wiringFromProfile, type FlagComponent } from '../model/flags.js';
import { exists } from '../store/tree.js';
import { loadProfile } from '../store/profiles.js';
import { verify } from '../commands/verify.js';
import { verifyKubeconfigsLive } from '../commands/verify-kubeconfig.js';
import { badFlag } from '../errors.js';
import { timeoutMs } from '../live/timeout.js';
import { NEWEST_CHOSEN_BY } from '../verify/benchmarks.js';
import { defineCommand } from './command.js';

/** The kubeconfigs to ask the apiserver's version with: admin.conf first (it may read everything). */
const adminFirst = (files: string[]) => [...files].sort((a, b) => Number(path.basename(b) === 'admin.conf') - Number(path.basename(a) === 'admin.conf'));

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const verifyCommand = defineCommand({
  usage: 'verify',
  description: 'Check a PKI against the flags its components run with; report symptom, diagnosis and fix',
  flags: [
    'nodeCertDir', 'kubeconfigDir', 'apiserverArgs', 'etcdArgs', 'controllerManagerArgs', 'schedulerArgs', 'kubeletConfig', 'checkedKubeconfig', 'kubeconfigContext',
    'manifestsDir', 'root', 'checkedApiservice', 'servingCert', 'nodeAddress', 'warnWithin', 'profile', 'live', 'liveTimeout', 'benchmark', 'json',
  ],
  examples: [
    'kpki verify --cert-dir /etc/kubernetes/pki',
    'kpki verify --manifests-dir /etc/kubernetes/manifests --kubelet-config /var/lib/kubelet/config.yaml',
    "tr '\\0' ' ' < /proc/$(pgrep kube-apiserver)/cmdline | kpki verify --apiserver-args -",
    'kpki verify --root ./node-copy   # manifests, PKI and kubeconfigs copied from a node',
    'kpki verify --apiservice metrics-apiservice.yaml --serving-cert metrics-server.crt',
    'kpki verify --kubeconfig ~/.kube/config --live   # only a kubeconfig: every context, then the server it names',
  ],
  async run(_args, flags, output) {
    // Read once: --live reads the same flags again.
    let stdinText: Promise<string> | undefined;
    const options = {
      certDir: flags.nodeCertDir,
      kubeconfigDir: flags.kubeconfigDir,
      apiserverArgs: flags.apiserverArgs,
      etcdArgs: flags.etcdArgs,
      controllerManagerArgs: flags.controllerManagerArgs,
      schedulerArgs: flags.schedulerArgs,
      kubeletConfig: flags.kubeletConfig,
      kubeconfigs: flags.checkedKubeconfig,
      context: flags.kubeconfigContext,
      manifestsDir: flags.manifestsDir,
      root: flags.root,
      apiServices: flags.checkedApiservice,
      servingCerts: flags.servingCert,
      nodeAddresses: flags.nodeAddress,
      warnWithin: flags.warnWithin,
      profile: flags.profile,
      benchmark: flags.benchmark,
      stdin: () => (stdinText ??= readStdin()),
    };
    let offline = await verify(options);
    if (flags.live && offline.locations) {
      throw badFlag('--live', 'checks the running components of one node, not a whole cluster directory', 'run kpki verify --live on each node (or with --root NODE_DIR and its flags)');
    }
    let benchmarkNote = '';
    if (flags.live && !options.benchmark && offline.benchmark.chosenBy === NEWEST_CHOSEN_BY) {
      // No manifest shows the version: ask the running apiserver, and label the findings in its benchmark.
      const { servedVersion } = await import('../live/version.js');
      const files = offline.checked.contexts ? options.kubeconfigs ?? [] : adminFirst(offline.checked.kubeconfigs);
      const served = await servedVersion(files, { context: options.context, timeoutMs: timeoutMs('--live-timeout', flags.liveTimeout ?? DEFAULTS.liveTimeout) });
      if ('gitVersion' in served) offline = await verify({ ...options, servedVersion: served });
      else offline = { ...offline, benchmark: { ...offline.benchmark, chosenBy: `${NEWEST_CHOSEN_BY} (GET /version: ${served.errors.join('; ') || 'no kubeconfig names the apiserver'})` } };
      benchmarkNote = `Benchmark ${offline.benchmark.name}: ${offline.benchmark.chosenBy}\n`;
    }
    const liveOptions = { ...options, timeout: flags.liveTimeout };
    const result = !flags.live ? offline
      : offline.checked.contexts ? await verifyKubeconfigsLive(liveOptions, offline)
      : await (await import('../live/verify.js')).verifyLive(liveOptions, offline);
    output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : benchmarkNote + renderVerifyResult(result));
    return result.counts.error > 0 ? 1 : 0;
  },
});

export const flagsCommand = defineCommand({
  usage: 'flags <component>',
  description: `Print the certificate flags for ${COMPONENTS.join('|')} that match a PKI directory`,
  flags: ['componentCertDir', 'kubeconfigDir', 'profile', 'flagsComponentServingCerts', 'json'],
  examples: ['kpki flags apiserver --cert-dir /etc/kubernetes/pki >> kube-apiserver.flags', 'kpki flags controller-manager --component-serving-certs'],
  async run([component], flags, output) {
    if (!(COMPONENTS as readonly string[]).includes(component!)) {
      throw badFlag('component', `"${component}" is not one of ${COMPONENTS.join(', ')}`);
    }
    // Components run elsewhere: give them absolute paths.
    const certDir = path.resolve(flags.componentCertDir);
    const kubeconfigDir = flags.kubeconfigDir === undefined ? kubeconfigDirOf(certDir) : path.resolve(flags.kubeconfigDir);
    const wiring = wiringFromProfile(await loadProfile(flags.profile));
    // Flags of opt-in entries: when asked for, or when the cert dir holds their files already.
    const held = new Set<string>();
    for (const [, value] of flagsFor(wiring, component as FlagComponent, certDir, kubeconfigDir, (flag) => !setByDefault(flag))) if (await exists(value)) held.add(value);
    const pairs = flagsFor(wiring, component as FlagComponent, certDir, kubeconfigDir, (flag, value) => setByDefault(flag) || flags.flagsComponentServingCerts || held.has(value));
    output.stdout(flags.json ? `${JSON.stringify(Object.fromEntries(pairs), null, 2)}\n` : pairs.map(([n, v]) => `--${n}=${v}\n`).join(''));
    return 0;
  },
});

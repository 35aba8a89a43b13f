import path from 'node:path';
import { kubeconfigDirOf } from '../model/defaults.js';
import { COMPONENTS, flagsFor, setByDefault, wiringFromProfile, type FlagComponent } from '../model/flags.js';
import { exists } from '../store/tree.js';
import { loadProfile } from '../store/profiles.js';
import { badFlag } from '../errors.js';
import { NEWEST_CHOSEN_BY } from '../verify/benchmarks.js';
import { defineCommand } from './command.js';
import { textStyles } from './output.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const verifyCommand = defineCommand({
  usage: 'verify',
  description: 'Check a PKI against the flags its components run with; report symptom, diagnosis and fix',
  flags: [
    'nodeCertDir',
    'kubeconfigDir',
    'apiserverArgs',
    'etcdArgs',
    'controllerManagerArgs',
    'schedulerArgs',
    'kubeletConfig',
    'checkedKubeconfig',
    'kubeconfigContext',
    'manifestsDir',
    'root',
    'checkedApiservice',
    'servingCert',
    'nodeAddress',
    'warnWithin',
    'profile',
    'live',
    'liveTimeout',
    'benchmark',
    'json',
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
    // Read once, however many inputs are `-`.
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
    const [{ verify, verifyLive }, { renderVerifyResult }] = await Promise.all([
      import('../commands/verify.js'),
      import('../render/findings.js'),
    ]);
    const result = flags.live ? await verifyLive({ ...options, timeout: flags.liveTimeout }) : await verify(options);
    // Under --live without --benchmark, which benchmark the served version (or its absence) chose.
    const { name, chosenBy } = result.benchmark;
    const benchmarkNote =
      flags.live && !flags.benchmark && (chosenBy.startsWith(NEWEST_CHOSEN_BY) || chosenBy.includes('/version'))
        ? `Benchmark ${name}: ${chosenBy}
`
        : '';
    output.stdout(
      flags.json
        ? `${JSON.stringify(result, null, 2)}
`
        : benchmarkNote + renderVerifyResult(result, await textStyles()),
    );
    return result.counts.error > 0 ? 1 : 0;
  },
});

export const flagsCommand = defineCommand({
  usage: 'flags <component>',
  description: `Print the certificate flags for ${COMPONENTS.join('|')} that match a PKI directory`,
  flags: ['componentCertDir', 'kubeconfigDir', 'profile', 'flagsComponentServingCerts', 'json'],
  examples: [
    'kpki flags apiserver --cert-dir /etc/kubernetes/pki >> kube-apiserver.flags',
    'kpki flags controller-manager --component-serving-certs',
  ],
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
    for (const [, value] of flagsFor(wiring, component as FlagComponent, certDir, kubeconfigDir, (flag) => !setByDefault(flag)))
      if (await exists(value)) held.add(value);
    const pairs = flagsFor(
      wiring,
      component as FlagComponent,
      certDir,
      kubeconfigDir,
      (flag, value) => setByDefault(flag) || flags.flagsComponentServingCerts || held.has(value),
    );
    output.stdout(flags.json ? `${JSON.stringify(Object.fromEntries(pairs), null, 2)}\n` : pairs.map(([n, v]) => `--${n}=${v}\n`).join(''));
    return 0;
  },
});

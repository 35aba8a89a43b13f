import path from 'node:path';
import type { CAC } from 'cac';
import { renderVerifyResult } from '../render/findings.js';
import { COMPONENTS, flagsFor, wiringFromProfile, type FlagComponent } from '../model/flags.js';
import { loadProfile } from '../store/profiles.js';
import { verify } from '../verify/index.js';
import { badFlag } from '../errors.js';
import { flagList, flagString, type Output, type Runner } from './output.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerVerify(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('verify', 'Check a PKI against the flags its components run with; report symptom, diagnosis and fix')
    .option('--cert-dir <dir>', 'PKI directory (default: /etc/kubernetes/pki if present, else ./pki)')
    .option('--kubeconfig-dir <dir>', "Where admin.conf & co. live (default: the cert dir's parent)")
    .option('--apiserver-args <source>', 'kube-apiserver flags: static pod manifest, flags file, BOSH YAML, or - for stdin')
    .option('--etcd-args <source>', 'etcd flags (same forms)')
    .option('--controller-manager-args <source>', 'kube-controller-manager flags (same forms)')
    .option('--scheduler-args <source>', 'kube-scheduler flags (same forms)')
    .option('--kubelet-config <file>', 'KubeletConfiguration YAML or kubelet flags')
    .option('--kubeconfig <file>', 'A kubeconfig to check (repeatable)')
    .option('--manifests-dir <dir>', 'Read every static pod manifest in this directory')
    .option('--root <dir>', 'A copy of a node filesystem: manifests, PKI, kubeconfigs and /var/lib/kubelet/config.yaml are read inside it, absolute paths and symlinks included')
    .option('--apiservice <file|dir>', "APIService manifests of extension apiservers: check caBundle against --serving-cert (repeatable)")
    .option('--serving-cert <file|dir>', "The extension apiservers' serving certificates (repeatable)")
    .option('--node-address <[type=]address>', "The node's address the apiserver dials the kubelet at, e.g. InternalIP=10.0.0.21 (repeatable)")
    .option('--warn-within <duration>', 'Warn about certificates expiring sooner (default: 30d)')
    .option('--profile <name|file>', 'Certificate profile whose wiring and kubeconfigs are expected (default: kubeadm)')
    .option('--live', 'Also dial the running components the files name (read-only): served chains, stale serving certs, client certs, APIServices')
    .option('--live-timeout <duration>', 'Bound on each --live connection (default: 5s)')
    .option('--json', 'Print the findings as JSON')
    .example('kpki verify --cert-dir /etc/kubernetes/pki')
    .example('kpki verify --manifests-dir /etc/kubernetes/manifests --kubelet-config /var/lib/kubelet/config.yaml')
    .example("tr '\\0' ' ' < /proc/$(pgrep kube-apiserver)/cmdline | kpki verify --apiserver-args -")
    .example('kpki verify --root ./node-copy   # manifests, PKI and kubeconfigs copied from a node')
    .example('kpki verify --apiservice metrics-apiservice.yaml --serving-cert metrics-server.crt')
    .action(async (flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        // Read once: --live reads the same flags again.
        let stdinText: Promise<string> | undefined;
        const options = {
          certDir: flagString(flags.certDir),
          kubeconfigDir: flagString(flags.kubeconfigDir),
          apiserverArgs: flagString(flags.apiserverArgs),
          etcdArgs: flagString(flags.etcdArgs),
          controllerManagerArgs: flagString(flags.controllerManagerArgs),
          schedulerArgs: flagString(flags.schedulerArgs),
          kubeletConfig: flagString(flags.kubeletConfig),
          kubeconfigs: flagList(flags.kubeconfig),
          manifestsDir: flagString(flags.manifestsDir),
          root: flagString(flags.root),
          apiServices: flagList(flags.apiservice),
          servingCerts: flagList(flags.servingCert),
          nodeAddresses: flagList(flags.nodeAddress),
          warnWithin: flagString(flags.warnWithin),
          profile: flagString(flags.profile),
          stdin: () => (stdinText ??= readStdin()),
        };
        const offline = await verify(options);
        const result = flags.live ? await (await import('../live/verify.js')).verifyLive({ ...options, timeout: flagString(flags.liveTimeout) }, offline) : offline;
        output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderVerifyResult(result));
        return result.counts.error > 0 ? 1 : 0;
      });
    });

  cli
    .command('flags <component>', `Print the certificate flags for ${COMPONENTS.join('|')} that match a PKI directory`)
    .option('--cert-dir <dir>', 'PKI directory (default: /etc/kubernetes/pki if present, else ./pki)')
    .option('--kubeconfig-dir <dir>', "Kubeconfig directory (default: the cert dir's parent)")
    .option('--profile <name|file>', 'Certificate profile whose wiring names the files (default: kubeadm)')
    .option('--json', 'Print {flag: value} as JSON')
    .example('kpki flags apiserver --cert-dir /etc/kubernetes/pki >> kube-apiserver.flags')
    .action(async (component: string, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (!(COMPONENTS as readonly string[]).includes(component)) {
          throw badFlag('component', `"${component}" is not one of ${COMPONENTS.join(', ')}`);
        }
        // Components run elsewhere: give them absolute paths.
        const certDir = path.resolve(flagString(flags.certDir) ?? '/etc/kubernetes/pki');
        const kubeconfigDir = path.resolve(flagString(flags.kubeconfigDir) ?? path.dirname(certDir));
        const pairs = flagsFor(wiringFromProfile(await loadProfile(flagString(flags.profile))), component as FlagComponent, certDir, kubeconfigDir);
        output.stdout(json ? `${JSON.stringify(Object.fromEntries(pairs), null, 2)}\n` : pairs.map(([n, v]) => `--${n}=${v}\n`).join(''));
        return 0;
      });
    });
}

import path from 'node:path';
import { flagsFor, wiringFromProfile, type FlagComponent, type Wiring } from '../model/flags.js';
import { kubeletPkiEntries, type Profile } from '../model/profile.js';
import type { Layout, LayoutLocation } from '../model/layout.js';
import { SIGNER_CERT } from '../model/rotation.js';

/** A component to restart on a node so that it reads the files a day-2 step changed. */
export interface Restart {
  node: string;
  component: string;
  /** The changed files it reads, as the node names them (/etc/kubernetes/…, /var/lib/kubelet/pki/…). */
  files: string[];
  /** Flags the component must run with from this restart on (its manifest changes), when any; paths as the node names them. */
  flags?: Record<string, string>;
}

/** A file of a location as its node names it: below a cluster node's directory, from `/`. */
export function asNodeSees(location: LayoutLocation, file: string): string {
  return location.root ? path.join('/', path.relative(location.root, path.resolve(file))) : file;
}

/** Within a node: etcd first (the apiserver needs it), the kubelet last. */
const PROCESS_NAMES: Record<FlagComponent, string> = {
  etcd: 'etcd',
  apiserver: 'kube-apiserver',
  'controller-manager': 'kube-controller-manager',
  scheduler: 'kube-scheduler',
};

/** Files each component of a node reads, from kubeadm's flags; the kubelet's from its kubeadm layout. */
function readersOf(location: LayoutLocation, profile: Profile, wiring: Wiring, externalEtcd: boolean): [string, string[]][] {
  const components = (Object.keys(PROCESS_NAMES) as FlagComponent[]).map((c): [string, string[]] => [
    PROCESS_NAMES[c],
    flagsFor(wiring, c, location.certDir, location.kubeconfigDir, () => true)
      .map(([, value]) => value)
      .filter((v) => path.isAbsolute(v) || v.includes(path.sep)),
  ]);
  // The kubelet reads its kubeconfig and, as clientCAFile, the trust file of the CA that signs it.
  const kubeconfig = profile.kubeconfigs.find((k) => k.identity === 'kubelet');
  const ca = profile.certificates.find((c) => c.name === kubeconfig?.issuer);
  const kubeletFiles = [
    ...(kubeconfig ? [path.join(location.kubeconfigDir, kubeconfig.file)] : []),
    ...(ca ? [path.join(location.certDir, `${ca.file}.crt`)] : []),
  ];
  const kubeletPki = location.kubeletPki;
  if (kubeletPki)
    kubeletFiles.push(
      ...kubeletPkiEntries(profile).flatMap((e) => [path.join(kubeletPki, `${e.file}.crt`), path.join(kubeletPki, `${e.file}.key`)]),
    );
  // Workers run only the kubelet; external etcd members only etcd (and control planes no etcd then).
  const runs = (name: string) => {
    if (location.role === 'worker') return name === 'kubelet';
    if (location.role === 'etcd') return name === 'etcd';
    return name !== 'etcd' || !externalEtcd;
  };
  return [...components, ['kubelet', kubeletFiles] as [string, string[]]].filter(([name]) => runs(name));
}

/**
 * The flags kube-controller-manager runs with on a node once kpki keeps its signer file there (a CA
 * rotation: see SIGNER_CERT), named as the node's manifest names the file. The restart plan prints
 * them and the rotation's live gates name the same in their fixes.
 */
export function signerFlags(location: LayoutLocation): Record<string, string> {
  return { 'cluster-signing-cert-file': path.join(location.certDirOnNode, SIGNER_CERT) };
}

/**
 * One restart as the plan prints it and the live gates' fixes name it:
 * `cp1: kube-controller-manager with --cluster-signing-cert-file=/etc/kubernetes/pki/ca-signer.crt`.
 */
export function restartLine(r: Pick<Restart, 'node' | 'component' | 'flags'>, node: (name: string) => string = (n) => n): string {
  const flags = r.flags
    ? ` with ${Object.entries(r.flags)
        .map(([name, value]) => `--${name}=${value}`)
        .join(' ')}`
    : '';
  return `${node(r.node)}: ${r.component}${flags}`;
}

/**
 * Which components must restart, node by node, to pick up changed files: etcd members first, then
 * each control plane completely before the next (the load balancer keeps the others serving), then
 * workers' kubelets (a kubelet reads kubelet.conf's CA and client certificate, its clientCAFile and
 * its serving certificate only at start). The cluster's shared directory is read by no component.
 * Where the changed files include a node's signer file, its controller manager restarts with
 * signerFlags.
 */
export function restartPlan(layout: Layout, changed: Iterable<string>): Restart[] {
  const changedFiles = new Set([...changed].map((f) => path.resolve(f)));
  const plan: Restart[] = [];
  const wiring = wiringFromProfile(layout.profile);
  const externalEtcd = layout.record?.data.topology === 'external';
  for (const location of layout.locations) {
    if (!location.node) continue;
    for (const [component, files] of readersOf(location, layout.profile, wiring, externalEtcd)) {
      const read = [...new Set(files.map((f) => path.resolve(f)))].filter((f) => changedFiles.has(f));
      if (!read.length) continue;
      const signs = component === PROCESS_NAMES['controller-manager'] && changedFiles.has(path.resolve(location.certDir, SIGNER_CERT));
      plan.push({
        node: location.node,
        component,
        files: read.map((f) => asNodeSees(location, f)),
        ...(signs && { flags: signerFlags(location) }),
      });
    }
  }
  return plan;
}

/** Human-readable restart plan, one line per step. */
export function describeRestarts(plan: Restart[]): string[] {
  return plan.map((r, i) => `${i + 1}. ${restartLine(r)}`);
}

import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import path from 'node:path';
import { badFlag } from '../errors.js';
import { nodeDirs, type NodeRole } from '../model/topology.js';
import { readRecordIfAny, RECORD_FILE, type ClusterRecord } from '../store/cluster-record.js';
import { pathExists } from '../store/files.js';
import { acquireLock } from '../store/lock.js';
import { observeFiles } from '../store/observe.js';
import type { Observed } from '../plan/decide.js';
import { SIGNER_CERT } from './names.js';
import { ROTATION_DIR, ROTATION_FILE } from './rotation-state.js';
import type { Profile } from '../model/profile.js';
import { loadProfile } from '../store/profiles.js';

/** One directory pair kpki manages: the cluster's shared set, a node's /etc/kubernetes, or a single-node PKI. */
export interface Location {
  /** Node name; `local` for a single-node PKI, undefined for the cluster's shared directory. */
  node: string | undefined;
  role: 'shared' | 'local' | NodeRole;
  certDir: string;
  kubeconfigDir: string;
  /** The node's /var/lib/kubelet/pki (kubelet serving certificates), for cluster nodes. */
  kubeletPki: string | undefined;
  /** A cluster node's directory, shaped like its file system (`/` on the machine). */
  root: string | undefined;
}

/** The tree a day-2 command works on, observed from disk. */
export interface Layout {
  profile: Profile;
  /** Where the signing CAs and the service-account key live: the shared directory, or the single PKI. */
  signing: Location;
  /** Every location, the signing one first. */
  locations: Location[];
  /** The cluster record, when the tree was made by `kpki init --control-plane-nodes`. */
  record: { file: string; data: ClusterRecord } | undefined;
  /** User kubeconfigs (kpki kubeconfig user) to keep in step: their CA data and client certificates. */
  kubeconfigs: string[];
}

export interface LayoutOptions {
  certDir?: string;
  kubeconfigDir?: string;
  nodesDir?: string;
  profile?: string;
  /** User kubeconfigs kpki made that should follow renewals and rotations too. */
  kubeconfigs?: string[];
}

/** Safe restart order: etcd members, then control planes one at a time, then workers. */
const ROLE_ORDER: Location['role'][] = ['shared', 'local', 'etcd', 'control-plane', 'worker'];

/**
 * Finds what kpki manages: a cluster (its record next to the kubeconfigs) with a directory per
 * node, or a single-node PKI.
 */
export async function observeLayout(options: LayoutOptions): Promise<Layout> {
  const kubeconfigs = (options.kubeconfigs ?? []).map((file) => path.resolve(file));
  const exists = await Promise.all(kubeconfigs.map(pathExists));
  const missing = kubeconfigs.find((_, i) => !exists[i]);
  if (missing) throw badFlag('--kubeconfig', `${missing} does not exist`, 'name user kubeconfigs kpki made (kpki kubeconfig user)');
  const certDir = options.certDir ?? DEFAULTS.certDir;
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(certDir);
  const recordFile = path.join(kubeconfigDir, RECORD_FILE);
  const data = await readRecordIfAny(recordFile);
  if (!data) {
    const local: Location = { node: 'local', role: 'local', certDir, kubeconfigDir, kubeletPki: undefined, root: undefined };
    return { profile: await loadProfile(options.profile), signing: local, locations: [local], record: undefined, kubeconfigs };
  }
  const nodesDir = options.nodesDir ?? data.settings.nodesDir;
  const shared: Location = { node: undefined, role: 'shared', certDir: data.settings.certDir, kubeconfigDir: data.settings.kubeconfigDir, kubeletPki: undefined, root: undefined };
  const nodes = data.nodes.map((node): Location => {
    const dirs = nodeDirs(nodesDir, node.name);
    return { node: node.name, role: node.role, certDir: path.join(dirs.kubernetes, 'pki'), kubeconfigDir: dirs.kubernetes, kubeletPki: dirs.kubeletPki, root: dirs.root };
  });
  const ordered = [shared, ...nodes].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role));
  return { profile: await loadProfile(options.profile ?? data.settings.profile), signing: shared, locations: ordered, record: { file: recordFile, data }, kubeconfigs };
}

/**
 * Locks every cert directory of the layout (a concurrent init, node add or day-2 run on any of
 * them is refused), in layout order; returns the release.
 */
export async function lockLayout(layout: Layout): Promise<() => Promise<void>> {
  const releases: (() => Promise<void>)[] = [];
  const release = async () => {
    for (const r of releases.reverse()) await r();
  };
  try {
    for (const location of layout.locations) if (await pathExists(location.certDir)) releases.push(await acquireLock(location.certDir));
  } catch (error) {
    await release();
    throw error;
  }
  return release;
}

/**
 * Every file a day-2 run may read: each location's entries (certificates, keys, kubeconfigs, the
 * kubelet's pki), the controller manager's signer file, the rotation's record and material, user
 * kubeconfigs and the APIService manifests named.
 */
export function layoutFiles(layout: Layout, apiServices: string[] = []): string[] {
  const { profile } = layout;
  const perLocation = layout.locations.flatMap((l) => [
    ...profile.certificates.flatMap((c) => {
      const dir = c.location === 'kubeletPki' ? l.kubeletPki : l.certDir;
      return dir ? [path.join(dir, `${c.file}.crt`), path.join(dir, `${c.file}.key`)] : [];
    }),
    ...profile.keyPairs.flatMap((k) => [path.join(l.certDir, `${k.file}.key`), path.join(l.certDir, `${k.file}.pub`)]),
    ...profile.kubeconfigs.map((k) => path.join(l.kubeconfigDir, k.file)),
    path.join(l.certDir, SIGNER_CERT),
  ]);
  const materialFiles = [...profile.certificates.filter((c) => !c.issuer).flatMap((c) => [`${c.file}.crt`, `${c.file}.key`]), ...profile.keyPairs.map((k) => `${k.file}.key`)];
  const material = (['old', 'new'] as const).flatMap((side) => materialFiles.map((file) => path.join(layout.signing.certDir, ROTATION_DIR, side, file)));
  return [...perLocation, ...material, path.join(layout.signing.certDir, ROTATION_FILE), ...layout.kubeconfigs, ...apiServices];
}

/** Reads the layout's files once, at a day-2 run's start (under the lock): its phases decide from this alone. */
export function observeLayoutFiles(layout: Layout, apiServices: string[] = []): Promise<Observed> {
  return observeFiles(layoutFiles(layout, apiServices));
}

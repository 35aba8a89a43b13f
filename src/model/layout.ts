import path from 'node:path';
import { DEFAULTS } from './defaults.js';
import type { Profile } from './profile.js';
import { ROTATION_DIR, ROTATION_FILE, SIGNER_CERT, tokenKeyRef } from './rotation.js';
import { nodeDirs, type ClusterRecord, type NodeRole } from './topology.js';

/**
 * Where one location's files live: a single-node PKI, the cluster's shared set, or a node's
 * /etc/kubernetes (and /var/lib/kubelet/pki) with CAs and shared entries taken from the shared set.
 */
export interface Location {
  certDir: string;
  kubeconfigDir: string;
  /** The kubelet's pki dir, for entries with `location: kubeletPki`. */
  kubeletPki?: string;
  shared?: SharedSource;
}

/** Where a node's CAs and service-account key come from when the cluster's are kept elsewhere. */
export interface SharedSource {
  certDir: string;
  /** Certificates taken from it rather than issued per node (CAs always are). */
  entries: string[];
  /** Entries whose private keys are copied too (what the node signs or serves with); the rest certificates only. */
  keys: string[];
}

/** A location of a layout: the cluster's shared set, a node's /etc/kubernetes, or a single-node PKI. */
export interface LayoutLocation extends Location {
  /** Node name; `local` for a single-node PKI, undefined for the cluster's shared directory. */
  node: string | undefined;
  role: 'shared' | 'local' | NodeRole;
  /** The node's /var/lib/kubelet/pki (kubelet serving certificates), for cluster nodes. */
  kubeletPki: string | undefined;
  /** A cluster node's directory, shaped like its file system (`/` on the machine). */
  root: string | undefined;
  /**
   * The cert dir as the node's components name it in their flags: /etc/kubernetes/pki for a
   * cluster node (kpki wrote it elsewhere, to be copied), the absolute cert dir for a single PKI.
   */
  certDirOnNode: string;
}

/** Every location of one PKI a day-2 command works on, as observed from disk. */
export interface Layout {
  profile: Profile;
  /** Where the signing CAs and the service-account key live: the shared directory, or the single PKI. */
  signing: LayoutLocation;
  /** Every location, the signing one first. */
  locations: LayoutLocation[];
  /** The cluster record, when the tree was made by `kpki init --control-plane-nodes`. */
  record: { file: string; data: ClusterRecord } | undefined;
  /** User kubeconfigs (kpki kubeconfig user) to keep in step: their CA data and client certificates. */
  kubeconfigs: string[];
  /** What it was observed from: read again under the lock (a node added meanwhile is in it then). */
  options: LayoutOptions;
}

export interface LayoutOptions {
  /** The PIN and module of the PKCS#11 tokens kpki-pkcs11.json puts CA keys in (asked only when one is opened). */
  token?: { pin?: () => Promise<string>; pkcs11Module?: string };
  certDir?: string;
  kubeconfigDir?: string;
  nodesDir?: string;
  profile?: string;
  /** User kubeconfigs kpki made that should follow renewals and rotations too. */
  kubeconfigs?: string[];
}

/** Safe restart order: etcd members, then control planes one at a time, then workers. */
const ROLE_ORDER: LayoutLocation['role'][] = ['shared', 'local', 'etcd', 'control-plane', 'worker'];

/** A single-node PKI's layout: one location. */
export function singleLayout(
  profile: Profile,
  certDir: string,
  kubeconfigDir: string,
  kubeconfigs: string[],
  options: LayoutOptions,
): Layout {
  const local: LayoutLocation = {
    node: 'local',
    role: 'local',
    certDir,
    kubeconfigDir,
    kubeletPki: undefined,
    root: undefined,
    certDirOnNode: path.resolve(certDir),
  };
  return { profile, signing: local, locations: [local], record: undefined, kubeconfigs, options };
}

/** A cluster's layout, from its record: the shared set and a directory per node, in restart order. */
export function clusterLayout(
  profile: Profile,
  record: { file: string; data: ClusterRecord },
  nodesDir: string,
  kubeconfigs: string[],
  options: LayoutOptions,
): Layout {
  const { data } = record;
  const shared: LayoutLocation = {
    node: undefined,
    role: 'shared',
    certDir: data.settings.certDir,
    kubeconfigDir: data.settings.kubeconfigDir,
    kubeletPki: undefined,
    root: undefined,
    certDirOnNode: data.settings.certDir,
  };
  const nodes = data.nodes.map((node): LayoutLocation => {
    const dirs = nodeDirs(nodesDir, node.name);
    return {
      node: node.name,
      role: node.role,
      certDir: path.join(dirs.kubernetes, 'pki'),
      kubeconfigDir: dirs.kubernetes,
      kubeletPki: dirs.kubeletPki,
      root: dirs.root,
      certDirOnNode: DEFAULTS.nodeCertDir,
    };
  });
  const ordered = [shared, ...nodes].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role));
  return { profile, signing: shared, locations: ordered, record, kubeconfigs, options };
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
  const materialFiles = [
    ...profile.certificates.filter((c) => !c.issuer).flatMap((c) => [`${c.file}.crt`, `${c.file}.key`, tokenKeyRef(c.file)]),
    ...profile.keyPairs.map((k) => `${k.file}.key`),
  ];
  const material = (['old', 'new'] as const).flatMap((side) =>
    materialFiles.map((file) => path.join(layout.signing.certDir, ROTATION_DIR, side, file)),
  );
  return [...perLocation, ...material, path.join(layout.signing.certDir, ROTATION_FILE), ...layout.kubeconfigs, ...apiServices];
}

/** Directories a killed run may have left temp files in. */
export function layoutDirs(layout: Layout): string[] {
  const entryDirs = (l: LayoutLocation) =>
    layout.profile.certificates.map((c) =>
      path.dirname(path.join(c.location === 'kubeletPki' ? (l.kubeletPki ?? l.certDir) : l.certDir, c.file)),
    );
  return [
    ...new Set(layout.locations.flatMap((l) => [l.certDir, ...entryDirs(l), l.kubeconfigDir, ...(l.kubeletPki ? [l.kubeletPki] : [])])),
  ];
}

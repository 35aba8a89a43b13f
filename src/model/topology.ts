import path from 'node:path';
import { badFlag } from '../errors.js';
import { canonicalIp, httpsUrl } from './net.js';
import type { Profile, Role } from './profile.js';
import { listValue, parseNodeName, type ClusterSettings, type SettingsInput } from './settings.js';

export type NodeRole = Exclude<Role, 'shared'>;

export interface ClusterNode {
  name: string;
  /** IPv4 and/or IPv6; the first is the one the node advertises (apiserver, etcd URLs). */
  addresses: string[];
  role: NodeRole;
}

/**
 * `cp1=10.0.0.11,cp2=fd00::12` → nodes; a bare IP after a node adds a second address to it, as in
 * kubelet's dual-stack `--node-ip` (`cp1=10.0.0.11,fd00::11,cp2=…`).
 */
export function parseNodeList(flag: string, text: string | undefined, role: NodeRole): ClusterNode[] {
  const nodes: ClusterNode[] = [];
  for (const item of listValue(text)) {
    const [name, address, ...rest] = item.split('=');
    const extra = address === undefined && canonicalIp(name!);
    if (extra && nodes.length) {
      nodes.at(-1)!.addresses.push(extra);
      continue;
    }
    const ip = address && canonicalIp(address);
    // The unspecified address (0.0.0.0, ::) is where a server listens, not where a node is reached.
    if (!name || !ip || rest.length || /^(0\.0\.0\.0|::)$/.test(ip)) {
      throw badFlag(
        flag,
        `"${item}" is not NAME=IP`,
        `e.g. ${flag} cp1=10.0.0.11,cp2=10.0.0.12 (dual-stack: cp1=10.0.0.11,fd00::11,cp2=…)`,
      );
    }
    nodes.push({ name: parseNodeName(`${flag} (node ${name})`, name), addresses: [ip], role });
  }
  return nodes;
}

export const primaryAddress = (node: ClusterNode) => node.addresses[0]!;

/** A node's directories under the nodes dir, shaped like the machine's. */
export function nodeDirs(nodesDir: string, name: string) {
  const root = path.join(nodesDir, name);
  return { root, kubernetes: path.join(root, 'etc/kubernetes'), kubeletPki: path.join(root, 'var/lib/kubelet/pki') };
}

/**
 * The cluster's settings as one node sees them: its name and addresses (a dual-stack node's other
 * addresses go wherever its advertised one does); without an HA endpoint, other nodes reach the
 * first control plane.
 */
export function nodeSettings(cluster: ClusterSettings, node: ClusterNode, firstControlPlane: ClusterNode): ClusterSettings {
  const more = node.addresses.slice(1);
  const endpoint =
    cluster.controlPlaneEndpoint ??
    (node.role === 'control-plane' ? undefined : { host: primaryAddress(firstControlPlane), port: undefined });
  return {
    ...cluster,
    nodeName: node.name,
    advertiseAddress: primaryAddress(node),
    nodeAddresses: node.addresses,
    controlPlaneEndpoint: endpoint,
    apiserverExtraSans: [...cluster.apiserverExtraSans, ...more],
    etcdServerExtraSans: [...cluster.etcdServerExtraSans, ...more],
    etcdPeerExtraSans: [...cluster.etcdPeerExtraSans, ...more],
  };
}

export type Topology = 'stacked' | 'external';

/** Which entries of the profile a node holds, and which of their private keys. */
export function nodeEntries(profile: Profile, node: ClusterNode, topology: Topology): { entries: string[]; keys: string[] } {
  const roleEntries = profile.roles[node.role];
  if (!roleEntries) throw badFlag('--profile', `${profile.name} has no roles.${node.role}`, 'use a profile with roles (kubeadm)');
  const etcdOnly = new Set(profile.roles.etcd ?? []);
  // With external etcd members the control planes keep only the etcd CA's certificate and their client cert.
  const external = node.role === 'control-plane' && topology === 'external';
  const isCa = (name: string) => profile.certificates.some((c) => c.name === name && !c.issuer);
  const entries = external ? roleEntries.filter((e) => !etcdOnly.has(e) || isCa(e)) : roleEntries;
  // Control planes hold the signing keys kubeadm copies to joining control planes; other nodes none.
  const keys = node.role === 'control-plane' ? entries.filter((e) => !(external && etcdOnly.has(e))) : [];
  return { entries, keys };
}

/** kube-apiserver's --etcd-servers for a topology. */
export function etcdServers(nodes: ClusterNode[], topology: Topology): string[] {
  return etcdMembersOf(nodes, topology).map((n) => httpsUrl(primaryAddress(n), 2379));
}

/** Every etcd member of a topology: the control planes when stacked, the etcd nodes when external. */
const etcdMembersOf = (nodes: ClusterNode[], topology: Topology) =>
  nodes.filter((n) => (topology === 'external' ? n.role === 'etcd' : n.role === 'control-plane'));

/**
 * The non-file flags a node's components run with in the cluster kpki wrote, as kubeadm's
 * manifests set them: the apiserver's advertise address, service range and --etcd-servers (every
 * member, as kpki init prints them); etcd's name and URLs on the node's address. File flags come
 * from the profile's wiring.
 */
export function nodeComponentFlags(
  settings: ClusterSettings,
  node: ClusterNode,
  nodes: ClusterNode[],
  topology: Topology,
): { apiserver: [string, string][]; etcd: [string, string][] } {
  const address = primaryAddress(node);
  const members = etcdMembersOf(nodes, topology);
  const runsEtcd = members.some((m) => m.name === node.name);
  return {
    apiserver:
      node.role === 'control-plane'
        ? [
            ['advertise-address', address],
            ['service-cluster-ip-range', settings.serviceCidrs.map((c) => c.text).join(',')],
            ['etcd-servers', etcdServers(nodes, topology).join(',')],
            ['kubelet-preferred-address-types', 'InternalIP,ExternalIP,Hostname'],
          ]
        : [],
    etcd: runsEtcd
      ? [
          ['name', node.name],
          ['advertise-client-urls', httpsUrl(address, 2379)],
          ['listen-client-urls', `${httpsUrl('127.0.0.1', 2379)},${httpsUrl(address, 2379)}`],
          ['initial-advertise-peer-urls', httpsUrl(address, 2380)],
          ['listen-peer-urls', httpsUrl(address, 2380)],
          ['initial-cluster', members.map((m) => `${m.name}=${httpsUrl(primaryAddress(m), 2380)}`).join(',')],
        ]
      : [],
  };
}

/** What `kpki node add` needs to extend a cluster the way it was made. */
export interface ClusterRecord {
  settings: SettingsInput & { profile?: string; certDir: string; kubeconfigDir: string; nodesDir: string; kubeletServingCerts: boolean };
  nodes: ClusterNode[];
  topology: Topology;
}

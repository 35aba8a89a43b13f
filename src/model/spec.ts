import {
  expandTemplate,
  type CertificateEntry,
  type EntryDir,
  type Profile,
  type ProfilePolicy,
  type ServerTarget,
  type TemplateVariable,
} from './profile.js';
import { canonicalIp, httpsUrl, indexedIp } from './net.js';
import type { CertificateTemplate } from '../pki/template.js';
import type { ClusterSettings, KeyType } from './settings.js';

/** A certificate fully resolved for one cluster: what to put in it and who signs it. */
export interface CertSpec extends CertificateTemplate {
  /** Profile entry name (kubeadm's name, e.g. `etcd-server`). */
  name: string;
  /** Path under its directory without extension; undefined for kubeconfig client certs. */
  file: string | undefined;
  /** Which directory of a node holds it: the cert dir, or the kubelet's pki dir. */
  location: EntryDir;
  /** Sorted and deduplicated, as kubeadm's RemoveDuplicateAltNames. */
  dnsNames: string[];
  /** Deduplicated in first-seen order. */
  ipAddresses: string[];
}

export interface KeyPairSpec {
  name: string;
  file: string;
  keyType: KeyType;
}

export interface KubeconfigSpec {
  name: string;
  /** Path under the kubeconfig dir. */
  file: string;
  clusterName: string;
  server: string;
  /** User entry name = client cert CN. */
  userName: string;
  contextName: string;
  client: CertSpec;
}

export interface ManifestSpec {
  name: string;
  file: string;
  content: string;
}

/** The whole set for one node, in generation order (CAs before what they sign). */
export interface PkiSpec {
  profile: string;
  certificates: CertSpec[];
  keyPairs: KeyPairSpec[];
  kubeconfigs: KubeconfigSpec[];
  manifests: ManifestSpec[];
}

function templateVariables(s: ClusterSettings): Record<TemplateVariable, string | string[]> {
  return {
    nodeName: s.nodeName,
    advertiseAddress: s.advertiseAddress,
    dnsDomain: s.dnsDomain,
    clusterName: s.clusterName,
    // kube-apiserver's service VIP is the first address of each service CIDR.
    serviceIPs: s.serviceCidrs.map((cidr) => indexedIp(cidr, 1)),
    controlPlaneEndpointHost: s.controlPlaneEndpoint ? [s.controlPlaneEndpoint.host] : [],
    apiserverExtraSans: s.apiserverExtraSans,
    etcdServerExtraSans: s.etcdServerExtraSans,
    etcdPeerExtraSans: s.etcdPeerExtraSans,
    nodeAddresses: s.nodeAddresses,
  };
}

/** Splits names into DNS and IP SANs the way kubeadm does: DNS sorted, IPs in first-seen order. */
export function classifySans(names: string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const name of names) {
    const ip = canonicalIp(name);
    if (ip) ips.add(ip);
    else dns.add(name.toLowerCase());
  }
  // Byte order, like Go's sort.Strings.
  return { dnsNames: [...dns].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), ipAddresses: [...ips] };
}

/**
 * Where kubeconfigs point: the control-plane endpoint (its port, else the bind port), or this
 * node's apiserver (kubeadm's local API endpoint: advertise address and bind port), which only a
 * control plane runs.
 */
export function serverUrl(target: ServerTarget, s: ClusterSettings, controlPlane: boolean): string {
  const cpe = s.controlPlaneEndpoint;
  const local = target === 'localEndpoint' || (target === 'localEndpointOnControlPlane' && controlPlane);
  if (!local && cpe) return httpsUrl(cpe.host, cpe.port ?? s.bindPort);
  return httpsUrl(s.advertiseAddress, s.bindPort);
}

/** How long certificates live and which keys they get: from settings, or a one-off issuance. */
export interface IssuancePolicy {
  caValidity: number;
  certValidity: number;
  keyType: KeyType;
}

/** What of a certificate entry goes into the certificate (not who uses it, nor where it lives). */
export type CertificateFields = Omit<CertificateEntry, 'wiring' | 'location'> & Partial<Pick<CertificateEntry, 'location'>>;

/** One profile entry made concrete: placeholders filled, SANs classified, policy applied. */
export function resolveCertificate(
  policy: ProfilePolicy,
  entry: CertificateFields,
  expand: (template: string) => string[],
  issuance: IssuancePolicy,
  file: string | undefined,
): CertSpec {
  const isCA = !entry.issuer;
  const commonName = expand(entry.commonName)[0]!;
  const names = isCA ? (policy.caCommonNameSan ? [commonName] : []) : entry.sans.flatMap(expand);
  return {
    name: entry.name,
    file,
    location: entry.location ?? 'certDir',
    issuer: entry.issuer,
    isCA,
    commonName,
    organizations: entry.organizations.map((o) => expand(o)[0]!),
    ...classifySans(names),
    keyUsages: isCA ? policy.caKeyUsages : policy.leafKeyUsages,
    extKeyUsages: entry.usages,
    basicConstraints: isCA || policy.leafBasicConstraints,
    validity: isCA ? issuance.caValidity : issuance.certValidity,
    backdate: policy.backdate,
    keyType: issuance.keyType,
  };
}

/**
 * Resolves a profile against cluster settings: pure, deterministic, in the profile's order. Entries
 * of the kubelet's pki dir are in it only for a node that has one (`kubeletPki`); a node is a
 * control plane (runs an apiserver) unless `controlPlane` is false.
 */
export function buildPkiSpec(
  profile: Profile,
  settings: ClusterSettings,
  where: { kubeletPki?: boolean; controlPlane?: boolean } = {},
): PkiSpec {
  const vars = templateVariables(settings);
  const expand = (template: string) => expandTemplate(template, vars);
  const resolveCert = (entry: CertificateFields, file: string | undefined) =>
    resolveCertificate(profile.policy, entry, expand, settings, file);

  const kubeconfigs: KubeconfigSpec[] = profile.kubeconfigs.map((entry) => {
    const client = resolveCert({ ...entry, usages: ['clientAuth'], sans: [] }, undefined);
    return {
      name: entry.name,
      file: entry.file,
      clusterName: settings.clusterName,
      server: serverUrl(entry.server, settings, where.controlPlane ?? true),
      userName: client.commonName,
      contextName: `${client.commonName}@${settings.clusterName}`,
      client,
    };
  });

  return {
    profile: profile.name,
    certificates: profile.certificates
      .filter((c) => (c.location === 'certDir' || where.kubeletPki) && (!c.when || settings[c.when]))
      .map((c) => resolveCert(c, c.file)),
    keyPairs: profile.keyPairs.map((k) => ({ name: k.name, file: k.file, keyType: settings.keyType })),
    kubeconfigs,
    manifests: profile.manifests.map((m) => ({ ...m })),
  };
}

/** The part of a set one node holds (see the profile's roles). */
export function selectEntries(spec: PkiSpec, names: string[]): PkiSpec {
  const keep = <T extends { name: string }>(list: T[]) => list.filter((e) => names.includes(e.name));
  return {
    ...spec,
    certificates: keep(spec.certificates),
    keyPairs: keep(spec.keyPairs),
    kubeconfigs: keep(spec.kubeconfigs),
    manifests: keep(spec.manifests),
  };
}

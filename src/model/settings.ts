import { badFlag } from '../errors.js';
import { DEFAULTS } from './defaults.js';
import { parseDuration } from './duration.js';
import { CONDITION_DEFAULTS } from './profile.js';
import { canonicalIp, isDnsName, parseCidr, parseHostPort, type Cidr, type HostPort } from './net.js';

import { KEY_TYPES, type KeyType } from '../pki/key-types.js';

export { KEY_TYPES, type KeyType };

/** Everything that shapes a cluster's certificates, validated and normalised. */
export interface ClusterSettings {
  nodeName: string;
  advertiseAddress: string;
  /** Every address of the node, the advertised one first (a dual-stack node has two). */
  nodeAddresses: string[];
  bindPort: number;
  controlPlaneEndpoint: HostPort | undefined;
  serviceCidrs: Cidr[];
  dnsDomain: string;
  clusterName: string;
  apiserverExtraSans: string[];
  etcdServerExtraSans: string[];
  etcdPeerExtraSans: string[];
  keyType: KeyType;
  /** Leaf validity in seconds. */
  certValidity: number;
  /** CA validity in seconds. */
  caValidity: number;
  /** False when etcd is external: kubeadm then creates no etcd certificates. */
  localEtcd: boolean;
  /** Serving certificates for kube-controller-manager and kube-scheduler, signed by the cluster CA. */
  componentServingCerts: boolean;
}

/**
 * Settings as a user gives them (flags, kubeadm config, library callers): strings, all optional.
 * The key of each field is the flag it comes from, so errors can name the flag.
 */
export interface SettingsInput {
  nodeName?: string;
  advertiseAddress?: string;
  bindPort?: number | string;
  controlPlaneEndpoint?: string;
  serviceCidr?: string;
  dnsDomain?: string;
  clusterName?: string;
  apiserverCertExtraSans?: string[] | string;
  etcdServerCertExtraSans?: string[] | string;
  etcdPeerCertExtraSans?: string[] | string;
  keyType?: string;
  certValidity?: string;
  caValidity?: string;
  localEtcd?: boolean;
  componentServingCerts?: boolean;
}

/** Values that depend on the machine (hostname, primary address): supplied by the I/O layer. */
export interface HostDefaults {
  nodeName: string;
  advertiseAddress: string | undefined;
}

export { DEFAULTS };

const FLAGS = {
  nodeName: '--node-name',
  advertiseAddress: '--advertise-address',
  bindPort: '--apiserver-bind-port',
  controlPlaneEndpoint: '--control-plane-endpoint',
  serviceCidr: '--service-cidr',
  dnsDomain: '--dns-domain',
  clusterName: '--cluster-name',
  apiserverCertExtraSans: '--apiserver-cert-extra-sans',
  etcdServerCertExtraSans: '--etcd-server-cert-extra-sans',
  etcdPeerCertExtraSans: '--etcd-peer-cert-extra-sans',
  keyType: '--key-type',
  certValidity: '--cert-validity',
  caValidity: '--ca-validity',
} as const;

/** A --key-type value (any case) as kpki's name for it. */
export function parseKeyType(text: string, source: string = FLAGS.keyType): KeyType {
  const keyType = text.toLowerCase();
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) {
    throw badFlag(source, `"${text}" is not supported`, `use one of ${KEY_TYPES.join(', ')}`);
  }
  return keyType as KeyType;
}

/** Splits comma lists and flattens repeated flags: `--x a,b --x c` → [a, b, c]. */
export function listValue(value: string[] | string | undefined): string[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** Dotted digits only: meant as an IPv4 address, so never a DNS name (RFC 1123 §2.1). */
const looksLikeIpv4 = (name: string) => /^[0-9.]+$/.test(name);

/** A SAN flag's names, each an IP (canonical) or a DNS name (lower-cased); anything else is refused. */
export function sanList(flag: string, value: string[] | string | undefined): string[] {
  return listValue(value).map((san) => {
    const ip = canonicalIp(san);
    if (ip) return ip;
    const dns = san.toLowerCase();
    if (looksLikeIpv4(dns)) throw badFlag(flag, `"${san}" is not a valid IP address`);
    if (!isDnsName(dns)) {
      throw badFlag(flag, `"${san}" is not a valid IP address, DNS name or *.wildcard name`);
    }
    return dns;
  });
}

/** A Kubernetes node name as kpki uses it: lower-cased, an RFC 1123 subdomain, never a bare IP. */
export function parseNodeName(source: string, text: string): string {
  const name = text.trim().toLowerCase();
  if (!isDnsName(name) || name.startsWith('*') || looksLikeIpv4(name)) {
    throw badFlag(
      source,
      `"${text}" is not a valid node name`,
      'use lower-case letters, digits, - and . (an RFC 1123 subdomain such as worker-1)',
    );
  }
  return name;
}

/** Where each setting came from when not a flag: `kubeadm.yaml: InitConfiguration.localAPIEndpoint.advertiseAddress (line 12)`. */
export type SettingOrigins = Partial<Record<keyof SettingsInput, string>>;

function duration(flag: string, text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) {
    throw badFlag(flag, `"${text}" is not a duration`, 'use a number with a unit, e.g. 8760h, 365d or 1y');
  }
  return seconds;
}

/**
 * Validates and normalises settings; throws a KpkiError naming the offending flag, or the
 * config-file field in `origins` when the value came from there.
 */
export function resolveSettings(input: SettingsInput, host: HostDefaults, origins: SettingOrigins = {}): ClusterSettings {
  const FLAG = { ...FLAGS, ...origins };
  const nodeName = parseNodeName(
    input.nodeName === undefined ? `${FLAG.nodeName} (default: this host's name)` : FLAG.nodeName,
    input.nodeName ?? host.nodeName,
  );

  const advertiseText = input.advertiseAddress ?? host.advertiseAddress;
  if (advertiseText === undefined) {
    throw badFlag(FLAG.advertiseAddress, 'no address given and none could be detected', 'pass --advertise-address IP');
  }
  const advertiseAddress = canonicalIp(advertiseText);
  if (!advertiseAddress) throw badFlag(FLAG.advertiseAddress, `"${advertiseText}" is not an IP address`);
  if (/^(0\.0\.0\.0|::)$/.test(advertiseAddress)) {
    throw badFlag(
      FLAG.advertiseAddress,
      `"${advertiseText}" is the unspecified address, not one other machines can reach`,
      "give this node's own IP, the one the apiserver advertises",
    );
  }

  const bindPort = Number(input.bindPort ?? DEFAULTS.bindPort);
  if (!Number.isInteger(bindPort) || bindPort < 1 || bindPort > 65535) {
    throw badFlag(FLAG.bindPort, `"${input.bindPort}" is not a port number (1-65535)`);
  }

  let controlPlaneEndpoint: HostPort | undefined;
  if (input.controlPlaneEndpoint) {
    controlPlaneEndpoint = parseHostPort(input.controlPlaneEndpoint);
    if (!controlPlaneEndpoint) {
      throw badFlag(
        FLAG.controlPlaneEndpoint,
        `"${input.controlPlaneEndpoint}" is not host[:port]`,
        'use a DNS name or IP, optionally with :port; bracket IPv6 addresses with a port, e.g. [fd00::10]:6443',
      );
    }
  }

  const cidrTexts = listValue(input.serviceCidr ?? DEFAULTS.serviceCidr);
  if (cidrTexts.length === 0 || cidrTexts.length > 2) {
    throw badFlag(FLAG.serviceCidr, 'give one CIDR, or two (one IPv4, one IPv6) for dual-stack');
  }
  const serviceCidrs = cidrTexts.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) throw badFlag(FLAG.serviceCidr, `"${text}" is not a CIDR such as 10.96.0.0/12`);
    if (cidr.prefix >= (cidr.family === 4 ? 31 : 127)) {
      throw badFlag(FLAG.serviceCidr, `"${text}" is too small to hold a service IP`);
    }
    return cidr;
  });
  if (serviceCidrs.length === 2 && serviceCidrs[0]!.family === serviceCidrs[1]!.family) {
    throw badFlag(FLAG.serviceCidr, 'a dual-stack list needs one IPv4 and one IPv6 CIDR');
  }

  const dnsDomain = (input.dnsDomain ?? DEFAULTS.dnsDomain).trim().toLowerCase().replace(/\.$/, '');
  if (!isDnsName(dnsDomain) || dnsDomain.startsWith('*')) {
    throw badFlag(FLAG.dnsDomain, `"${input.dnsDomain}" is not a DNS domain`);
  }

  const clusterName = (input.clusterName ?? DEFAULTS.clusterName).trim();
  if (!/^[A-Za-z0-9][-A-Za-z0-9_.]*$/.test(clusterName)) {
    throw badFlag(FLAG.clusterName, `"${clusterName}" is not a usable cluster name (letters, digits, - _ .)`);
  }

  const keyType = parseKeyType(input.keyType ?? DEFAULTS.keyType, FLAG.keyType);

  const certValidity = duration(FLAG.certValidity, input.certValidity ?? DEFAULTS.certValidity);
  const caValidity = duration(FLAG.caValidity, input.caValidity ?? DEFAULTS.caValidity);
  if (certValidity > caValidity) {
    throw badFlag(FLAG.certValidity, 'is longer than --ca-validity', 'leaves cannot outlive the CA that signs them');
  }

  return {
    nodeName,
    advertiseAddress,
    nodeAddresses: [advertiseAddress],
    bindPort,
    controlPlaneEndpoint,
    serviceCidrs,
    dnsDomain,
    clusterName,
    apiserverExtraSans: sanList(FLAG.apiserverCertExtraSans, input.apiserverCertExtraSans),
    etcdServerExtraSans: sanList(FLAG.etcdServerCertExtraSans, input.etcdServerCertExtraSans),
    etcdPeerExtraSans: sanList(FLAG.etcdPeerCertExtraSans, input.etcdPeerCertExtraSans),
    keyType,
    certValidity,
    caValidity,
    localEtcd: input.localEtcd ?? CONDITION_DEFAULTS.localEtcd,
    componentServingCerts: input.componentServingCerts ?? CONDITION_DEFAULTS.componentServingCerts,
  };
}

import { badFlag, badInput } from '../../errors.js';
import { isIpAddress } from '../../model/net.js';
import { flag, parseComponentArgs, yamlDocuments, type Doc } from './args.js';

/** Where the kubelet keeps its certificates unless told otherwise (--cert-dir). */
export const KUBELET_CERT_DIR = '/var/lib/kubelet/pki';

/** What kpki needs from the kubelet's configuration. */
export interface KubeletSettings {
  origin: string;
  clientCAFile?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** serverTLSBootstrap / --rotate-server-certificates: the serving certificate comes from a CSR. */
  serverTLSBootstrap: boolean;
  /** --cert-dir: where kubelet.crt or kubelet-server-current.pem live. */
  certDirectory: string;
  kubeconfig?: string;
  clusterDomain?: string;
  /** The node's addresses the kubelet reports (--node-ip, --hostname-override), as [type, address]. */
  nodeAddresses: [string, string][];
  /** --hostname-override: the Node it registers, whose identity its kubeconfig must carry. */
  nodeName?: string;
  /** The kubelet's HTTPS port (port / --port), where kube-apiserver dials it. */
  port?: number;
  /** Flags only: --config, the KubeletConfiguration file the flags override. */
  config?: string;
}

const ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'];

/** --node-address TYPE=ADDRESS (an IP alone is an InternalIP, a name a Hostname). */
export function parseNodeAddress(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq < 0) return [isIpAddress(text) ? 'InternalIP' : 'Hostname', text];
  const type = text.slice(0, eq);
  if (!ADDRESS_TYPES.includes(type))
    throw badFlag(
      '--node-address',
      `"${type}" is not an address type`,
      `use one of ${ADDRESS_TYPES.join(', ')}, e.g. InternalIP=10.0.0.21`,
    );
  return [type, text.slice(eq + 1)];
}

/** kube-apiserver's default --kubelet-preferred-address-types (v1.20). */
const DEFAULT_ADDRESS_TYPES = ['Hostname', 'InternalDNS', 'InternalIP', 'ExternalDNS', 'ExternalIP'];
/** kubeadm's --kubelet-preferred-address-types. */
export const KUBEADM_ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'Hostname'];

/** The address kube-apiserver dials a kubelet at: the node's first address of the first preferred type. */
export function dialedNodeAddress(preferred: string[], addresses: [string, string][]): { type: string; address: string } | undefined {
  for (const type of preferred.length ? preferred : DEFAULT_ADDRESS_TYPES) {
    const match = addresses.find(([t]) => t === type);
    if (match) return { type, address: match[1] };
  }
  return undefined;
}

/** kubelet's default port (v1.20). */
export const KUBELET_PORT = 10250;

const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** A KubeletConfiguration YAML, or the kubelet's flags. */
export function parseKubeletConfig(text: string, origin: string): KubeletSettings {
  const docs = text.trim().startsWith('-') ? undefined : yamlDocuments(text);
  const config = docs?.find((d) => d.kind === 'KubeletConfiguration');
  if (config) {
    const x509 = ((config.authentication as Doc | undefined)?.x509 ?? {}) as Doc;
    return {
      origin,
      clientCAFile: str(x509.clientCAFile),
      tlsCertFile: str(config.tlsCertFile),
      tlsPrivateKeyFile: str(config.tlsPrivateKeyFile),
      serverTLSBootstrap: config.serverTLSBootstrap === true,
      certDirectory: KUBELET_CERT_DIR,
      clusterDomain: str(config.clusterDomain),
      nodeAddresses: [],
      port: num(config.port),
    };
  }
  if (docs) throw badInput(origin, 'is YAML but not a KubeletConfiguration', 'give /var/lib/kubelet/config.yaml or the kubelet flags');
  const args = parseComponentArgs(text, 'kubelet', origin);
  const nodeIps = (flag(args, 'node-ip') ?? '').split(',').filter(Boolean);
  const hostname = flag(args, 'hostname-override');
  return {
    origin,
    clientCAFile: flag(args, 'client-ca-file'),
    tlsCertFile: flag(args, 'tls-cert-file'),
    tlsPrivateKeyFile: flag(args, 'tls-private-key-file'),
    serverTLSBootstrap: flag(args, 'rotate-server-certificates') === 'true',
    certDirectory: flag(args, 'cert-dir') ?? KUBELET_CERT_DIR,
    kubeconfig: flag(args, 'kubeconfig'),
    clusterDomain: flag(args, 'cluster-domain'),
    nodeAddresses: [
      ...nodeIps.map((ip): [string, string] => ['InternalIP', ip]),
      ...(hostname ? [['Hostname', hostname] as [string, string]] : []),
    ],
    nodeName: hostname?.toLowerCase(),
    port: num(flag(args, 'port')),
    config: flag(args, 'config'),
  };
}

/** The file a kubelet's --config names: a KubeletConfiguration, never flags. */
export function parseKubeletConfigFile(text: string, origin: string): KubeletSettings {
  if (text.trim().startsWith('-'))
    throw badInput(
      origin,
      "holds flags, not the KubeletConfiguration the kubelet's --config names",
      'point --config at /var/lib/kubelet/config.yaml',
    );
  return parseKubeletConfig(text, origin);
}

/**
 * The kubelet's flags over the KubeletConfiguration their --config names, as the kubelet merges
 * them: a flag given wins, the file fills in the rest.
 */
export function withConfigFile(flags: KubeletSettings, file: KubeletSettings): KubeletSettings {
  return {
    ...flags,
    clientCAFile: flags.clientCAFile ?? file.clientCAFile,
    tlsCertFile: flags.tlsCertFile ?? file.tlsCertFile,
    tlsPrivateKeyFile: flags.tlsPrivateKeyFile ?? file.tlsPrivateKeyFile,
    serverTLSBootstrap: flags.serverTLSBootstrap || file.serverTLSBootstrap,
    clusterDomain: flags.clusterDomain ?? file.clusterDomain,
    port: flags.port ?? file.port,
  };
}

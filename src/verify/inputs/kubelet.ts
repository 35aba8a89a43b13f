import { badInput } from '../../errors.js';
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
}

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
    nodeAddresses: [...nodeIps.map((ip): [string, string] => ['InternalIP', ip]), ...(hostname ? [['Hostname', hostname] as [string, string]] : [])],
  };
}

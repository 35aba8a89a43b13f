import path from 'node:path';

export const COMPONENTS = ['apiserver', 'etcd', 'controller-manager', 'scheduler'] as const;
export type FlagComponent = (typeof COMPONENTS)[number];

/**
 * The certificate flags kubeadm sets, as data: flag name → file under the cert dir (`pki:`),
 * file under the kubeconfig dir (`conf:`) or a literal value.
 */
const KUBEADM_FLAGS: Record<FlagComponent, [string, string][]> = {
  apiserver: [
    ['client-ca-file', 'pki:ca.crt'],
    ['tls-cert-file', 'pki:apiserver.crt'],
    ['tls-private-key-file', 'pki:apiserver.key'],
    ['kubelet-client-certificate', 'pki:apiserver-kubelet-client.crt'],
    ['kubelet-client-key', 'pki:apiserver-kubelet-client.key'],
    ['etcd-cafile', 'pki:etcd/ca.crt'],
    ['etcd-certfile', 'pki:apiserver-etcd-client.crt'],
    ['etcd-keyfile', 'pki:apiserver-etcd-client.key'],
    ['proxy-client-cert-file', 'pki:front-proxy-client.crt'],
    ['proxy-client-key-file', 'pki:front-proxy-client.key'],
    ['requestheader-client-ca-file', 'pki:front-proxy-ca.crt'],
    ['requestheader-allowed-names', 'front-proxy-client'],
    ['requestheader-username-headers', 'X-Remote-User'],
    ['requestheader-group-headers', 'X-Remote-Group'],
    ['requestheader-extra-headers-prefix', 'X-Remote-Extra-'],
    ['service-account-key-file', 'pki:sa.pub'],
    ['service-account-signing-key-file', 'pki:sa.key'],
  ],
  etcd: [
    ['cert-file', 'pki:etcd/server.crt'],
    ['key-file', 'pki:etcd/server.key'],
    ['trusted-ca-file', 'pki:etcd/ca.crt'],
    ['client-cert-auth', 'true'],
    ['peer-cert-file', 'pki:etcd/peer.crt'],
    ['peer-key-file', 'pki:etcd/peer.key'],
    ['peer-trusted-ca-file', 'pki:etcd/ca.crt'],
    ['peer-client-cert-auth', 'true'],
  ],
  'controller-manager': [
    ['kubeconfig', 'conf:controller-manager.conf'],
    ['authentication-kubeconfig', 'conf:controller-manager.conf'],
    ['authorization-kubeconfig', 'conf:controller-manager.conf'],
    ['client-ca-file', 'pki:ca.crt'],
    ['requestheader-client-ca-file', 'pki:front-proxy-ca.crt'],
    ['root-ca-file', 'pki:ca.crt'],
    ['service-account-private-key-file', 'pki:sa.key'],
    ['cluster-signing-cert-file', 'pki:ca.crt'],
    ['cluster-signing-key-file', 'pki:ca.key'],
  ],
  scheduler: [
    ['kubeconfig', 'conf:scheduler.conf'],
    ['authentication-kubeconfig', 'conf:scheduler.conf'],
    ['authorization-kubeconfig', 'conf:scheduler.conf'],
  ],
};

/** kubeadm's certificate flags for a component, pointing at a PKI directory: `[name, value]` pairs. */
export function flagsFor(component: FlagComponent, certDir: string, kubeconfigDir = path.dirname(path.resolve(certDir))): [string, string][] {
  const dirs: Record<string, string> = { pki: certDir, conf: kubeconfigDir };
  return KUBEADM_FLAGS[component].map(([name, value]) => {
    const match = /^(pki|conf):(.*)$/.exec(value);
    return [name, match ? path.join(dirs[match[1]!]!, match[2]!) : value];
  });
}

/**
 * File names kubeadm's own layout gives that are not entries kpki issues, and what CIS says of the
 * standard kubeconfigs by name: kept here so that no other floor spells a kubeadm file name.
 */

/** The kubelet's self-signed serving pair in its certDirectory, when it has no serving certificate configured. */
export const KUBELET_SELF_SIGNED = { cert: 'kubelet.crt', key: 'kubelet.key' } as const;

/** CIS recommendations for the standard kubeconfigs, by file name: [permissions, ownership]. */
export const KUBECONFIG_CIS: Readonly<Record<string, readonly [string, string]>> = {
  'admin.conf': ['1.1.13', '1.1.14'],
  'super-admin.conf': ['1.1.13', '1.1.14'],
  'scheduler.conf': ['1.1.15', '1.1.16'],
  'controller-manager.conf': ['1.1.17', '1.1.18'],
  'kubelet.conf': ['4.1.5', '4.1.6'],
};

/** The data key under which kube-root-ca.crt ConfigMaps and service-account token Secrets hold the cluster CA. */
export const CLUSTER_CA_DATA_KEY = 'ca.crt';

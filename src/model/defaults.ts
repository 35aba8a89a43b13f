import path from 'node:path';
import type { KeyType } from '../pki/key-types.js';

/**
 * Every value kpki uses when a flag or option is not given: the library applies them and the
 * CLI's help shows them, both from here, so the help cannot describe a default the code does
 * not use.
 */
export const DEFAULTS = {
  /** PKI directory of `init` and of the commands that issue from it (relative to the working directory). */
  certDir: 'pki',
  /** kubeadm's certificatesDir: where commands that look at a node's PKI try first, and where `flags` points components. */
  nodeCertDir: '/etc/kubernetes/pki',
  /** Where `node add` looks for kpki-cluster.json. */
  clusterDir: '.',
  /** Below the kubeconfig dir: a cluster's node directories. */
  nodesDirName: 'nodes',
  /** Below the kubeconfig dir: where `renew --csr-only` writes. */
  csrDirName: 'csr',
  profile: 'kubeadm',
  bindPort: 6443,
  serviceCidr: '10.96.0.0/12',
  dnsDomain: 'cluster.local',
  clusterName: 'kubernetes',
  keyType: 'rsa-2048' as KeyType,
  certValidity: '8760h',
  caValidity: '87600h',
  /** `verify` warns about certificates expiring sooner. */
  warnWithin: '30d',
  /** Bound on each `verify --live` connection. */
  liveTimeout: '5s',
  /** How long `kubeconfig --via-api` waits for approval and issuance. */
  csrTimeout: '2m',
  /** The APIService of `cert extension-apiserver`. */
  apiGroup: 'example.com',
  apiVersion: 'v1alpha1',
  /** `cert issue` signs with the cluster CA; `cert extension-apiserver` makes a CA of its own. */
  issueCa: 'cluster',
  extensionApiserverCa: 'new',
  /** Role of a node added with `node add`. */
  nodeRole: 'worker' as const,
};

/** Kubeconfigs live in the cert dir's parent, as /etc/kubernetes beside /etc/kubernetes/pki. */
export function kubeconfigDirOf(certDir: string): string {
  return path.dirname(path.resolve(certDir));
}

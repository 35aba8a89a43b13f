import type { ApiServiceInput } from './inputs/apiservice.js';
import type { ComponentArgs } from './inputs/args.js';
import type { KubeletSettings } from './inputs/kubelet.js';
import type { Wiring } from '../model/flags.js';
import type { ExtKeyUsageName, KubeconfigIdentity, Profile } from '../model/profile.js';

/** Which standard kubeconfig a file is (the profile's identity), or `user`: decides the identity it must carry. */
export type KubeconfigRole = KubeconfigIdentity | 'user';

export interface KubeconfigInput {
  file: string;
  role: KubeconfigRole;
  /** Who uses it, for findings: `kube-scheduler --kubeconfig`, `--kubeconfig`. */
  label: string;
}

/** What the components run with: the inputs every rule reads. */
export interface ClusterInputs {
  /** The certificate set the cluster is expected to have (kubeadm's by default). */
  profile: Profile;
  /** Which flag names which file, and how it is read: the profile's wiring. */
  wiring: Wiring;
  apiserver?: ComponentArgs;
  etcd?: ComponentArgs;
  controllerManager?: ComponentArgs;
  scheduler?: ComponentArgs;
  kubelet?: KubeletSettings;
  kubeconfigs: KubeconfigInput[];
  /** APIService objects of extension apiservers, and the serving certificates to check them with. */
  apiServices: ApiServiceInput[];
  extensionServingCerts: string[];
  /** Every certificate, key and public key file in the PKI directory, named by a flag or not. */
  pkiFiles: string[];
  /** Addresses of the node the kubelet serves on, as [type, address] (InternalIP, Hostname, …). */
  nodeAddresses: [string, string][];
  /** What the directory is, when its flags are kubeadm's for its role (a cluster kpki wrote, or told from its files). */
  node?: CheckedNode;
  /** Entries the directory holds for others to copy (the shared set): checked as what they are, not as a component's flags. */
  held: HeldFile[];
}

/**
 * What a directory of a cluster is: the shared set (the source of the nodes' CAs and admin
 * kubeconfigs, read by no component) or a node, which runs only its role's components.
 */
export type CheckedRole = 'shared' | 'control-plane' | 'etcd' | 'worker';

export interface CheckedNode {
  role: CheckedRole;
  /** The node name its kubelet identity must carry. */
  name?: string;
  /** The server its kubelet.conf must name. */
  kubeletServer?: string;
  /**
   * The cluster CA as this directory holds it, where no apiserver flag names it (a worker's
   * pki/ca.crt, the shared ca.crt): the CA the apiservers' certificates chain to and that
   * authenticates client certificates.
   */
  clusterCa?: string;
  /** The CA the apiservers verify kubelets' serving certificates with, where no apiserver flag names it. */
  kubeletServingCa?: string;
}

/** One entry of a shared set: a CA or leaf with its key, or a key pair. */
export interface HeldFile {
  entry: string;
  cert?: string;
  key?: string;
  pub?: string;
  /** A leaf's issuer, as the set holds it. */
  issuerCert?: string;
  usage?: ExtKeyUsageName;
}

export type { ApiServiceInput };

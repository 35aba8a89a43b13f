import type { ApiServiceInput } from './inputs/apiservice.js';
import type { ComponentArgs } from './inputs/args.js';
import type { KubeletSettings } from './inputs/kubelet.js';
import type { Wiring } from '../model/flags.js';
import type { ExtKeyUsageName, KubeconfigIdentity, Profile } from '../model/profile.js';
import type { PathResolver } from '../store/node-root.js';

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
  held?: HeldFile[];
}

/**
 * One run's inputs as assembled once (commands/verify-inputs.ts): what the offline rules and
 * `--live` both check, so that they see the same components, flags and files.
 */
export interface AssembledInputs {
  inputs: ClusterInputs;
  /** Where a file the inputs name is read: inside the node copy for --root. */
  resolve: PathResolver;
  /** The node copy (--root), absolute. */
  root?: string;
  /** The PKI directory checked, as the node names it; undefined when none is. */
  certDir?: string;
  /** The kubeconfig directory beside it (where a rotation's record names its files). */
  kubeconfigDir: string;
  /** No component flags were given: the components' flags are kubeadm's for the directory's role. */
  assumedFlags: boolean;
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
  /** The node's CA files and the shared set's file each is a copy of. */
  sharedCas: { file: string; source: string }[];
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

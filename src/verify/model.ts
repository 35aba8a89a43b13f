import type { ApiServiceInput } from './inputs/apiservice.js';
import type { ComponentArgs } from './inputs/args.js';
import type { KubeletSettings } from './inputs/kubelet.js';
import type { Wiring } from '../model/flags.js';
import type { KubeconfigIdentity, Profile } from '../model/profile.js';

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
}

export type { ApiServiceInput };

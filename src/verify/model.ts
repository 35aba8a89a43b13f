import type { VerifyContext } from './context.js';
import type { ComponentArgs, KubeletSettings } from './inputs.js';

/** Which standard kubeconfig a file is, when it is one: decides the identity it must carry. */
export type KubeconfigRole = 'admin' | 'super-admin' | 'controller-manager' | 'scheduler' | 'kubelet' | 'user';

export interface KubeconfigInput {
  file: string;
  role: KubeconfigRole;
  /** Who uses it, for findings: `kube-scheduler --kubeconfig`, `--kubeconfig`. */
  label: string;
}

/** What the components run with: the inputs every rule reads. */
export interface ClusterInputs {
  apiserver?: ComponentArgs;
  etcd?: ComponentArgs;
  controllerManager?: ComponentArgs;
  scheduler?: ComponentArgs;
  kubelet?: KubeletSettings;
  kubeconfigs: KubeconfigInput[];
  /** APIService objects of extension apiservers, and the serving certificates to check them with. */
  apiServices: ApiServiceInput[];
  extensionServingCerts: string[];
}

export interface ApiServiceInput {
  file: string;
  name: string;
  service: { name: string; namespace: string } | undefined;
  caBundle: string | undefined;
  insecureSkipTLSVerify: boolean;
  group: string;
  version: string;
}

/** A verification rule: reads inputs through the context and reports findings there. */
export type Rule = (ctx: VerifyContext, inputs: ClusterInputs) => Promise<void>;

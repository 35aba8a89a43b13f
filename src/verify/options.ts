import type { ServerTarget } from '../model/profile.js';
import type { Benchmark } from './benchmarks.js';
import type { Finding, Severity } from './findings.js';
import type { CheckedRole } from './model.js';
import type { Rule } from './rule.js';

export type { CheckedRole };

/** What `verify` is asked to check, and what it answers. */

export interface VerifyOptions {
  certDir?: string;
  kubeconfigDir?: string;
  apiserverArgs?: string;
  etcdArgs?: string;
  controllerManagerArgs?: string;
  schedulerArgs?: string;
  kubeletConfig?: string;
  kubeconfigs?: string[];
  manifestsDir?: string;
  root?: string;
  /** APIService manifests (files or folders) of extension apiservers. */
  apiServices?: string[];
  /** Their serving certificates (files or folders). */
  servingCerts?: string[];
  /** The node's addresses as the apiserver sees them: `InternalIP=10.0.0.21`, `Hostname=node1`, or a bare IP or name. */
  nodeAddresses?: string[];
  /** Duration such as `30d`: certificates expiring sooner are reported. Default 30d. */
  warnWithin?: string;
  now?: Date;
  /** Reads standard input for `-` sources. */
  stdin?: () => Promise<string>;
  /** The profile (built-in name or file) whose wiring and standard kubeconfigs are expected. Default: kubeadm. */
  profile?: string;
  /** With only kubeconfigs to check: the one context to check (default: every context). */
  context?: string;
  /** Rules to run instead of RULES (a library user's own, or a subset). */
  rules?: readonly Rule[];
  /** The compliance benchmark findings are labelled with. Default: the one for the apiserver's version where its manifest shows it, else the newest. */
  benchmark?: Benchmark;
  /** The version the running apiserver answered on `/version` (verify --live): chooses the benchmark where no manifest shows one. */
  servedVersion?: { gitVersion: string; origin: string };
  /** What the checked directory is, when known (a cluster kpki wrote); otherwise told from its files. */
  node?: NodeContext;
}

export interface LiveVerifyOptions extends VerifyOptions {
  /** Bound on each connection, a duration such as `5s` (the default). */
  timeout?: string;
}

export interface NodeContext {
  role: CheckedRole;
  /** The node's name and addresses (the kubelet's identity, its serving certificate's SANs). */
  name?: string;
  addresses?: string[];
  /** A control plane whose etcd member runs beside it (stacked etcd). */
  stackedEtcd?: boolean;
  /** Non-file flags its components run with, beyond kubeadm's file flags: `[name, value]`. */
  flags?: { apiserver: [string, string][]; etcd: [string, string][] };
  /** The apiservers verify kubelets' serving certificates with the cluster CA (kpki init --kubelet-serving-certs). */
  kubeletServingCerts?: boolean;
  /** The servers this node's kubeconfigs may name, by the profile's server target (its kubelet.conf: the endpoint, or its own apiserver on a control plane of kubeadm ≥ 1.33). */
  servers?: Record<ServerTarget, string>;
  /** The cluster's shared set, whose CA certificates the node's CA files are copies of. */
  sharedCertDir?: string;
}

/** One directory's result in a whole-cluster run. */
export interface CheckedLocation {
  /** Node name; `shared` for the shared set. */
  name: string;
  role: CheckedRole;
  dir: string;
  findings: Finding[];
  counts: Record<Severity, number>;
  checked: VerifyResult['checked'];
}

export interface VerifyResult {
  findings: Finding[];
  counts: Record<Severity, number>;
  /** What was checked: components with the origin of their flags, and kubeconfigs. */
  checked: { components: Record<string, string>; kubeconfigs: string[]; apiServices: string[]; contexts?: string[] };
  /** The benchmark each finding's `compliance` comes from, and what chose it. */
  benchmark: { name: Benchmark; chosenBy: string };
  /** A whole-cluster run (kpki verify where kpki-cluster.json is): each directory's own result; findings above carry `node`. */
  locations?: CheckedLocation[];
}

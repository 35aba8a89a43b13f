import type { Benchmark } from './benchmarks.js';
import type { Finding, Severity } from './findings.js';
import type { Rule } from './rule.js';

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
}

export interface VerifyResult {
  findings: Finding[];
  counts: Record<Severity, number>;
  /** What was checked: components with the origin of their flags, and kubeconfigs. */
  checked: { components: Record<string, string>; kubeconfigs: string[]; apiServices: string[]; contexts?: string[] };
  /** The benchmark each finding's `compliance` comes from, and what chose it. */
  benchmark: { name: Benchmark; chosenBy: string };
}

/**
 * kpki as a library: the same functions the CLI calls, returning the structures `--json` prints.
 * Nothing here reads process.argv or writes to stdout; failures are KpkiError with a stable `code`.
 */
export { initPki, type InitOptions, type InitResult, type InitAction, type PlanItem, type Progress } from './commands/init.js';
export { issueKubeconfig, type IssueKubeconfigOptions, type IssueKubeconfigResult } from './commands/kubeconfig.js';
export {
  initCluster,
  addNode,
  parseNodeList,
  type ClusterOptions,
  type ClusterResult,
  type NodeResult,
  type ClusterNode,
  type NodeRole,
  type AddNodeOptions,
} from './commands/cluster.js';
export { issueCertificateFiles, issueExtensionApiserver } from './issue/extension.js';
export { mergeKubeconfig } from './kubeconfig/merge.js';
export { renew } from './commands/renew.js';
export type { RenewOptions, RenewResult, RenewItem } from './plan/renew.js';
export { renewCa } from './commands/ca-renew.js';
export type { CaRenewOptions, CaRenewResult } from './plan/ca-renewal.js';
export { rotateCa } from './commands/rotate.js';
export type { RotateOptions, RotateResult } from './plan/rotation.js';
export type { RotateStep, RotationFileState } from './model/rotation.js';
export type { Restart } from './plan/restart.js';
export { inspect, checkExpiration, type ExpirationOptions } from './commands/inspect.js';
export type { InspectResult, InspectedItem, InspectedCertificate } from './inspect/material.js';
export type { ExpirationReport, ExpirationRow } from './inspect/expiration-report.js';
export { verify, verifyLive } from './commands/verify.js';
export {
  RULES,
  defineRule,
  FindingCode,
  type VerifyOptions,
  type LiveVerifyOptions,
  type VerifyResult,
  type Finding,
  type Severity,
  type Rule,
  type Facts,
  BENCHMARKS,
  BENCHMARK_CHECKS,
  type Benchmark,
} from './verify/index.js';
export { flagsFor, wiringFromProfile, COMPONENTS, type FlagComponent, type Wiring } from './model/flags.js';
export { ErrorCode, KpkiError, exitCodeFor } from './errors.js';
export { buildPkiSpec, type CertSpec, type KubeconfigSpec, type PkiSpec } from './model/spec.js';
export { parseProfile, type Profile } from './model/profile.js';
export { loadProfile, builtinProfileNames } from './store/profiles.js';
export { resolveSettings, KEY_TYPES, type ClusterSettings, type KeyType, type SettingsInput } from './model/settings.js';
export { readKubeadmConfig, parseKubeadmConfig, type KubeadmConfig } from './config/kubeadm.js';
export { kubeconfigViaApi, type ViaApiOptions, type ViaApiResult } from './live/csr.js';
export { approveKubeletServing, type ApproveOptions, type ApprovalOutcome } from './live/approve.js';
export { kubeletServingDecision, type ServingRequest, type ServingDecision, type NodeAddresses } from './live/kubelet-serving.js';

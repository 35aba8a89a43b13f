/**
 * kpki as a library: the same functions the CLI calls, returning the structures `--json` prints.
 * Errors are KpkiError with a stable `code`.
 */
export { initPki, type InitOptions, type InitResult, type InitAction, type PlanItem, type Progress } from './init/index.js';
export { ErrorCode, KpkiError } from './errors.js';
export { buildPkiSpec, type CertSpec, type KubeconfigSpec, type PkiSpec } from './spec/plan.js';
export { parseProfile, type Profile } from './spec/profile.js';
export { loadProfile, builtinProfileNames } from './store/profiles.js';
export { resolveSettings, KEY_TYPES, type ClusterSettings, type KeyType, type SettingsInput } from './spec/settings.js';
export { readKubeadmConfig, parseKubeadmConfig } from './config/kubeadm.js';

import { tallyFindings, type Finding, type Severity } from './findings.js';
import type { Facts } from './facts.js';
import type { Rule } from './rule.js';
import { apiserverKubelet } from './rules/apiserver-kubelet.js';
import { apiserverServing } from './rules/apiserver-serving.js';
import { apiServices } from './rules/apiservices.js';
import { caBundles } from './rules/ca-bundles.js';
import { caFiles } from './rules/ca-files.js';
import { componentServing } from './rules/component-serving.js';
import { apiserverEtcd, etcdMember } from './rules/etcd.js';
import { etcdOwnCa } from './rules/etcd-ca.js';
import { filePermissions } from './rules/file-permissions.js';
import { frontProxy } from './rules/front-proxy.js';
import { hygiene } from './rules/hygiene.js';
import { keyPairs } from './rules/key-pairs.js';
import { kubeconfigs } from './rules/kubeconfigs.js';
import { kubeletServer } from './rules/kubelet-server.js';
import { rotation } from './rules/rotation.js';
import { serviceAccountKeys } from './rules/service-account-keys.js';
import { tokenKeys } from './rules/token-keys.js';
import { nodeCas, sharedSet } from './rules/shared-set.js';
import { validity } from './rules/validity.js';
import { wiring } from './rules/wiring.js';

/** Every rule, in the order findings are produced. */
export const RULES: readonly Rule[] = [
  wiring,
  caFiles,
  caBundles,
  keyPairs,
  apiserverServing,
  componentServing,
  kubeconfigs,
  kubeletServer,
  apiserverKubelet,
  frontProxy,
  serviceAccountKeys,
  sharedSet,
  nodeCas,
  etcdMember,
  apiserverEtcd,
  etcdOwnCa,
  apiServices,
  hygiene,
  validity,
  filePermissions,
  rotation,
  tokenKeys,
];

/** The findings of loading and of every rule, ordered by severity, and counted. */
export async function runRules(
  facts: Facts,
  rules: readonly Rule[] = RULES,
): Promise<{ findings: Finding[]; counts: Record<Severity, number> }> {
  const found = [...facts.loadFindings];
  for (const rule of rules) found.push(...(await rule.check(facts)));
  return tallyFindings(found);
}

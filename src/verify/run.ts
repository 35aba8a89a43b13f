import { sortFindings, type Finding, type Severity } from './findings.js';
import type { Facts } from './facts.js';
import type { Rule } from './rule.js';
import { apiserverKubelet } from './rules/apiserver-kubelet.js';
import { apiserverServing } from './rules/apiserver-serving.js';
import { apiServices } from './rules/apiservices.js';
import { caBundles } from './rules/ca-bundles.js';
import { caFiles } from './rules/ca-files.js';
import { apiserverEtcd, etcdMember } from './rules/etcd.js';
import { filePermissions } from './rules/file-permissions.js';
import { frontProxy } from './rules/front-proxy.js';
import { hygiene } from './rules/hygiene.js';
import { keyPairs } from './rules/key-pairs.js';
import { kubeconfigs } from './rules/kubeconfigs.js';
import { rotation } from './rules/rotation.js';
import { serviceAccountKeys } from './rules/service-account-keys.js';
import { sharedSet } from './rules/shared-set.js';
import { wiring } from './rules/wiring.js';

/** Every rule, in the order findings are produced. */
export const RULES: readonly Rule[] = [wiring, caFiles, caBundles, keyPairs, apiserverServing, kubeconfigs, apiserverKubelet, frontProxy, serviceAccountKeys, sharedSet, etcdMember, apiserverEtcd, apiServices, hygiene, filePermissions, rotation];

/** The findings of loading and of every rule, ordered by severity, and counted. */
export async function runRules(facts: Facts, rules: readonly Rule[] = RULES): Promise<{ findings: Finding[]; counts: Record<Severity, number> }> {
  const found = [...facts.loadFindings];
  for (const rule of rules) found.push(...(await rule.check(facts)));
  const findings = sortFindings(found);
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { findings, counts };
}

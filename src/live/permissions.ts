import { FindingCode, type Finding } from '../verify/findings.js';

/**
 * What an authenticated identity may do, from the access reviews every authenticated user may
 * make: pure, so each outcome is unit-tested.
 */

interface ResourceRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

export interface AccessAnswers {
  namespace: string;
  /** SelfSubjectAccessReview `* * *` cluster-wide. */
  everything: boolean;
  /** SelfSubjectAccessReview `list pods` in the namespace: what `kubectl get pods` needs. */
  listPods: boolean;
  /** SelfSubjectRulesReview in the namespace. */
  rules: { resourceRules?: ResourceRule[]; nonResourceRules?: { verbs?: string[]; nonResourceURLs?: string[] }[]; incomplete?: boolean };
}

/** What system:basic-user grants every authenticated user: asking about itself. */
const SELF_REVIEWS = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);

const describeRule = (rule: ResourceRule) =>
  `${(rule.verbs ?? []).join(',')} ${(rule.resources ?? []).map((r) => `${r}${rule.apiGroups?.some((g) => g && g !== '*') ? `.${rule.apiGroups.filter(Boolean).join('|')}` : ''}`).join(',')}${rule.resourceNames?.length ? ` (${rule.resourceNames.join(',')})` : ''}`;

export function permissionFindings(subject: string, file: string, identity: string, user: string, answers: AccessAnswers): Finding[] {
  const where = `namespace ${answers.namespace}`;
  if (answers.everything) {
    return [
      {
        code: FindingCode.ClientIdentity,
        severity: 'info',
        subject,
        symptom: '',
        diagnosis: `the apiserver authenticates ${identity} and allows it everything, cluster-wide`,
        fix: 'nothing, if this kubeconfig is for an administrator',
        files: [file],
      },
    ];
  }
  const granted = (answers.rules.resourceRules ?? []).filter((rule) => !(rule.resources ?? []).every((r) => SELF_REVIEWS.has(r)));
  if (granted.length || answers.listPods) {
    const shown = granted.slice(0, 6).map(describeRule).join('; ');
    return [
      {
        code: FindingCode.ClientIdentity,
        severity: 'info',
        subject,
        symptom: '',
        diagnosis: `the apiserver authenticates ${identity}; in ${where} it may ${shown || 'list pods'}${granted.length > 6 ? `; and ${granted.length - 6} more rule(s)` : ''}${answers.rules.incomplete ? ' (the authorizer could not list every rule)' : ''}`,
        fix: 'nothing, if that is what this kubeconfig is for (kubectl auth can-i --list shows the same)',
        files: [file],
      },
    ];
  }
  return [
    {
      code: FindingCode.ClientForbidden,
      severity: 'warning',
      subject,
      symptom: `Error from server (Forbidden): pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "${answers.namespace}"`,
      diagnosis: `the apiserver authenticates ${identity}, but RBAC grants it nothing in ${where} beyond discovery and asking about itself: no RoleBinding or ClusterRoleBinding names the user or one of its groups${answers.rules.incomplete ? ' (the authorizer could not list every rule: a webhook may still allow more)' : ''}`,
      fix: `bind a role to the user or a group (kubectl create rolebinding … --clusterrole view --user ${user} -n ${answers.namespace}), or ask for a certificate with a group that is bound (O=…)`,
      files: [file],
    },
  ];
}

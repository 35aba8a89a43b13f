import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding } from '../rule.js';

const SIGNING_KEY_FLAG = 'kube-controller-manager --cluster-signing-key-file';

/**
 * Rule: CA keys in a PKCS#11 token. kube-controller-manager reads --cluster-signing-key-file as a
 * file and cannot sign with a token key: CSRs are signed by `kpki signer`, with the controller
 * manager's csrsigning controller off. Said once (info); a warning when the component flags read
 * (not kubeadm's defaults) still name the key file that does not exist.
 */
export const tokenKeys = defineRule({
  id: 'token-keys',
  codes: [FindingCode.CaKeyInToken],
  check(facts) {
    const t = facts.tokenKeys;
    // A worker or an etcd member runs no controller manager: nothing of it to say there.
    const role = facts.inputs.node?.role;
    if (!t || role === 'worker' || role === 'etcd') return [];
    const list = Object.entries(t.caKeys)
      .map(([name, uri]) => `${name} (${uri})`)
      .join(', ');
    const out: Finding[] = [
      finding({
        code: FindingCode.CaKeyInToken,
        severity: 'info',
        subject: t.file,
        symptom: `${t.keyFiles.join(', ')}: absent, the keys are in a PKCS#11 token`,
        diagnosis: `the keys of ${list} are in a PKCS#11 token; kube-controller-manager cannot sign CSRs with a token key, so certificates.k8s.io requests are signed by kpki signer`,
        fix: 'run kube-controller-manager with --controllers=*,-csrsigning and without --cluster-signing-key-file, and kpki signer --watch --kubeconfig admin.conf beside it',
        files: [t.file],
      }),
    ];
    if (!facts.assumedFlags) {
      for (const named of t.missing.filter((f) => f.subject === SIGNING_KEY_FLAG)) {
        out.push(
          finding({
            code: FindingCode.CaKeyInToken,
            severity: 'warning',
            subject: SIGNING_KEY_FLAG,
            symptom: named.symptom,
            diagnosis: `${SIGNING_KEY_FLAG} names ${named.files.join(', ')}, which is not a file: the key is in a PKCS#11 token, and the controller manager's CSR signing fails without it`,
            fix: 'remove --cluster-signing-cert-file/--cluster-signing-key-file, add --controllers=*,-csrsigning, and run kpki signer --watch',
            files: named.files,
          }),
        );
      }
    }
    return out;
  },
});

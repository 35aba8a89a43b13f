import { sameKeyPair } from '../../pki/keys.js';
import { flagSubject } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag, flagList, type ComponentArgs } from '../inputs/args.js';
import { defineRule, finding } from '../rule.js';

/** Rule: tokens signed by the apiserver and controller-manager verify with --service-account-key-file. */
export const serviceAccountKeys = defineRule({
  id: 'service-account-keys',
  codes: [FindingCode.ServiceAccountKeyMismatch],
  check(facts) {
    const args = facts.inputs.apiserver;
    const files = args ? flagList(args, 'service-account-key-file') : [];
    if (!args || files.length === 0) return [];
    const verifying = files.map((f) => facts.publicKeys.get(f));
    if (verifying.some((k) => k === undefined)) return [];
    const keys = verifying.flat();
    const signer = (component: ComponentArgs | undefined, name: string) => {
      const file = component && flag(component, name);
      const key = file && facts.keys.get(file);
      return key ? [{ key, file, label: flagSubject(component!, name) }] : [];
    };
    const signers = [
      ...signer(args, 'service-account-signing-key-file'),
      ...signer(facts.inputs.controllerManager, 'service-account-private-key-file'),
    ];
    return signers
      .filter((s) => !keys.some((k) => sameKeyPair(s.key, k!)))
      .map((s): Finding =>
        finding({
          code: FindingCode.ServiceAccountKeyMismatch,
          severity: 'error',
          subject: s.label,
          symptom:
            'error: You must be logged in to the server (Unauthorized) for every pod using a service-account token; apiserver log: "invalid bearer token"',
          diagnosis: `the public half of ${s.file} is not in --service-account-key-file (${files.join(', ')}), so the tokens it signs never verify`,
          fix: `openssl pkey -in ${s.file} -pubout -out ${files[0]}  # then restart kube-apiserver`,
          files: [s.file, ...files],
        }),
      );
  },
});

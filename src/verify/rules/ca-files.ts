import type { CertificateData } from '../../pki/parse.js';
import { notCaReasons } from '../../pki/match.js';
import { flagSubject } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag } from '../inputs/args.js';
import { defineRule, finding, infoOf } from '../rule.js';

/** NOT_CA findings for every certificate of a trust bundle that cannot sign. */
export function notCaFindings(certs: CertificateData[], file: string, label: string): Finding[] {
  return certs.flatMap((cert) => {
    const facts = infoOf(cert);
    const problem = notCaReasons(facts)[0];
    if (!problem) return [];
    return [
      finding({
        code: FindingCode.NotCa,
        severity: 'error',
        subject: label,
        symptom: `x509: certificate signed by unknown authority (possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "${facts.commonName}")`,
        diagnosis: `${file} holds "${facts.commonName}", which ${problem}; nothing can be verified against it`,
        fix: `point ${label} at the CA certificate (e.g. ca.crt), not a leaf`,
        files: [file],
      }),
    ];
  });
}

/** Rule: flags that name CA bundles name CA certificates. */
export const caFiles = defineRule({
  id: 'ca-files',
  codes: [FindingCode.NotCa],
  check(facts) {
    const { inputs } = facts;
    const out: Finding[] = [];
    for (const args of [inputs.apiserver, inputs.etcd, inputs.controllerManager, inputs.scheduler]) {
      if (!args || args.component === 'kubelet') continue;
      for (const wired of inputs.wiring[args.component]) {
        const file = wired.file === 'ca-bundle' || wired.signs ? flag(args, wired.name) : undefined;
        const certs = file && facts.certificates.get(file);
        if (certs) out.push(...notCaFindings(certs, file, flagSubject(args, wired.name)));
      }
    }
    const kubeletCa = inputs.kubelet?.clientCAFile;
    const certs = kubeletCa && facts.certificates.get(kubeletCa);
    if (certs) out.push(...notCaFindings(certs, kubeletCa, 'kubelet clientCAFile'));
    return out;
  },
});

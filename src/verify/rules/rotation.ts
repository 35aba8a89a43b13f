import type { RotationFacts } from '../rotation.js';
import { FindingCode, type Finding } from '../findings.js';
import { goCertificate, type CertificateData } from '../../pki/parse.js';
import type { Facts } from '../facts.js';
import { defineRule, finding, infoOf } from '../rule.js';

const dirFlags = (r: RotationFacts) => `--cert-dir ${r.certDir} --kubeconfig-dir ${r.kubeconfigDir}`;

/**
 * What brings every file of a half-applied phase to where the phase wants it: an interrupted run
 * completes when run again; otherwise going back (abort rewrites every file) and forward again.
 */
export function completeRotation(r: RotationFacts): string {
  const dirs = dirFlags(r);
  const again =
    r.phase === 'reissued'
      ? `kpki ca rotate abort ${dirs} && kpki ca rotate reissue ${dirs}`
      : `kpki ca rotate abort ${dirs} && kpki ca rotate begin ${dirs} --ca ${r.cas.length ? r.cas.join(',') : 'none'}${r.serviceAccount ? ' --service-account' : ''}`;
  return `if a kpki ca rotate run was interrupted, run it again (it completes its journaled change); otherwise ${again}; then restart what it names`;
}

const PHASES = {
  begun: { holds: 'trust files hold the old and the new CAs, the old ones still sign', next: 'reissue' },
  reissued: { holds: 'the new CAs sign, trust files still hold both', next: 'finish' },
};

/** Rule: a `kpki ca rotate` under way is reported with its phase, and every file the phase has not reached. */
export const rotation = defineRule({
  id: 'rotation',
  codes: [FindingCode.RotationUnderWay, FindingCode.RotationHalfApplied, FindingCode.FileInvalid, FindingCode.Unchecked],
  check(facts) {
    const r = facts.rotation;
    if (!r) return overlapWithoutRecord(facts);
    if (!r.phase) {
      return [
        finding({
          code: FindingCode.FileInvalid,
          severity: 'error',
          subject: r.file,
          symptom: r.problem ?? '',
          diagnosis: `the rotation record cannot be read: ${r.problem}`,
          fix: 'restore it from a backup; kpki ca rotate status shows the state of each file',
          files: [r.file],
        }),
      ];
    }
    const rotated = [...r.cas, ...(r.serviceAccount ? ['the service-account key'] : [])].join(', ');
    const phase = PHASES[r.phase];
    const out: Finding[] = [
      finding({
        code: FindingCode.RotationUnderWay,
        severity: 'info',
        subject: r.file,
        symptom: '',
        diagnosis: `kpki ca rotate of ${rotated} is in phase ${r.phase}: ${phase.holds}; the files were checked as that phase leaves them`,
        fix: `restart what the phase's plan named, then kpki ca rotate ${phase.next} ${dirFlags(r)}`,
        files: [r.file],
      }),
    ];
    if (r.problem) {
      out.push(
        finding({
          code: FindingCode.Unchecked,
          severity: 'warning',
          subject: r.file,
          symptom: '',
          diagnosis: `whether every file reached phase ${r.phase} was not checked: ${r.problem}`,
          fix: `see kpki ca rotate status ${dirFlags(r)}`,
          files: [r.file],
        }),
      );
    }
    for (const lag of r.lagging) {
      out.push(
        finding({
          code: FindingCode.RotationHalfApplied,
          severity: 'warning',
          subject: lag.node && lag.node !== 'local' ? `${lag.file} (node ${lag.node})` : lag.file,
          symptom: '',
          diagnosis: `half-applied phase: ${lag.file} is ${lag.state}, but phase ${r.phase} wants ${lag.expected}; components reading it do not get what the restart plan assumed`,
          fix: completeRotation(r),
          files: [lag.file],
        }),
      );
    }
    return out;
  },
});

/**
 * A node's directory during a rotation: its trust files hold old and new CAs, but the record of
 * the phase lives beside the cluster's shared CAs. Said once, as what was not checked here.
 */
function overlapWithoutRecord(facts: Facts): Finding[] {
  const inCertDir = (file: string) => facts.certDir !== undefined && file.startsWith(`${facts.certDir}/`);
  // Old and new CA of a rotation share their subject; a chain (intermediate and root) does not.
  const sameSubject = (certs: CertificateData[]) =>
    certs.every((c) => goCertificate(c).rawSubject.equals(goCertificate(certs[0]!).rawSubject));
  const overlapping = [...facts.certificates]
    .filter(
      ([file, certs]) =>
        inCertDir(file) && file.endsWith('.crt') && certs.length > 1 && certs.every((c) => infoOf(c).isCA) && sameSubject(certs),
    )
    .map(([file]) => file);
  if (!overlapping.length) return [];
  return [
    finding({
      code: FindingCode.RotationUnderWay,
      severity: 'info',
      subject: overlapping[0]!,
      symptom: '',
      diagnosis: `${overlapping.join(', ')} hold${overlapping.length > 1 ? '' : 's'} several CA certificates, as a kpki ca rotate overlap leaves them; the rotation's phase is recorded beside the cluster's shared CAs, not in ${facts.certDir}, so whether this node is where the phase wants it was not checked here`,
      fix: 'run kpki ca rotate status where the shared CAs are (the kubeconfig dir of kpki-cluster.json)',
      files: overlapping,
    }),
  ];
}

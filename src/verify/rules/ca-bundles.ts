import path from 'node:path';
import { SIGNER_CERT } from '../../model/rotation.js';
import { publicKeyObject } from '../../pki/certificate-facts.js';
import { sameKeyPair } from '../../pki/keys.js';
import { flagSubject, type Facts } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag } from '../inputs/args.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { completeRotation } from './rotation.js';

/**
 * Rule: CA files holding several certificates (a rotation's overlap) lead with the one their key
 * signs as, and kube-controller-manager signs from a file holding exactly one certificate.
 * Leaves may chain to any certificate of a CA file, as Go's CertPool does: the trust rules check that.
 */
export const caBundles = defineRule({
  id: 'ca-bundles',
  codes: [FindingCode.KeyMismatch, FindingCode.SigningCertNotSingle],
  check(facts) {
    const out: Finding[] = [];
    for (const [file, certs] of facts.certificates) {
      if (certs.length < 2 || !file.endsWith('.crt') || !certs.every((c) => infoOf(c).isCA)) continue;
      const keyFile = file.replace(/\.crt$/, '.key');
      const key = facts.keys.get(keyFile);
      if (!key || sameKeyPair(key, publicKeyObject(certs[0]!))) continue;
      const matching = certs.findIndex((c) => sameKeyPair(key, publicKeyObject(c)));
      out.push(
        finding({
          code: FindingCode.KeyMismatch,
          severity: 'error',
          subject: file,
          symptom: '',
          diagnosis:
            matching < 0
              ? `${keyFile} matches none of the ${certs.length} certificates of ${file}: nothing signed with it verifies`
              : `the first certificate of ${file} is not the one ${keyFile} belongs to (certificate ${matching + 1} of ${certs.length} is): kubeadm and kpki read only the first certificate beside a key, so they would sign with one CA's key under another's certificate`,
          fix: facts.rotation?.phase ? completeRotation(facts.rotation) : `put the certificate matching ${keyFile} first in ${file}`,
          files: [file, keyFile],
        }),
      );
    }
    out.push(...signingCertFindings(facts));
    return out;
  },
});

/** kube-controller-manager's signer ("expected 1 certificate, found 2" otherwise, since v1.19's dynamic loading). */
function signingCertFindings(facts: Facts): Finding[] {
  const cm = facts.inputs.controllerManager;
  const certFile = cm && flag(cm, 'cluster-signing-cert-file');
  const keyFile = cm && flag(cm, 'cluster-signing-key-file');
  const certs = certFile && facts.certificates.get(certFile);
  const key = keyFile && facts.keys.get(keyFile);
  if (!cm || !certs || !keyFile || !key) return [];
  const subject = flagSubject(cm, 'cluster-signing-cert-file');
  // One certificate: the key-pairs rule checks it against the key.
  if (certs.length === 1) return [];
  // During a rotation kpki keeps beside the key the one certificate matching it, and its restart plan points the flag there.
  const signerFile = path.join(path.dirname(keyFile), SIGNER_CERT);
  const signer = facts.certificates.get(signerFile);
  const signerFits = signer?.length === 1 && sameKeyPair(key, publicKeyObject(signer[0]!));
  const exits = `failed to start kubernetes.io/kubelet-serving certificate controller: error reading CA cert file "csr-controller::${certFile}::${keyFile}": expected 1 certificate, found ${certs.length}`;
  if (facts.assumedFlags && signerFits) {
    return [
      finding({
        code: FindingCode.SigningCertNotSingle,
        severity: 'info',
        subject,
        symptom: '',
        diagnosis: `${certFile} holds ${certs.length} certificates (a CA rotation's overlap), so kube-controller-manager signs from ${signerFile}, as kpki ca rotate's restart plan names; with kubeadm's --cluster-signing-cert-file=${certFile} it exits: ${exits}`,
        fix: `run kube-controller-manager with --cluster-signing-cert-file=${signerFile} until the rotation is over`,
        files: [certFile, signerFile],
      }),
    ];
  }
  return [
    finding({
      code: FindingCode.SigningCertNotSingle,
      severity: 'error',
      subject,
      symptom: exits,
      diagnosis: `${certFile} holds ${certs.length} certificates; kube-controller-manager signs only from a file holding exactly one, the certificate of ${keyFile}, and exits otherwise`,
      fix: signerFits
        ? `point --cluster-signing-cert-file at ${signerFile} (kpki keeps there the certificate matching ${keyFile}) and restart kube-controller-manager`
        : `point --cluster-signing-cert-file at a file holding only the certificate that matches ${keyFile}, and restart kube-controller-manager`,
      files: [certFile],
    }),
  ];
}

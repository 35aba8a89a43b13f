import { formatDuration } from '../../model/duration.js';
import { goDuration, KUBEADM_CA_VALIDITY, KUBEADM_CERT_VALIDITY } from '../../model/validity.js';
import { isSignedBy } from '../../pki/match.js';
import { goCertificate, type CertificateData } from '../../pki/parse.js';
import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding, infoOf } from '../rule.js';

/** Backdating and rounding (kubeadm ≥ 1.31 starts certificates 5 minutes early, client-go's self-signed ones an hour): not a longer lifetime. */
const SLACK_SECONDS = 24 * 3600;

/**
 * Rule: kubeadm's lifetime warnings, on the certificates read. A leaf that expires after the CA
 * that signed it ("will expire after its CA": from the CA's expiry on, its chain fails), and a
 * lifetime above kubeadm's defaults (1 year for a leaf, 10 years for a CA). A leaf whose NotBefore
 * is its CA's (kubeadm before 1.31 copied it) tells nothing of when it was signed: its lifetime is
 * not judged.
 */
export const validity = defineRule({
  id: 'validity',
  codes: [FindingCode.OutlivesCa, FindingCode.ValidityAboveDefault],
  check(facts) {
    const all = facts.certificateSources.flatMap((s) => s.certificates.map((cert) => ({ ...s, cert })));
    const cas = all.filter((c) => infoOf(c.cert).isCA);
    const issuerOf = (cert: CertificateData) => {
      const name = goCertificate(cert).rawIssuer;
      return cas.find((ca) => ca.cert !== cert && goCertificate(ca.cert).rawSubject.equals(name) && isSignedBy(cert, ca.cert));
    };
    const out: Finding[] = [];
    const seen = new Set<string>();
    for (const { file, subject, cert } of all) {
      const id = Buffer.from(cert.rawData).toString('base64');
      if (seen.has(id)) continue;
      seen.add(id);
      const info = infoOf(cert);
      const name = `${file} (CN=${info.commonName})`;
      const issuer = info.isCA && goCertificate(cert).rawIssuer.equals(goCertificate(cert).rawSubject) ? undefined : issuerOf(cert);
      if (issuer && cert.notAfter > issuer.cert.notAfter) {
        out.push(
          finding({
            code: FindingCode.OutlivesCa,
            severity: 'warning',
            subject,
            symptom: `from ${issuer.cert.notAfter.toISOString()}: x509: certificate has expired or is not yet valid (the CA ${issuer.file}, not the certificate)`,
            diagnosis: `${name} will expire after its CA ${issuer.file} (${cert.notAfter.toISOString()} > ${issuer.cert.notAfter.toISOString()}): its last ${formatDuration((cert.notAfter.getTime() - issuer.cert.notAfter.getTime()) / 1000)} are unusable`,
            fix: `renew the CA before ${issuer.cert.notAfter.toISOString()} (kpki ca renew), or reissue ${file} to end with it`,
            files: [file, issuer.file],
          }),
        );
      }
      const copiedStart = issuer && cert.notBefore.getTime() === issuer.cert.notBefore.getTime() && !info.isCA;
      const lifetime = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 1000;
      const limit = info.isCA ? KUBEADM_CA_VALIDITY : KUBEADM_CERT_VALIDITY;
      if (!copiedStart && lifetime > limit + SLACK_SECONDS) {
        out.push(
          finding({
            code: FindingCode.ValidityAboveDefault,
            severity: 'warning',
            subject,
            symptom: '',
            diagnosis: `${name} is valid for ${goDuration(lifetime)}, more than the recommended default for ${info.isCA ? 'CA certificate' : 'certificate'} expiration: ${goDuration(limit)} (kubeadm warns of it): a stolen key stays useful that long`,
            fix: info.isCA
              ? 'plan a CA rotation with a shorter lifetime (kpki ca rotate, --validity 87600h)'
              : 'reissue it with a lifetime of a year or less (kpki renew --validity 8760h)',
            files: [file],
          }),
        );
      }
    }
    return out;
  },
});

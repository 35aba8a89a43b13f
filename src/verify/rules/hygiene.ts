import { publicKeyObject } from '../../pki/certificate-facts.js';
import { goCertificate } from '../../pki/parse.js';
import { formatDuration } from '../../model/duration.js';
import { validityPeriodError } from '../../pki/verify.js';
import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { reissueWithSans } from './fixes.js';

const MIN_RSA_BITS = 2048;

/** Rule: every certificate read (flags, the rest of the PKI directory, kubeconfig data) is in date, with a strong key and signature. */
export const hygiene = defineRule({
  id: 'hygiene',
  codes: [FindingCode.Expired, FindingCode.NotYetValid, FindingCode.ExpiringSoon, FindingCode.WeakKey, FindingCode.WeakSignature],
  check(facts) {
    const out: Finding[] = [];
    const now = facts.now.getTime();
    const seen = new Set<string>();
    for (const { file, subject, certificates, renew: renewSource } of facts.certificateSources) {
      // A leaf file's first certificate can be reissued as it is, from the CA beside it.
      const reissue = infoOf(certificates[0]!).isCA ? undefined : reissueWithSans(facts, { label: subject, file, certs: certificates }, []);
      const renew = reissue
        ? `${reissue}  # then restart the components that use it`
        : (renewSource ?? 'renew it (kpki init --renew <entry>) and restart the components that use it');
      for (const cert of certificates) {
        const id = Buffer.from(cert.rawData).toString('base64');
        if (seen.has(id)) continue;
        seen.add(id);
        const info = infoOf(cert);
        const name = `${file} (CN=${info.commonName})`;
        const left = (cert.notAfter.getTime() - now) / 1000;
        if (left < 0) {
          out.push(
            finding({
              code: FindingCode.Expired,
              severity: 'error',
              subject,
              symptom: validityPeriodError(cert, facts.now)!,
              diagnosis: `${name} expired ${formatDuration(-left)} ago`,
              fix: info.isCA ? 'a CA cannot be renewed in place: rotate the CA and everything it signed' : renew,
              files: [file],
            }),
          );
        } else if (now < cert.notBefore.getTime()) {
          out.push(
            finding({
              code: FindingCode.NotYetValid,
              severity: 'error',
              subject,
              symptom: validityPeriodError(cert, facts.now)!,
              diagnosis: `${name} becomes valid only in ${formatDuration((cert.notBefore.getTime() - now) / 1000)}; check the clocks of the issuing machine and this one`,
              fix: 'synchronise the clocks (NTP), or reissue it',
              files: [file],
            }),
          );
        } else if (left < facts.warnWithinSeconds) {
          out.push(
            finding({
              code: FindingCode.ExpiringSoon,
              severity: 'warning',
              subject,
              symptom: '',
              diagnosis: `${name} expires in ${formatDuration(left)} (${cert.notAfter.toISOString()})`,
              fix: info.isCA ? 'plan the CA rotation now' : renew,
              files: [file],
            }),
          );
        }
        const key = publicKeyObject(cert);
        const bits = key.asymmetricKeyDetails?.modulusLength;
        if (key.asymmetricKeyType === 'rsa' && bits && bits < MIN_RSA_BITS) {
          out.push(
            finding({
              code: FindingCode.WeakKey,
              severity: 'error',
              subject,
              symptom: '',
              diagnosis: `${name} has a ${bits}-bit RSA key; anything under ${MIN_RSA_BITS} bits is breakable`,
              fix: 'reissue it with rsa-2048 or stronger (kpki --key-type)',
              files: [file],
            }),
          );
        }
        const go = goCertificate(cert);
        const selfSigned = go.rawSubject.equals(go.rawIssuer);
        if (!selfSigned && /SHA-1\b/.test(info.signatureAlgorithm)) {
          out.push(
            finding({
              code: FindingCode.WeakSignature,
              severity: 'error',
              subject,
              symptom: `x509: cannot verify signature: insecure algorithm ${key.asymmetricKeyType === 'ec' ? 'ECDSA-SHA1' : 'SHA1-RSA'} (temporarily override with GODEBUG=x509sha1=1)`,
              diagnosis: `${name} is signed with SHA-1, which Go (and so Kubernetes) refuses since Go 1.18`,
              fix: 'reissue it (kpki signs with SHA-256 or SHA-384)',
              files: [file],
            }),
          );
        }
      }
    }
    return out;
  },
});

import { certificateFacts, publicKeyObject } from '../../pki/certificate.js';
import { formatDuration } from '../../model/duration.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';

const MIN_RSA_BITS = 2048;

/** Rule: certificates in date, strong keys and signatures, private keys readable by their owner only. */
export async function hygiene(ctx: VerifyContext): Promise<void> {
  const now = ctx.now.getTime();
  const seen = new Set<string>();
  for (const { file, subject, certificates } of ctx.seenCertificates) {
    for (const cert of certificates) {
      const id = Buffer.from(cert.rawData).toString('base64');
      if (seen.has(id)) continue;
      seen.add(id);
      const facts = certificateFacts(cert);
      const name = `${file} (CN=${facts.commonName})`;
      const left = (cert.notAfter.getTime() - now) / 1000;
      if (left < 0) {
        ctx.report({
          code: FindingCode.Expired,
          severity: 'error',
          subject,
          symptom: `x509: certificate has expired or is not yet valid: current time ${ctx.now.toISOString().replace(/\.\d+Z/, 'Z')} is after ${cert.notAfter.toISOString().replace(/\.\d+Z/, 'Z')}`,
          diagnosis: `${name} expired ${formatDuration(-left)} ago`,
          fix: facts.isCA ? 'a CA cannot be renewed in place: rotate the CA and everything it signed' : `renew it (kpki init --renew …) and restart the components that use it`,
          files: [file],
        });
      } else if (now < cert.notBefore.getTime()) {
        ctx.report({
          code: FindingCode.NotYetValid,
          severity: 'error',
          subject,
          symptom: `x509: certificate has expired or is not yet valid: current time ${ctx.now.toISOString().replace(/\.\d+Z/, 'Z')} is before ${cert.notBefore.toISOString().replace(/\.\d+Z/, 'Z')}`,
          diagnosis: `${name} becomes valid only in ${formatDuration((cert.notBefore.getTime() - now) / 1000)}; check the clocks of the issuing machine and this one`,
          fix: 'synchronise the clocks (NTP), or reissue it',
          files: [file],
        });
      } else if (left < ctx.options.warnWithinSeconds) {
        ctx.report({
          code: FindingCode.ExpiringSoon,
          severity: 'warning',
          subject,
          symptom: '',
          diagnosis: `${name} expires in ${formatDuration(left)} (${cert.notAfter.toISOString()})`,
          fix: facts.isCA ? 'plan the CA rotation now' : 'renew it before then (kpki init --renew …)',
          files: [file],
        });
      }
      const key = publicKeyObject(cert);
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (key.asymmetricKeyType === 'rsa' && bits && bits < MIN_RSA_BITS) {
        ctx.report({
          code: FindingCode.WeakKey,
          severity: 'error',
          subject,
          symptom: '',
          diagnosis: `${name} has a ${bits}-bit RSA key; anything under ${MIN_RSA_BITS} bits is breakable`,
          fix: 'reissue it with rsa-2048 or stronger (kpki --key-type)',
          files: [file],
        });
      }
      const selfSigned = Buffer.from(cert.subjectName.toArrayBuffer()).equals(Buffer.from(cert.issuerName.toArrayBuffer()));
      if (!selfSigned && /SHA-1\b/.test(facts.signatureAlgorithm)) {
        ctx.report({
          code: FindingCode.WeakSignature,
          severity: 'error',
          subject,
          symptom: `x509: cannot verify signature: insecure algorithm ${key.asymmetricKeyType === 'ec' ? 'ECDSA-SHA1' : 'SHA1-RSA'} (temporarily override with GODEBUG=x509sha1=1)`,
          diagnosis: `${name} is signed with SHA-1, which Go (and so Kubernetes) refuses since Go 1.18`,
          fix: 'reissue it (kpki signs with SHA-256 or SHA-384)',
          files: [file],
        });
      }
    }
  }
  for (const { file, mode } of await ctx.keyModes()) {
    if ((mode & 0o077) === 0) continue;
    ctx.report({
      code: FindingCode.KeyPermissions,
      severity: 'warning',
      subject: file,
      symptom: '',
      diagnosis: `private key ${file} is readable by ${mode & 0o007 ? 'everyone' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')})`,
      fix: `chmod 600 ${file}`,
      files: [file],
    });
  }
}

import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';

/**
 * A certificate a component made up for itself (kube-scheduler without --tls-cert-file, a kubelet
 * without tlsCertFile): `base`.crt and `base`.key, with the modes it gives them (0644, key 0600)
 * whatever the umask openssl runs under.
 */
export function selfSignedAt(base: string, subject: string, san: string): { cert: string; key: string } {
  const [cert, key] = [`${base}.crt`, `${base}.key`];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '365',
      '-subj',
      subject,
      '-addext',
      `subjectAltName=${san}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  chmodSync(cert, 0o644);
  chmodSync(key, 0o600);
  return { cert, key };
}

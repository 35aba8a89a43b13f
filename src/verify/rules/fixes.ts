import type { x509 } from '../../pki/crypto.js';
import type { Facts } from '../facts.js';
import { infoOf } from '../rule.js';
import type { NamedCert } from './common.js';

const sameName = (a: x509.Name, b: x509.Name) => Buffer.from(a.toArrayBuffer()).equals(Buffer.from(b.toArrayBuffer()));

/** The CA file that issued `cert`, among the files read; with `withKey`, one with its key beside it. */
export function issuerFile(facts: Facts, cert: x509.X509Certificate, withKey: boolean): string | undefined {
  for (const [file, certs] of facts.certificates) {
    const ca = certs[0]!;
    if (!file.endsWith('.crt') || !sameName(ca.subjectName, cert.issuerName) || !infoOf(ca).isCA) continue;
    if (!withKey || facts.files.get(file.replace(/\.crt$/, '.key'))?.data) return file;
  }
  return undefined;
}

/**
 * The command that reissues a serving certificate with `hosts` added to its SANs, keeping its
 * subject, usages and other SANs: `kpki cert issue` from the CA that signed it.
 */
export function reissueWithSans(facts: Facts, serving: NamedCert, hosts: string[]): string | undefined {
  const cert = serving.certs[0]!;
  const ca = issuerFile(facts, cert, true);
  if (!ca || !serving.file.endsWith('.crt')) return undefined;
  const info = infoOf(cert);
  const role = info.extKeyUsages.includes('clientAuth') ? 'peer' : 'server';
  const sans = [...new Set([...info.dnsNames, ...info.ipAddresses, ...hosts])];
  const orgs = info.organizations.map((o) => ` --org ${o}`).join('');
  return `kpki cert issue --profile ${role} --cn ${info.commonName}${orgs} --san ${sans.join(',')} --ca ${ca} --out ${serving.file.replace(/\.crt$/, '')} --force`;
}


import { goCertificate, type CertificateData } from '../../pki/parse.js';
import type { Facts } from '../facts.js';
import { infoOf } from '../rule.js';
import type { NamedCert } from './common.js';

/** The CA file that issued `cert`, among the files read; with `withKey`, one with its key beside it. */
export function issuerFile(facts: Facts, cert: CertificateData, withKey: boolean): string | undefined {
  const issuerName = goCertificate(cert).rawIssuer;
  for (const [file, certs] of facts.certificates) {
    const ca = certs[0]!;
    if (!file.endsWith('.crt') || !goCertificate(ca).rawSubject.equals(issuerName) || !infoOf(ca).isCA) continue;
    if (!withKey || facts.files.get(file.replace(/\.crt$/, '.key'))?.data) return file;
  }
  return undefined;
}

/** kpki cert issue's --profile for a certificate's extended key usages. */
function leafRole(usages: string[]): string {
  const server = usages.includes('serverAuth');
  const client = usages.includes('clientAuth');
  return server && client ? 'peer' : client ? 'client' : 'server';
}

/**
 * The command that reissues a certificate file from the CA that signed it, keeping its subject,
 * usages and SANs, with `hosts` added: `kpki cert issue`, exact whatever settings made it first.
 */
export function reissueWithSans(facts: Facts, named: NamedCert, hosts: string[]): string | undefined {
  const cert = named.certs[0]!;
  const ca = issuerFile(facts, cert, true);
  if (!ca || !named.file.endsWith('.crt')) return undefined;
  const info = infoOf(cert);
  const sans = [...new Set([...info.dnsNames, ...info.ipAddresses, ...hosts])];
  const orgs = info.organizations.map((o) => ` --org ${o}`).join('');
  const sanFlag = sans.length ? ` --san ${sans.join(',')}` : '';
  return `kpki cert issue --profile ${leafRole(info.extKeyUsages)} --cn ${info.commonName}${orgs}${sanFlag} --ca ${ca} --out ${named.file.replace(/\.crt$/, '')} --force`;
}

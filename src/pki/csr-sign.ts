import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from './crypto.js';
import {
  asnName,
  authorityKeyIdExtension,
  basicConstraintsExtension,
  extKeyUsageExtension,
  issuerOf,
  keyUsageExtension,
  keyUsageFlags,
  randomSerial,
  signCertificate,
  subjectAltNameExtension,
  type Issuer,
} from './certificate.js';

/** The names a PKCS#10 request asks for, as kube-controller-manager's signer reads them (x509.ParseCertificateRequest). */
export interface CsrNames {
  commonName: string;
  /** Subject O values, in order (Go compares the slice). */
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
}

export interface CsrRequest extends CsrNames {
  csr: x509.Pkcs10CertificateRequest;
}

/** Parses a PEM CSR; throws Error with the reason when it is none. */
export function parseCsrRequest(pem: string): CsrRequest {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  const subject = csr.subjectName.toJSON();
  const values = (type: string) => subject.flatMap((rdn) => rdn[type] ?? []);
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const names = (type: x509.GeneralNameType) => (san?.names.items ?? []).filter((n) => n.type === type).map((n) => n.value);
  return {
    csr,
    commonName: values('CN').at(-1) ?? '',
    organizations: values('O'),
    dnsNames: names('dns'),
    ipAddresses: names('ip'),
    emailAddresses: names('email'),
    uris: names('url'),
  };
}

export interface CsrSigning {
  request: CsrRequest;
  keyUsages: string[];
  /** OIDs, in the order Go writes them. */
  extKeyUsages: string[];
  notBefore: Date;
  notAfter: Date;
  issuer: Issuer & { certificate: x509.X509Certificate };
}

/**
 * Signs a request as kube-controller-manager's authority.Sign does with PermissiveSigningPolicy:
 * the request's subject and SANs (email and URI too), the policy's usages, CA:FALSE, and none of
 * the request's other extensions. The CSR's own signature is checked first.
 */
export async function signCsr(s: CsrSigning): Promise<x509.X509Certificate> {
  const { csr } = s.request;
  if (!(await csr.verify())) throw new Error('unable to verify certificate request signature');
  const extensions: asn1X509.Extension[] = [];
  const keyUsage = keyUsageFlags(s.keyUsages);
  if (keyUsage) extensions.push(keyUsageExtension(keyUsage));
  if (s.extKeyUsages.length) extensions.push(extKeyUsageExtension(s.extKeyUsages));
  extensions.push(basicConstraintsExtension(false));
  const issuer = issuerOf(s.issuer.certificate);
  if (issuer.subjectKeyId) extensions.push(authorityKeyIdExtension(issuer.subjectKeyId));
  const r = s.request;
  const altNames = [
    ...r.dnsNames.map((dNSName) => ({ dNSName })),
    ...r.emailAddresses.map((rfc822Name) => ({ rfc822Name })),
    ...r.ipAddresses.map((iPAddress) => ({ iPAddress })),
    ...r.uris.map((uniformResourceIdentifier) => ({ uniformResourceIdentifier })),
  ];
  if (altNames.length) extensions.push(subjectAltNameExtension(altNames));
  return signCertificate(
    {
      serialNumber: randomSerial(),
      subject: asnName(csr.subjectName),
      issuer: issuer.name,
      notBefore: s.notBefore,
      notAfter: s.notAfter,
      publicKey: AsnConvert.parse(csr.publicKey.rawData, asn1X509.SubjectPublicKeyInfo),
      extensions,
    },
    s.issuer.key,
  );
}

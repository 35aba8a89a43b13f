import { createPublicKey } from 'node:crypto';
import { x509 } from './crypto.js';
import { signatureAlgorithm } from './keys.js';
import { isTokenKey, type SigningKey } from './signing-key.js';
import { signingKey } from './keys.js';
import { randomSerial, type Issuer } from './certificate.js';

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

const KEY_USAGE_BITS: Record<string, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

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
  const extensions: x509.Extension[] = [];
  const keyUsage = s.keyUsages.reduce((flags, u) => flags | KEY_USAGE_BITS[u]!, 0);
  if (keyUsage) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  if (s.extKeyUsages.length) extensions.push(new x509.ExtendedKeyUsageExtension(s.extKeyUsages, false));
  extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
  const issuerSki = s.issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (issuerSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false));
  const r = s.request;
  const altNames: x509.JsonGeneralName[] = [
    ...r.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...r.emailAddresses.map((value) => ({ type: 'email' as const, value })),
    ...r.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...r.uris.map((value) => ({ type: 'url' as const, value })),
  ];
  if (altNames.length) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));
  const key: SigningKey = s.issuer.key;
  const token = isTokenKey(key) ? key : undefined;
  const file = isTokenKey(key) ? undefined : key;
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: csr.subjectName,
      issuer: s.issuer.certificate.subjectName,
      notBefore: s.notBefore,
      notAfter: s.notAfter,
      publicKey: csr.publicKey,
      signingKey: token ? token.privateKey : await signingKey(file!),
      signingAlgorithm: signatureAlgorithm(token ? token.publicKey : createPublicKey(file!)),
      extensions,
    },
    token?.crypto,
  );
}

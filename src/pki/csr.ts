import { subjectName } from './certificate.js';
import { x509 } from './crypto.js';
import { certificatePublicKey, signatureAlgorithm, signingKey, type KeyPair } from './keys.js';

/** A PKCS#10 request for an external CA to sign: subject, and SANs when the certificate needs them. */
export async function createCsrPem(
  pair: KeyPair,
  commonName: string,
  organizations: string[],
  sans: { dnsNames: string[]; ipAddresses: string[] } = { dnsNames: [], ipAddresses: [] },
): Promise<string> {
  const altNames: x509.JsonGeneralName[] = [
    ...sans.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...sans.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(commonName, organizations),
    keys: { privateKey: await signingKey(pair.privateKey), publicKey: await certificatePublicKey(pair.publicKey) },
    signingAlgorithm: signatureAlgorithm(pair.privateKey),
    extensions: altNames.length ? [new x509.SubjectAlternativeNameExtension(altNames, false)] : [],
  });
  return `${csr.toString('pem').trimEnd()}\n`;
}

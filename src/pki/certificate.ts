import { randomBytes, type KeyObject } from 'node:crypto';
import { x509 } from './crypto.js';
import { EXT_KEY_USAGE_OIDS } from './certificate-facts.js';
import { certificatePublicKey, signatureAlgorithm, signingKey, spkiDer } from './keys.js';
import { isTokenKey, type SigningKey } from './signing-key.js';
import type { CertificateTemplate, KeyUsageName } from './template.js';

export { EXT_KEY_USAGE_OIDS, certificateFacts, describeAuthority, publicKeyObject, type CertificateFacts } from './certificate-facts.js';

const KEY_USAGE_FLAGS: Record<KeyUsageName, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
};

/**
 * Orders values the way DER orders a SET OF: by their encodings. Go encodes several O values as
 * one multi-valued RDN and DER-sorts it, so kpki must too for byte-equal subjects.
 */
function derSetOrder(values: string[], type: string): string[] {
  const encoded = values.map((v) => ({
    v,
    // The Name's outer SEQUENCE and SET headers are identical across values; the ATV decides.
    der: Buffer.from(new x509.Name([{ [type]: [v] }]).toArrayBuffer()),
  }));
  return encoded.sort((a, b) => Buffer.compare(a.der.subarray(4), b.der.subarray(4))).map((e) => e.v);
}

/** Subject as Go's pkix.Name encodes it: the O RDN (multi-valued) before CN. */
export function subjectName(commonName: string, organizations: string[]): x509.Name {
  const rdns: x509.JsonName = [];
  if (organizations.length) rdns.push({ O: derSetOrder(organizations, 'O') });
  if (commonName) rdns.push({ CN: [commonName] });
  return new x509.Name(rdns);
}

/** The signing side of an issuance: its key (in memory or in a token), and its certificate unless self-signing. */
export interface Issuer {
  key: SigningKey;
  certificate: x509.X509Certificate | undefined;
}

export interface IssueOptions {
  spec: CertificateTemplate;
  publicKey: KeyObject;
  issuer: Issuer;
  now: Date;
  /** Injected by tests that pin output bytes; random 63-bit positive otherwise (as Go). */
  serialNumber?: string;
  /**
   * Re-certifying an existing CA: its subject bytes and SubjectKeyIdentifier are kept, so leaves
   * it signed (their issuer name and AuthorityKeyIdentifier) still chain to the new certificate.
   */
  keep?: { subject: x509.Name; subjectKeyId: string | undefined };
}

export function randomSerial(): string {
  const bytes = randomBytes(8);
  bytes[0]! &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** Issues one certificate from a spec, with Go's extension order and encodings. */
export async function issueCertificate(options: IssueOptions): Promise<x509.X509Certificate> {
  const { spec, issuer, now } = options;
  const subject = options.keep?.subject ?? subjectName(spec.commonName, spec.organizations);
  const token = isTokenKey(issuer.key) ? issuer.key : undefined;
  // A token's provider cannot export a CryptoKey of another provider: it is given the SPKI bytes.
  const publicKey = token ? new x509.PublicKey(new Uint8Array(spkiDer(options.publicKey))) : await certificatePublicKey(options.publicKey);
  const notBefore = wholeSeconds(now.getTime() - spec.backdate * 1000);
  let notAfter = wholeSeconds(now.getTime() + spec.validity * 1000);
  // A leaf never outlives its CA: chains would fail from that day on anyway.
  if (issuer.certificate && notAfter > issuer.certificate.notAfter) notAfter = issuer.certificate.notAfter;

  const keyUsage = spec.keyUsages.reduce((flags, u) => flags | KEY_USAGE_FLAGS[u], 0);
  const extensions: x509.Extension[] = [new x509.KeyUsagesExtension(keyUsage, true)];
  if (spec.extKeyUsages.length) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        spec.extKeyUsages.map((u) => EXT_KEY_USAGE_OIDS[u]),
        false,
      ),
    );
  }
  if (spec.basicConstraints) extensions.push(new x509.BasicConstraintsExtension(spec.isCA, undefined, true));
  // Go adds a SubjectKeyIdentifier to CAs only, and an AuthorityKeyIdentifier when issuer ≠ subject.
  const keptKeyId = options.keep?.subjectKeyId;
  if (spec.isCA)
    extensions.push(
      keptKeyId ? new x509.SubjectKeyIdentifierExtension(keptKeyId) : await x509.SubjectKeyIdentifierExtension.create(publicKey),
    );
  if (issuer.certificate) {
    const issuerSki = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    extensions.push(
      issuerSki
        ? new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false)
        : await x509.AuthorityKeyIdentifierExtension.create(await issuer.certificate.publicKey.export(), false),
    );
  }
  const altNames: x509.JsonGeneralName[] = [
    ...spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...spec.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  if (altNames.length) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));

  return x509.X509CertificateGenerator.create(
    {
      serialNumber: options.serialNumber ?? randomSerial(),
      subject,
      issuer: issuer.certificate ? issuer.certificate.subjectName : subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: token ? token.privateKey : await signingKey(issuer.key as KeyObject),
      signingAlgorithm: signatureAlgorithm(token ? token.publicKey : (issuer.key as KeyObject)),
      extensions,
    },
    token?.crypto,
  );
}

/** PEM as Go writes it: 64-column lines, one trailing newline. */
export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}

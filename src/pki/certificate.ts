import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from './crypto.js';
import { EXT_KEY_USAGE_OIDS } from './certificate-facts.js';
import { signatureAlgorithm, spkiDer } from './keys.js';
import { ecKeyOids } from './parse.js';
import { isTokenKey, type SigningKey } from './signing-key.js';
import type { CertificateTemplate } from './template.js';

export { EXT_KEY_USAGE_OIDS, certificateFacts, describeAuthority, publicKeyObject, type CertificateFacts } from './certificate-facts.js';

/** PrintableString's alphabet: Go encodes a name's string as one when it can, as UTF8String otherwise. */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

const attribute = (type: string, value: string) =>
  new asn1X509.AttributeTypeAndValue({
    type,
    value: new asn1X509.AttributeValue(PRINTABLE.test(value) ? { printableString: value } : { utf8String: value }),
  });

/**
 * Orders attributes the way DER orders a SET OF: by their encodings. Go encodes several O values as
 * one multi-valued RDN and DER-sorts it, so kpki must too for byte-equal subjects.
 */
function derSetOrder(attributes: asn1X509.AttributeTypeAndValue[]): asn1X509.AttributeTypeAndValue[] {
  const encoded = attributes.map((a) => ({ a, der: Buffer.from(AsnConvert.serialize(a)) }));
  return encoded.sort((x, y) => Buffer.compare(x.der, y.der)).map((e) => e.a);
}

/** Subject as Go's pkix.Name encodes it: the O RDN (multi-valued) before CN. */
function subjectAsn(commonName: string, organizations: string[]): asn1X509.Name {
  const rdns: asn1X509.RelativeDistinguishedName[] = [];
  if (organizations.length) rdns.push(new asn1X509.RelativeDistinguishedName(derSetOrder(organizations.map((o) => attribute(ID_O, o)))));
  if (commonName) rdns.push(new asn1X509.RelativeDistinguishedName([attribute(ID_CN, commonName)]));
  return new asn1X509.Name(rdns);
}

const ID_O = '2.5.4.10';
const ID_CN = '2.5.4.3';

/** The same subject for @peculiar/x509's own builders (CSRs). */
export function subjectName(commonName: string, organizations: string[]): x509.Name {
  return new x509.Name(AsnConvert.serialize(subjectAsn(commonName, organizations)));
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
  const name = options.keep ? asnName(options.keep.subject) : subjectAsn(spec.commonName, spec.organizations);
  const publicKey = subjectPublicKeyInfo(options.publicKey);
  const notBefore = wholeSeconds(now.getTime() - spec.backdate * 1000);
  let notAfter = wholeSeconds(now.getTime() + spec.validity * 1000);
  // A leaf never outlives its CA: chains would fail from that day on anyway.
  if (issuer.certificate && notAfter > issuer.certificate.notAfter) notAfter = issuer.certificate.notAfter;

  const extensions = [keyUsageExtension(keyUsageFlags(spec.keyUsages))];
  if (spec.extKeyUsages.length) extensions.push(extKeyUsageExtension(spec.extKeyUsages.map((u) => EXT_KEY_USAGE_OIDS[u])));
  if (spec.basicConstraints) extensions.push(basicConstraintsExtension(spec.isCA));
  // Go adds a SubjectKeyIdentifier to CAs only, and an AuthorityKeyIdentifier when issuer ≠ subject.
  const keptKeyId = options.keep?.subjectKeyId;
  const keyId = spec.isCA ? (keptKeyId ? Buffer.from(keptKeyId, 'hex') : keyIdentifier(publicKey)) : undefined;
  if (keyId)
    extensions.push(extension(asn1X509.id_ce_subjectKeyIdentifier, false, new asn1X509.SubjectKeyIdentifier(toArrayBuffer(keyId))));
  if (issuer.certificate) {
    // Go names the issuer by its SubjectKeyIdentifier; for a CA without one, kpki names its key (method 1).
    const issuerKey = () => AsnConvert.parse(issuer.certificate!.publicKey.rawData, asn1X509.SubjectPublicKeyInfo);
    extensions.push(authorityKeyIdExtension(issuerOf(issuer.certificate).subjectKeyId ?? keyIdentifier(issuerKey())));
  }
  const altNames = [...spec.dnsNames.map((dNSName) => ({ dNSName })), ...spec.ipAddresses.map((iPAddress) => ({ iPAddress }))];
  if (altNames.length) extensions.push(subjectAltNameExtension(altNames));

  const certificate = await signCertificate(
    {
      serialNumber: options.serialNumber ?? randomSerial(),
      subject: name,
      issuer: issuer.certificate ? issuerOf(issuer.certificate).name : name,
      notBefore,
      notAfter,
      publicKey,
      extensions,
    },
    issuer.key,
  );
  // A CA made here signs leaves next: what they say of it is known without reading it back.
  if (keyId) issuerFields.set(certificate, { name, subjectKeyId: keyId });
  return certificate;
}

/** What a certificate says, as the library's RFC 5280 structures (@peculiar/asn1-x509). */
export interface CertificateBody {
  /** Hex, positive. */
  serialNumber: string;
  subject: asn1X509.Name;
  issuer: asn1X509.Name;
  notBefore: Date;
  notAfter: Date;
  publicKey: asn1X509.SubjectPublicKeyInfo;
  extensions: asn1X509.Extension[];
}

/** The bytes in an ArrayBuffer of their own (a Buffer may be a view of a shared pool). */
const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;

/** An extension whose value is `value`'s DER. */
export function extension(extnID: string, critical: boolean, value: object): asn1X509.Extension {
  return new asn1X509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** KeyUsage bits by their RFC 5280 names (`digitalSignature`, `keyCertSign`, …); a name it does not know adds none. */
export const keyUsageFlags = (names: readonly string[]): number =>
  names.reduce((flags, name) => flags | (asn1X509.KeyUsageFlags[name as keyof typeof asn1X509.KeyUsageFlags] ?? 0), 0);

export const keyUsageExtension = (flags: number) => extension(asn1X509.id_ce_keyUsage, true, new asn1X509.KeyUsage(flags));
export const extKeyUsageExtension = (oids: string[]) => extension(asn1X509.id_ce_extKeyUsage, false, new asn1X509.ExtendedKeyUsage(oids));
export const basicConstraintsExtension = (isCA: boolean) =>
  extension(asn1X509.id_ce_basicConstraints, true, new asn1X509.BasicConstraints({ cA: isCA }));
export const subjectAltNameExtension = (names: ConstructorParameters<typeof asn1X509.GeneralName>[0][]) =>
  extension(asn1X509.id_ce_subjectAltName, false, new asn1X509.SubjectAlternativeName(names.map((n) => new asn1X509.GeneralName(n))));

/** RFC 5280's key identifier (method 1, as Go): SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: asn1X509.SubjectPublicKeyInfo): Buffer {
  return createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
}

/** What a certificate a CA signs says of the CA: its subject, and its SubjectKeyIdentifier if it has one. */
interface IssuerFields {
  name: asn1X509.Name;
  subjectKeyId: Buffer | undefined;
}

/** Worked out once per CA certificate, however many leaves it signs. */
const issuerFields = new WeakMap<x509.X509Certificate, IssuerFields>();

export function issuerOf(certificate: x509.X509Certificate): IssuerFields {
  let fields = issuerFields.get(certificate);
  if (!fields) {
    const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    fields = { name: asnName(certificate.subjectName), subjectKeyId: ski ? Buffer.from(ski.keyId, 'hex') : undefined };
    issuerFields.set(certificate, fields);
  }
  return fields;
}

export function authorityKeyIdExtension(keyId: Buffer): asn1X509.Extension {
  const value = new asn1X509.AuthorityKeyIdentifier({ keyIdentifier: new asn1X509.KeyIdentifier(toArrayBuffer(keyId)) });
  return extension(asn1X509.id_ce_authorityKeyIdentifier, false, value);
}

export const asnName = (name: x509.Name) => AsnConvert.parse(name.toArrayBuffer(), asn1X509.Name);
/**
 * A key's SubjectPublicKeyInfo. An EC key's is built from its point (JWK), as RFC 5480 lays it
 * out: OpenSSL 3's SPKI encoder takes ~150 µs a key, a visible share of an ECDSA `kpki init`.
 */
function subjectPublicKeyInfo(key: KeyObject): asn1X509.SubjectPublicKeyInfo {
  const oids = key.asymmetricKeyType === 'ec' ? ecKeyOids(key.asymmetricKeyDetails?.namedCurve) : undefined;
  if (!oids) return AsnConvert.parse(spkiDer(key), asn1X509.SubjectPublicKeyInfo);
  const { x, y } = key.export({ format: 'jwk' });
  return new asn1X509.SubjectPublicKeyInfo({
    algorithm: new asn1X509.AlgorithmIdentifier({
      algorithm: oids.algorithm,
      parameters: new asn1js.ObjectIdentifier({ value: oids.curve }).toBER(),
    }),
    subjectPublicKey: toArrayBuffer(Buffer.concat([Buffer.from([4]), Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')])),
  });
}

/** Positive INTEGER octets: a leading zero when the top bit is set. */
function serialOctets(hex: string): ArrayBuffer {
  const bytes = Buffer.from(hex, 'hex');
  return toArrayBuffer(bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

const algorithms = new x509.AlgorithmProvider();

/**
 * Signs a certificate body with a CA's key. The body is built from the library's RFC 5280
 * structures and serialized once to be signed: @peculiar/x509's generator would parse each
 * extension, the key and the names it is given again, and then the certificate it made, which
 * was most of `kpki init`'s signing time. A key in memory signs with node:crypto (DER signature,
 * as X.509 wants it); a key in a token through its provider, whose ECDSA signature is converted.
 */
export async function signCertificate(body: CertificateBody, key: SigningKey): Promise<x509.X509Certificate> {
  const token = isTokenKey(key) ? key : undefined;
  const signer = signatureAlgorithm(token ? token.publicKey : (key as KeyObject));
  // A token's key brings its curve, which the ECDSA signature's conversion needs.
  const algorithm = { ...signer, ...token?.privateKey.algorithm };
  const tbsCertificate = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: serialOctets(body.serialNumber),
    signature: algorithms.toAsnAlgorithm(algorithm),
    issuer: body.issuer,
    validity: new asn1X509.Validity({ notBefore: body.notBefore, notAfter: body.notAfter }),
    subject: body.subject,
    subjectPublicKeyInfo: body.publicKey,
    extensions: new asn1X509.Extensions(body.extensions),
  });
  const tbsBlock = AsnSerializer.toASN(tbsCertificate);
  const tbs = Buffer.from(tbsBlock.toBER(false));
  const signatureValue = toArrayBuffer(
    token
      ? ecdsaDer(algorithm, await token.crypto.subtle.sign(algorithm, token.privateKey, tbs))
      : sign((signer.hash as string).replace('-', '').toLowerCase(), tbs, { key: key as KeyObject, dsaEncoding: 'der' }),
  );
  const certificate = new asn1X509.Certificate({ tbsCertificate, signatureAlgorithm: tbsCertificate.signature, signatureValue });
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, around
  // the TBS's encoding tree already built: asn1-schema would walk the whole schema again.
  const der = new asn1js.Sequence({
    value: [tbsBlock, AsnSerializer.toASN(certificate.signatureAlgorithm), new asn1js.BitString({ valueHex: signatureValue })],
  }).toBER(false);
  return new IssuedCertificate(certificate, der);
}

/** A certificate signed here: its DER is known, so @peculiar/x509 need not encode it again (for its PEM). */
class IssuedCertificate extends x509.X509Certificate {
  readonly #der: ArrayBuffer;

  constructor(certificate: asn1X509.Certificate, der: ArrayBuffer) {
    super(certificate);
    this.#der = der;
  }

  override get rawData(): ArrayBuffer {
    return this.#der;
  }
}

/** WebCrypto's ECDSA signature (r‖s) as X.509's ECDSA-Sig-Value; other signatures are already what X.509 wants. */
function ecdsaDer(algorithm: Algorithm, signature: ArrayBuffer): Uint8Array {
  return new Uint8Array(new x509.AsnEcSignatureFormatter().toAsnSignature(algorithm as EcKeyAlgorithm, signature) ?? signature);
}

/** PEM as Go writes it: 64-column lines, one trailing newline. */
export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}

/**
 * Test tooling: small ECDSA certificates made in-process with @peculiar/x509 (any extension,
 * raw ones included), and DER encoders for the extension values Go's parser is picky about.
 */
import { webcrypto } from 'node:crypto';
import { x509 } from '../../src/pki/crypto.js';
import { tlvEncode } from './der-edit.js';

export interface TestCert {
  cert: x509.X509Certificate;
  pem: string;
  keys: CryptoKeyPair;
  /** PKCS#8 PEM of the private key, for re-signing edited certificates. */
  keyPem: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export interface MakeOptions {
  cn: string;
  issuer?: TestCert;
  /** Another certificate's key pair (a CA re-issued with its key). */
  keys?: CryptoKeyPair;
  extensions?: x509.Extension[];
  notBefore?: Date;
  notAfter?: Date;
}

let serial = 0x1000;

export async function makeCert(o: MakeOptions): Promise<TestCert> {
  const keys = o.keys ?? ((await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16),
    subject: `CN=${o.cn}`,
    issuer: o.issuer ? o.issuer.cert.subject : `CN=${o.cn}`,
    notBefore: o.notBefore ?? new Date('2020-01-01T00:00:00Z'),
    notAfter: o.notAfter ?? new Date('2120-01-01T00:00:00Z'),
    publicKey: keys.publicKey,
    signingKey: (o.issuer?.keys ?? keys).privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: o.extensions ?? [],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  return { cert, pem: cert.toString('pem'), keys, keyPem };
}

/** A time every default certificate is valid at. */
export const AT = new Date('2030-06-01T00:00:00Z');

export const caExtensions = (pathLength?: number) => [
  new x509.BasicConstraintsExtension(true, pathLength, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
];

export const leafExtensions = (...names: x509.JsonGeneralName[]) => [
  new x509.BasicConstraintsExtension(false, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
];

/** An extension with a raw DER value. */
export const rawExtension = (oid: string, critical: boolean, value: Buffer | string) =>
  new x509.Extension(oid, critical, new Uint8Array(typeof value === 'string' ? Buffer.from(value, 'hex') : value));

export const seq = (...parts: Buffer[]) => tlvEncode(0x30, Buffer.concat(parts));
const ctx = (n: number, body: Buffer, constructed = false) => tlvEncode(0x80 | (constructed ? 0x20 : 0) | n, body);

/** GeneralName forms used in SANs and name constraints. */
export const gn = {
  dns: (name: string | Buffer) => ctx(2, Buffer.from(name)),
  email: (name: string) => ctx(1, Buffer.from(name)),
  uri: (name: string) => ctx(6, Buffer.from(name)),
  ip: (bytes: number[]) => ctx(7, Buffer.from(bytes)),
};

/** A NameConstraints value; an empty array still writes its (empty) [0]/[1] subtree sequence. */
export function nameConstraints(permitted?: Buffer[], excluded?: Buffer[]): Buffer {
  const subtrees = (n: number, names: Buffer[] | undefined) =>
    names ? ctx(n, Buffer.concat(names.map((name) => seq(name))), true) : Buffer.alloc(0);
  return seq(subtrees(0, permitted), subtrees(1, excluded));
}

export const ncExtension = (permitted?: Buffer[], excluded?: Buffer[]) =>
  rawExtension('2.5.29.30', true, nameConstraints(permitted, excluded));
export const sanExtension = (...names: Buffer[]) => rawExtension('2.5.29.17', false, seq(...names));

import type { KeyObject } from 'node:crypto';
import { badInput } from '../errors.js';
import { x509 } from './crypto.js';
import { describeKey, keyTypeOf, parsePrivateKey } from './keys.js';
import { parseDerCertificate } from './parse.js';
import { pemBlocks, readCertificates } from './pem-blocks.js';

export { pemBlocks, type PemBlock } from './pem-blocks.js';

/** A certificate from DER, refused with Go's message when Go's parser would refuse it. */
export function loadCertificate(der: Buffer): x509.X509Certificate {
  return parseDerCertificate(der, (bytes) => new x509.X509Certificate(new Uint8Array(bytes)));
}

/** Every certificate in a file (PEM bundle or one DER certificate), Go's wording on errors. */
export function parseCertificates(data: Buffer, file: string): x509.X509Certificate[] {
  return readCertificates(data, file, loadCertificate);
}

/** The first certificate of a file: what Kubernetes components use from a cert file. */
export function parseCertificate(data: Buffer, file: string): x509.X509Certificate {
  return parseCertificates(data, file)[0]!;
}

/** A private key Kubernetes can use (RSA or ECDSA), from PKCS#1, PKCS#8 or SEC1, PEM or DER. */
export function parseKey(data: Buffer, file: string): KeyObject {
  const blocks = pemBlocks(data);
  if (blocks.length && !blocks.some((b) => b.type.endsWith('PRIVATE KEY'))) {
    const found = blocks.map((b) => b.type).join(', ');
    throw badInput(
      file,
      blocks.some((b) => b.type === 'CERTIFICATE') ? 'holds a certificate, not a private key' : `has no private key (found ${found})`,
      'point the key flag at the .key file',
    );
  }
  if (blocks.some((b) => b.type === 'ENCRYPTED PRIVATE KEY')) {
    throw badInput(file, 'is encrypted', 'Kubernetes components need unencrypted keys; decrypt it with openssl pkey');
  }
  let key: KeyObject;
  try {
    key = parsePrivateKey(data);
  } catch {
    throw badInput(
      file,
      data.length
        ? 'is not a readable private key (tls: failed to parse private key)'
        : 'is empty (tls: failed to find any PEM data in key input)',
      'the file should hold an RSA or EC PRIVATE KEY in PEM; restore it from its source',
    );
  }
  if (!keyTypeOf(key) && key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
    throw badInput(file, `holds a ${describeKey(key)} key`, 'Kubernetes accepts only RSA or ECDSA keys');
  }
  return key;
}

/** A DER certificate as PEM (what TLS options take), 64 base64 characters a line. */
export function certificateDerPem(der: ArrayBuffer): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

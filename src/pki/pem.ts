import type { KeyObject } from 'node:crypto';
import { badInput } from '../errors.js';
import { x509 } from './crypto.js';
import { describeKey, keyTypeOf, parsePrivateKey } from './keys.js';
import { X509ParseError, parseDerCertificate } from './parse.js';

export interface PemBlock {
  type: string;
  der: Buffer;
}

/** PEM blocks in order; CRLF and surrounding text are tolerated. */
export function pemBlocks(data: Buffer | string): PemBlock[] {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  if (!text.includes('-----BEGIN')) return [];
  return x509.PemConverter.decodeWithHeaders(text).map((b) => ({ type: b.type, der: Buffer.from(b.rawData) }));
}

const looksLikeText = (data: Buffer) => data.length > 0 && data.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));

/** A certificate from DER, refused with Go's message when Go's parser would refuse it. */
export function loadCertificate(der: Buffer): x509.X509Certificate {
  return parseDerCertificate(der, (bytes) => new x509.X509Certificate(new Uint8Array(bytes)));
}

/**
 * Every certificate in a file (PEM bundle or one DER certificate). Errors carry Go's wording,
 * which is what the components would log for the same file.
 */
export function parseCertificates(data: Buffer, file: string): x509.X509Certificate[] {
  const blocks = pemBlocks(data);
  const certBlocks = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (certBlocks.length === 0) {
    if (blocks.some((b) => b.type.endsWith('PRIVATE KEY'))) {
      throw badInput(file, 'holds a private key, not a certificate', 'the certificate and key files may have been switched');
    }
    if (blocks.length === 0 && data.includes('-----BEGIN CERTIFICATE-----')) {
      throw badInput(file, 'has a truncated CERTIFICATE block (no END line)', 'restore the file from its source or reissue it');
    }
    if (blocks.length === 0 && data.length > 0 && !looksLikeText(data)) {
      try {
        return [loadCertificate(data)];
      } catch {
        // Not DER either; fall through to the PEM error.
      }
    }
    throw badInput(
      file,
      blocks.length ? `has no CERTIFICATE block (found ${blocks.map((b) => b.type).join(', ')})` : 'has no certificate (tls: failed to find any PEM data in certificate input)',
      'the file should hold a PEM "CERTIFICATE" block; check it is not empty or truncated',
    );
  }
  return certBlocks.map((block, i) => {
    const which = certBlocks.length > 1 ? `certificate #${i + 1} of the file` : 'the certificate';
    try {
      return loadCertificate(block.der);
    } catch (error) {
      // Go's parse error is what every Kubernetes component would report for this file.
      if (error instanceof X509ParseError) throw badInput(file, error.message, `${which} is refused by Go's x509 parser: restore it from its source or reissue it`);
      throw badInput(file, `certificate #${i + 1} is corrupt: ${(error as Error).message}`, 'restore the file from its source or reissue it');
    }
  });
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
      data.length ? 'is not a readable private key (tls: failed to parse private key)' : 'is empty (tls: failed to find any PEM data in key input)',
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
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

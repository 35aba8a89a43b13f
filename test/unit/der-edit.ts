/**
 * Test tooling: a minimal DER TLV reader/writer to take certificates apart, change fields and
 * sign them again, for inputs no certificate tool will write. Independent of kpki's own parser.
 */
import { createPrivateKey, sign } from 'node:crypto';

export interface Tlv {
  tag: number;
  body: Buffer;
  full: Buffer;
}

export function tlvChildren(der: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let i = 0; i < der.length;) {
    const tag = der[i]!;
    let length = der[i + 1]!;
    let header = 2;
    if (length & 0x80) {
      const n = length & 0x7f;
      length = der.subarray(i + 2, i + 2 + n).reduce((acc, b) => acc * 256 + b, 0);
      header += n;
    }
    out.push({ tag, body: der.subarray(i + header, i + header + length), full: der.subarray(i, i + header + length) });
    i += header + length;
  }
  return out;
}

export function tlvEncode(tag: number, body: Buffer): Buffer {
  const n = body.length;
  if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), body]);
  const lengthBytes = Buffer.from(n.toString(16).padStart(n.toString(16).length + (n.toString(16).length % 2), '0'), 'hex');
  return Buffer.concat([Buffer.from([tag, 0x80 | lengthBytes.length]), lengthBytes, body]);
}

export const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
export const derToPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;

/**
 * The certificate with its TBS fields replaced by `edit` (given the fields, returns their new
 * encodings) and signed again with `signerKeyPem` (SHA-256; ECDSA or RSA PKCS#1 v1.5).
 */
export function reassemble(certDer: Buffer, signerKeyPem: Buffer | string, edit: (fields: Tlv[]) => Buffer[]): Buffer {
  const [tbs, algorithm] = tlvChildren(tlvChildren(certDer)[0]!.body);
  const newTbs = tlvEncode(0x30, Buffer.concat(edit(tlvChildren(tbs!.body))));
  const signature = sign('sha256', newTbs, createPrivateKey(signerKeyPem));
  return tlvEncode(0x30, Buffer.concat([newTbs, algorithm!.full, tlvEncode(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
}

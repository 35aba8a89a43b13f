import { describe, expect, it } from 'vitest';
import { x509 } from '../../src/pki/crypto.js';
import { pemBlocks } from '../../src/pki/pem-blocks.js';

/** What @peculiar/x509's PEM reader (which pemBlocks stands in for) makes of a text: blocks, or the error it throws. */
function byX509(text: string): { type: string; der: string }[] | string {
  try {
    return x509.PemConverter.decodeWithHeaders(text).map((b) => ({ type: b.type, der: Buffer.from(b.rawData).toString('hex') }));
  } catch (error) {
    return (error as Error).message;
  }
}

function byPemBlocks(text: string): { type: string; der: string }[] | string {
  try {
    return pemBlocks(text).map((b) => ({ type: b.type, der: b.der.toString('hex') }));
  } catch (error) {
    return (error as Error).message;
  }
}

const body = (bytes: number, width = 64) =>
  (
    Buffer.alloc(bytes, 0xa5)
      .toString('base64')
      .match(new RegExp(`.{1,${width}}`, 'g')) ?? []
  ).join('\n');
const block = (type: string, inner: string) => `-----BEGIN ${type}-----\n${inner}\n-----END ${type}-----\n`;

describe('pemBlocks', () => {
  it.each([
    ['one certificate', block('CERTIFICATE', body(300))],
    ['a bundle with text around it', `subject=CN=x\n${block('CERTIFICATE', body(100))}issuer\n${block('CERTIFICATE', body(101))}trailer`],
    ['CRLF lines', block('CERTIFICATE', body(102)).replace(/\n/g, '\r\n')],
    ['headers and a continued header', block('RSA PRIVATE KEY', `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n  FF\n\n${body(64)}`)],
    ['76-column lines', block('PRIVATE KEY', body(200, 76))],
    ['no END line', `-----BEGIN CERTIFICATE-----\n${body(50)}\n`],
    ['an END of another type', `-----BEGIN CERTIFICATE-----\n${body(50)}\n-----END PRIVATE KEY-----\n`],
    ['padding inside the base64', block('CERTIFICATE', 'QQ==\nQUFB')],
    ['no base64 at all', block('CERTIFICATE', '')],
    ['a character outside base64', block('CERTIFICATE', `${body(30)}*`)],
    ['dashes in the type', block('X-Y-CERT', body(10))],
    ['no PEM', 'hello'],
  ])('reads %s as @peculiar/x509 does', (_, text) => {
    expect(byPemBlocks(text)).toStrictEqual(byX509(text));
  });
});

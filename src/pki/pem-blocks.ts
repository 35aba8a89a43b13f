import { badInput } from '../errors.js';
import { X509ParseError } from './parse.js';

/**
 * PEM blocks and certificate files as kpki's issuing side reads them (@peculiar/x509's PEM
 * rules: LF lines, optional `Key: value` headers, base64 lines, END naming the BEGIN type), kept
 * apart from @peculiar/x509 so that commands which only read certificates (`check-expiration`)
 * neither load nor evaluate it.
 */

export interface PemBlock {
  type: string;
  der: Buffer;
}

// BEGIN line, then optional header lines (continued by lines starting with a space) and a blank
// line, then base64 lines, each ending in LF, then the END line of the same type.
const PEM_BLOCK =
  /-----BEGIN ([^\n]+(?=-----))-----\n(?:(?:[^:\n]+: [^\n]+\n(?: +[^\n]+\n)*)+)?\n?((?:[A-Za-z0-9=+/]+\n)+)-----END \1-----/g;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** PEM blocks in order; CRLF and surrounding text are tolerated. Throws a TypeError on misplaced padding, as @peculiar/x509 does. */
export function pemBlocks(data: Buffer | string): PemBlock[] {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  if (!text.includes('-----BEGIN')) return [];
  const blocks: PemBlock[] = [];
  for (const match of text.replace(/\r/g, '').matchAll(PEM_BLOCK)) {
    const base64 = match[2]!.replace(/\n/g, '');
    if (!STRICT_BASE64.test(base64)) throw new TypeError("Argument 'base64Text' is not Base64 encoded");
    blocks.push({ type: match[1]!, der: Buffer.from(base64, 'base64') });
  }
  return blocks;
}

const looksLikeText = (data: Buffer) => data.length > 0 && data.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));

/**
 * Every certificate in a file (PEM bundle or one DER certificate), each made by `load` from its
 * DER. Errors carry Go's wording, which is what the components would log for the same file.
 */
export function readCertificates<C>(data: Buffer, file: string, load: (der: Buffer) => C): C[] {
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
        return [load(data)];
      } catch {
        // Not DER either; fall through to the PEM error.
      }
    }
    throw badInput(
      file,
      blocks.length
        ? `has no CERTIFICATE block (found ${blocks.map((b) => b.type).join(', ')})`
        : 'has no certificate (tls: failed to find any PEM data in certificate input)',
      'the file should hold a PEM "CERTIFICATE" block; check it is not empty or truncated',
    );
  }
  return certBlocks.map((block, i) => {
    const which = certBlocks.length > 1 ? `certificate #${i + 1} of the file` : 'the certificate';
    try {
      return load(block.der);
    } catch (error) {
      // Go's parse error is what every Kubernetes component would report for this file.
      if (error instanceof X509ParseError)
        throw badInput(file, error.message, `${which} is refused by Go's x509 parser: restore it from its source or reissue it`);
      throw badInput(
        file,
        `certificate #${i + 1} is corrupt: ${(error as Error).message}`,
        'restore the file from its source or reissue it',
      );
    }
  });
}

import { privateKeyFromDer, publicKeyFromDer, publicKeyOf, type KeyObject } from '../pki/keys.js';
import { publicKeyObject } from '../pki/certificate-facts.js';
import { certificateFromDer, type CertificateData, type CertificateParses } from '../pki/parse.js';

/**
 * How Kubernetes components read PEM files, with the errors they print: Go's tls.X509KeyPair for
 * certificate/key flag pairs and kubeconfig credentials, client-go's cert and keyutil packages for
 * CA bundles and service-account keys. kpki's own readers are more forgiving (DER, any order);
 * these say what the cluster will do with the same bytes.
 */

export type Read<T> = { ok: true; value: T } | { ok: false; error: string };

interface GoPemBlock {
  type: string;
  hasHeaders: boolean;
  der: Buffer;
}

const BEGIN = /(?:^|\n)-----BEGIN ([^\n]*?)-----\r?\n/g;

/** Go's encoding/pem: every well-formed block in order; malformed ones are skipped as Go skips them. */
function goPemBlocks(data: Buffer): GoPemBlock[] {
  const text = data.toString('latin1');
  const blocks: GoPemBlock[] = [];
  BEGIN.lastIndex = 0;
  for (let match = BEGIN.exec(text); match; match = BEGIN.exec(text)) {
    const type = match[1]!;
    const bodyStart = BEGIN.lastIndex;
    const end = text.indexOf(`-----END ${type}-----`, bodyStart);
    if (end < 0) continue;
    let body = text.slice(bodyStart, end);
    // Headers ("Key: value" lines) end at the first blank line.
    const headerEnd = /^[^\n:]+:[^\n]*\r?\n/.test(body) ? body.search(/\r?\n\r?\n/) : -1;
    const hasHeaders = headerEnd >= 0;
    if (hasHeaders) body = body.slice(headerEnd).trimStart();
    const base64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) continue;
    blocks.push({ type, hasHeaders, der: Buffer.from(base64, 'base64') });
    BEGIN.lastIndex = end;
  }
  return blocks;
}

/** A certificate's DER as Go parses it, or Go's parse error; `parses` holds one load's (pki/parse.ts). */
export function parseDer(der: Buffer, parses?: CertificateParses): Read<CertificateData> {
  try {
    return { ok: true, value: certificateFromDer(der, parses) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

function parseAll(ders: Buffer[], parses?: CertificateParses): Read<CertificateData[]> {
  const certs: CertificateData[] = [];
  for (const der of ders) {
    const parsed = parseDer(der, parses);
    if (!parsed.ok) return parsed;
    certs.push(parsed.value);
  }
  return { ok: true, value: certs };
}

/** The certificate half of tls.X509KeyPair: CERTIFICATE blocks, leaf first. */
export function tlsCertificates(data: Buffer, parses?: CertificateParses): Read<CertificateData[]> {
  const blocks = goPemBlocks(data);
  const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (!certs.length) {
    const skipped = blocks.map((b) => b.type);
    if (!skipped.length) return { ok: false, error: 'tls: failed to find any PEM data in certificate input' };
    if (skipped.length === 1 && skipped[0]!.endsWith('PRIVATE KEY')) {
      return {
        ok: false,
        error:
          'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
      };
    }
    return {
      ok: false,
      error: `tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${skipped.join(' ')}]`,
    };
  }
  return parseAll(
    certs.map((b) => b.der),
    parses,
  );
}

const ENCODING_OF_BLOCK: Record<string, 'pkcs1' | 'pkcs8' | 'sec1'> = {
  'RSA PRIVATE KEY': 'pkcs1',
  'PRIVATE KEY': 'pkcs8',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * Go's tls parsePrivateKey: PKCS#1, PKCS#8, then SEC1. The three structures cannot both parse, so
 * the one the PEM type names is tried first: the same answer without OpenSSL's costly failed decodes.
 */
function parseGoPrivateKey(der: Buffer, blockType?: string): KeyObject | undefined {
  const named = blockType === undefined ? undefined : ENCODING_OF_BLOCK[blockType];
  for (const type of named
    ? [named, ...(['pkcs1', 'pkcs8', 'sec1'] as const).filter((t) => t !== named)]
    : (['pkcs1', 'pkcs8', 'sec1'] as const)) {
    try {
      return privateKeyFromDer(der, type);
    } catch {
      // Go tries the next encoding too.
    }
  }
  return undefined;
}

/** The key half of tls.X509KeyPair: the first block whose type ends in PRIVATE KEY. */
export function tlsPrivateKey(data: Buffer): Read<KeyObject> {
  const blocks = goPemBlocks(data);
  const index = blocks.findIndex((b) => b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY'));
  if (index < 0) {
    const skipped = blocks.map((b) => b.type);
    if (!skipped.length) return { ok: false, error: 'tls: failed to find any PEM data in key input' };
    if (skipped.length === 1 && skipped[0] === 'CERTIFICATE')
      return { ok: false, error: 'tls: found a certificate rather than a key in the PEM for the private key' };
    return {
      ok: false,
      error: `tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${skipped.join(' ')}]`,
    };
  }
  const key = parseGoPrivateKey(blocks[index]!.der, blocks[index]!.type);
  return key ? { ok: true, value: key } : { ok: false, error: 'tls: failed to parse private key' };
}

/** client-go cert.ParseCertsPEM, which CA-file flags use: CERTIFICATE blocks without headers. */
export function caBundle(data: Buffer, parses?: CertificateParses): Read<CertificateData[]> {
  const certs = goPemBlocks(data).filter((b) => b.type === 'CERTIFICATE' && !b.hasHeaders);
  if (!certs.length) return { ok: false, error: 'data does not contain any valid RSA or ECDSA certificates' };
  return parseAll(
    certs.map((b) => b.der),
    parses,
  );
}

/** Go's CertPool.AppendCertsFromPEM as client-go ≥ 1.2x uses it for kubeconfig CA data. */
export function rootCertificates(data: Buffer, parses?: CertificateParses): Read<CertificateData[]> {
  const certs = goPemBlocks(data).filter((b) => b.type === 'CERTIFICATE' && !b.hasHeaders);
  const parsed = certs
    .map((b) => parseDer(b.der, parses))
    .filter((r) => r.ok)
    .map((r) => (r as { value: CertificateData }).value);
  return parsed.length
    ? { ok: true, value: parsed }
    : { ok: false, error: 'unable to load root certificates: unable to parse bytes as PEM block' };
}

/**
 * keyutil.ParsePublicKeysPEM: per block, a private key's public half (PKCS#1, PKCS#8, SEC1), a PKIX
 * public key, or a certificate's key. No DER is more than one of these, so a PUBLIC KEY block (sa.pub)
 * is tried as PKIX first: the same answer without three failed private-key decodes.
 */
function blockPublicKey(block: GoPemBlock): KeyObject | undefined {
  const pkix = () => {
    try {
      return publicKeyFromDer(block.der);
    } catch {
      return undefined;
    }
  };
  const fromPrivate = () => {
    const privateKey = parseGoPrivateKey(block.der, block.type);
    return privateKey && publicKeyOf(privateKey);
  };
  const key = block.type === 'PUBLIC KEY' ? (pkix() ?? fromPrivate()) : (fromPrivate() ?? pkix());
  if (key) return key;
  const parsed = parseDer(block.der);
  return parsed.ok ? publicKeyObject(parsed.value) : undefined;
}

/** client-go keyutil.ParsePublicKeysPEM (--service-account-key-file): RSA/ECDSA keys of every block that holds one. */
export function publicKeys(data: Buffer): Read<KeyObject[]> {
  const keys = goPemBlocks(data)
    .map(blockPublicKey)
    .filter((key): key is KeyObject => key?.asymmetricKeyType === 'rsa' || key?.asymmetricKeyType === 'ec');
  return keys.length ? { ok: true, value: keys } : { ok: false, error: 'data does not contain any valid RSA or ECDSA public keys' };
}

const KEYUTIL_TYPES: Record<string, 'sec1' | 'pkcs1' | 'pkcs8'> = {
  'EC PRIVATE KEY': 'sec1',
  'RSA PRIVATE KEY': 'pkcs1',
  'PRIVATE KEY': 'pkcs8',
};

/** client-go keyutil.ParsePrivateKeyPEM (--service-account-signing-key-file, --service-account-private-key-file). */
export function privateKey(data: Buffer): Read<KeyObject> {
  for (const block of goPemBlocks(data)) {
    const type = KEYUTIL_TYPES[block.type];
    if (!type) continue;
    try {
      const key = privateKeyFromDer(block.der, type);
      if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'ec') return { ok: true, value: key };
    } catch {
      // keyutil moves on to the next block.
    }
  }
  return { ok: false, error: 'data does not contain a valid RSA or ECDSA private key' };
}

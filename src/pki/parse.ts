import { createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCode, KpkiError } from '../errors.js';
import { DerReader, Tag, bitStringValue, contextTag, integerValue, jwkNumber, oidValue, type Element } from './der.js';
import { isV4Mapped, parseIp } from './ip.js';
import type { KeyUsageName } from './template.js';

/**
 * Certificate parsing with the checks and messages of current Go's crypto/x509 ParseCertificate
 * (the parser every Kubernetes component loads certificates with): a certificate Go refuses is
 * refused here with Go's text, and what verification needs is read the way Go reads it.
 */

/**
 * A certificate Go's parser refuses; the message is Go's. A KpkiError (BAD_INPUT), so even where
 * no loader adds the file name it reaches the user as a one-line error, never a crash.
 */
export class X509ParseError extends KpkiError {
  constructor(message: string) {
    super(ErrorCode.BadInput, message);
    this.name = 'X509ParseError';
  }
}

const fail = (message: string): never => {
  throw new X509ParseError(message);
};

export type PublicKeyAlgorithm = 'RSA' | 'DSA' | 'ECDSA' | 'Ed25519' | 'X25519';

export interface SignatureAlgorithm {
  /** Go's name (SHA256-RSA, ECDSA-SHA384, …). */
  name: string;
  keyAlgorithm: PublicKeyAlgorithm | undefined;
  /** Node's digest name; undefined for Ed25519 and algorithms Go cannot verify (MD2). */
  hash: 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | undefined;
  pss: boolean;
}

export interface IpRange {
  ip: Buffer;
  mask: Buffer;
}

export interface Subtrees {
  dns: string[];
  ips: IpRange[];
  emails: string[];
  uriDomains: string[];
}

export interface NameFields {
  commonName: string;
  organizations: string[];
}

export interface ParsedUri {
  text: string;
  /** The authority's host (with any port), as Go's url.URL.Host. */
  host: string;
}

export interface GoCertificate {
  raw: Buffer;
  rawTbs: Buffer;
  rawSubject: Buffer;
  rawIssuer: Buffer;
  rawSpki: Buffer;
  version: number;
  serialNumber: bigint;
  /** The signature's AlgorithmIdentifier OID, whether Go knows it or not. */
  signatureAlgorithmOid: string;
  signatureAlgorithm: SignatureAlgorithm | undefined;
  signature: Buffer;
  publicKeyAlgorithm: PublicKeyAlgorithm | undefined;
  /** Node's view of the key, for signature checks; undefined for keys Node cannot load. */
  publicKey: KeyObject | undefined;
  subject: NameFields;
  issuer: NameFields;
  notBefore: Date;
  notAfter: Date;
  extensionOids: string[];
  /** KeyUsage bits as Go numbers them (bit 0 digitalSignature … bit 8 decipherOnly); 0 when absent. */
  keyUsage: number;
  hasKeyUsage: boolean;
  basicConstraintsValid: boolean;
  isCA: boolean;
  /** -1 when the basic constraints carry no pathLenConstraint. */
  maxPathLen: number;
  hasSan: boolean;
  /** The SAN extension's value, which Go compares to tell a certificate from its re-issue. */
  sanExtension: Buffer | undefined;
  dnsNames: string[];
  emailAddresses: string[];
  ipAddresses: Buffer[];
  uris: ParsedUri[];
  nameConstraints: { permitted: Subtrees; excluded: Subtrees } | undefined;
  extKeyUsageOids: string[];
  subjectKeyId: Buffer | undefined;
  authorityKeyId: Buffer | undefined;
  unhandledCriticalExtensions: string[];
}

/** Go's KeyUsage bits for the usages kpki names. */
export const KeyUsageBit = {
  digitalSignature: 1,
  keyEncipherment: 4,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
} as const satisfies Record<KeyUsageName, number>;

const OID = {
  rsa: '1.2.840.113549.1.1.1',
  ecdsa: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  x25519: '1.3.101.110',
  dsa: '1.2.840.10040.4.1',
  pss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  aia: '1.3.6.1.5.5.7.1.1',
  aiaOcsp: '1.3.6.1.5.5.7.48.1',
  aiaIssuers: '1.3.6.1.5.5.7.48.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
};

/** The curves Go supports, by OID, with node:crypto's names for them. */
const CURVES: Record<string, { name: string; nodeName: string; pointLength: number }> = {
  '1.3.132.0.33': { name: 'P-224', nodeName: 'secp224r1', pointLength: 57 },
  '1.2.840.10045.3.1.7': { name: 'P-256', nodeName: 'prime256v1', pointLength: 65 },
  '1.3.132.0.34': { name: 'P-384', nodeName: 'secp384r1', pointLength: 97 },
  '1.3.132.0.35': { name: 'P-521', nodeName: 'secp521r1', pointLength: 133 },
};

/** The OIDs of an EC key's SubjectPublicKeyInfo (RFC 5480) for a curve node:crypto names; undefined for another curve. */
export function ecKeyOids(nodeName: string | undefined): { algorithm: string; curve: string } | undefined {
  const curve = Object.keys(CURVES).find((oid) => CURVES[oid]!.nodeName === nodeName);
  return curve === undefined ? undefined : { algorithm: OID.ecdsa, curve };
}

const PUBLIC_KEY_ALGORITHMS: Record<string, PublicKeyAlgorithm> = {
  [OID.rsa]: 'RSA',
  [OID.ecdsa]: 'ECDSA',
  [OID.ed25519]: 'Ed25519',
  [OID.x25519]: 'X25519',
  [OID.dsa]: 'DSA',
};

const sig = (name: string, keyAlgorithm: PublicKeyAlgorithm, hash: SignatureAlgorithm['hash']): SignatureAlgorithm => ({
  name,
  keyAlgorithm,
  hash,
  pss: false,
});
const SIGNATURE_ALGORITHMS: Record<string, SignatureAlgorithm> = {
  '1.2.840.113549.1.1.2': sig('MD2-RSA', 'RSA', undefined),
  '1.2.840.113549.1.1.4': sig('MD5-RSA', 'RSA', 'md5'),
  '1.2.840.113549.1.1.5': sig('SHA1-RSA', 'RSA', 'sha1'),
  '1.3.14.3.2.29': sig('SHA1-RSA', 'RSA', 'sha1'),
  '1.2.840.113549.1.1.11': sig('SHA256-RSA', 'RSA', 'sha256'),
  '1.2.840.113549.1.1.12': sig('SHA384-RSA', 'RSA', 'sha384'),
  '1.2.840.113549.1.1.13': sig('SHA512-RSA', 'RSA', 'sha512'),
  '1.2.840.10040.4.3': sig('DSA-SHA1', 'DSA', 'sha1'),
  '2.16.840.1.101.3.4.3.2': sig('DSA-SHA256', 'DSA', 'sha256'),
  '1.2.840.10045.4.1': sig('ECDSA-SHA1', 'ECDSA', 'sha1'),
  '1.2.840.10045.4.3.2': sig('ECDSA-SHA256', 'ECDSA', 'sha256'),
  '1.2.840.10045.4.3.3': sig('ECDSA-SHA384', 'ECDSA', 'sha384'),
  '1.2.840.10045.4.3.4': sig('ECDSA-SHA512', 'ECDSA', 'sha512'),
  [OID.ed25519]: sig('Ed25519', 'Ed25519', undefined),
};

const PSS_HASHES: Record<string, { hash: 'sha256' | 'sha384' | 'sha512'; saltLength: number }> = {
  '2.16.840.1.101.3.4.2.1': { hash: 'sha256', saltLength: 32 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', saltLength: 48 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', saltLength: 64 },
};

interface AlgorithmIdentifier {
  oid: string;
  /** The parameters element, header included; undefined when absent. */
  params: Buffer | undefined;
}

const NULL_PARAMS = Buffer.from([0x05, 0x00]);

function parseAlgorithmIdentifier(reader: DerReader): AlgorithmIdentifier {
  const oid = reader.readOid() ?? fail('x509: malformed OID');
  if (reader.empty) return { oid, params: undefined };
  const params = reader.readAny() ?? fail('x509: malformed parameters');
  return { oid, params: params.full };
}

/** Hash algorithm of an RSASSA-PSS AlgorithmIdentifier in one of the three shapes Go accepts. */
function pssHash(params: Buffer | undefined): SignatureAlgorithm | undefined {
  if (!params) return undefined;
  const hashOf = (element: Element | undefined) => {
    const ai = element && new DerReader(element.body).readNested(Tag.SEQUENCE);
    const oid = ai?.readOid();
    const rest = ai?.rest();
    return oid && (rest!.length === 0 || rest!.equals(NULL_PARAMS)) ? oid : undefined;
  };
  const seq = new DerReader(params).readNested(Tag.SEQUENCE);
  if (!seq) return undefined;
  const hash = hashOf(seq.read(contextTag(0, true)));
  const mgf = seq.read(contextTag(1, true));
  const mgfAi = mgf && new DerReader(mgf.body).readNested(Tag.SEQUENCE);
  const mgfOid = mgfAi?.readOid();
  const mgfHash = mgfAi && hashOf({ tag: 0, body: mgfAi.rest(), full: mgfAi.rest() });
  const salt = seq.read(contextTag(2, true));
  const saltLength = salt && new DerReader(salt.body).readInteger();
  const trailer = seq.read(contextTag(3, true));
  const trailerField = trailer ? new DerReader(trailer.body).readInteger() : 1n;
  const details = hash ? PSS_HASHES[hash] : undefined;
  if (!details || mgfOid !== OID.mgf1 || mgfHash !== hash || saltLength !== BigInt(details.saltLength) || trailerField !== 1n)
    return undefined;
  return { name: `${details.hash.toUpperCase()}-RSAPSS`, keyAlgorithm: 'RSA', hash: details.hash, pss: true };
}

function signatureAlgorithmOf(ai: AlgorithmIdentifier): SignatureAlgorithm | undefined {
  if (ai.oid === OID.pss) return pssHash(ai.params);
  if (ai.oid === OID.ed25519 && ai.params) return undefined;
  return SIGNATURE_ALGORITHMS[ai.oid];
}

/** strconv.Quote, which Go's %q uses in its messages. */
export function goQuote(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const escapes: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    12: '\\f',
    10: '\\n',
    13: '\\r',
    9: '\\t',
    11: '\\v',
    34: '\\"',
    92: '\\\\',
  };
  let out = '"';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      out += escapes[b] ?? (b < 0x20 || b === 0x7f ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b));
      i++;
      continue;
    }
    const width = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    const chunk = bytes.subarray(i, i + width);
    const decoded = width > 1 && chunk.length === width ? chunk.toString('utf8') : '\ufffd';
    if (decoded.includes('\ufffd') || Buffer.from(decoded, 'utf8').length !== width) {
      out += `\\x${b.toString(16)}`;
      i++;
      continue;
    }
    const code = decoded.codePointAt(0)!;
    out += /\p{L}|\p{M}|\p{N}|\p{P}|\p{S}/u.test(decoded)
      ? decoded
      : code > 0xffff
        ? `\\U${code.toString(16).padStart(8, '0')}`
        : `\\u${code.toString(16).padStart(4, '0')}`;
    i += width;
  }
  return `${out}"`;
}

const isIa5 = (bytes: Buffer) => bytes.every((b) => b < 0x80);
const ia5Error = (value: Buffer) => `x509: ${goQuote(value)} cannot be encoded as an IA5String`;

function isPrintable(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x27 && b <= 0x29) ||
    (b >= 0x2b && b <= 0x2f) ||
    b === 0x20 ||
    b === 0x3a ||
    b === 0x3d ||
    b === 0x3f ||
    b === 0x2a ||
    b === 0x26
  );
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** parseASN1String: the string types a Name may hold, validated as Go validates them. */
function stringValue(tag: number, value: Buffer): string {
  switch (tag) {
    case Tag.T61String:
      return value.toString('latin1');
    case Tag.PrintableString:
      return value.every(isPrintable) ? value.toString('latin1') : fail('invalid PrintableString');
    case Tag.UTF8String:
      try {
        return utf8Decoder.decode(value);
      } catch {
        return fail('invalid UTF-8 string');
      }
    case Tag.BMPString: {
      if (value.length % 2) fail('invalid BMPString');
      const units = value.length >= 2 && value[value.length - 1] === 0 && value[value.length - 2] === 0 ? value.subarray(0, -2) : value;
      const codes: number[] = [];
      for (let i = 0; i < units.length; i += 2) {
        const point = units.readUInt16BE(i);
        if (point === 0xfffe || point === 0xffff || (point >= 0xfdd0 && point <= 0xfdef) || (point >= 0xd800 && point <= 0xdfff))
          fail('invalid BMPString');
        codes.push(point);
      }
      return String.fromCharCode(...codes);
    }
    case Tag.IA5String:
      return isIa5(value) ? value.toString('latin1') : fail('invalid IA5String');
    case Tag.NumericString:
      return value.every((b) => (b >= 0x30 && b <= 0x39) || b === 0x20) ? value.toString('latin1') : fail('invalid NumericString');
  }
  return fail(`unsupported string type: ${tag}`);
}

const STRING_TAGS = new Set<number>([Tag.T61String, Tag.PrintableString, Tag.UTF8String, Tag.BMPString, Tag.IA5String, Tag.NumericString]);

/** readASN1Any: an attribute value; strings are returned, other types only validated. */
function attributeValue(element: Element): string | undefined {
  const { tag, body } = element;
  if (STRING_TAGS.has(tag)) return stringValue(tag, body);
  const checks: Record<number, [() => unknown, string]> = {
    [Tag.INTEGER]: [
      () => {
        const v = integerValue(body);
        return v !== undefined && v >= -(1n << 63n) && v < 1n << 63n ? v : undefined;
      },
      'invalid ASN.1 integer',
    ],
    [Tag.BIT_STRING]: [() => bitStringValue(body), 'invalid ASN.1 BIT STRING'],
    [Tag.OID]: [() => oidValue(body), 'invalid ASN.1 OBJECT IDENTIFIER'],
    [Tag.BOOLEAN]: [() => (body.length === 1 && (body[0] === 0 || body[0] === 0xff) ? true : undefined), 'invalid ASN.1 BOOLEAN'],
  };
  if (tag === Tag.UTCTime || tag === Tag.GeneralizedTime) readTime(new DerReader(element.full));
  const check = checks[tag];
  if (check && check[0]() === undefined) fail(check[1]);
  return undefined;
}

/** parseName: the RDN sequence, validated, and the CN/O fields Go's pkix.Name keeps. */
function parseName(raw: Buffer): NameFields {
  const rdns = new DerReader(raw).readNested(Tag.SEQUENCE) ?? fail('x509: invalid RDNSequence');
  const fields: NameFields = { commonName: '', organizations: [] };
  while (!rdns.empty) {
    const set = rdns.readNested(Tag.SET) ?? fail('x509: invalid RDNSequence');
    while (!set.empty) {
      const atv = set.readNested(Tag.SEQUENCE) ?? fail('x509: invalid RDNSequence: invalid attribute');
      const type = atv.readOid() ?? fail('x509: invalid RDNSequence: invalid attribute type');
      const element = atv.readAny() ?? fail('x509: invalid RDNSequence: invalid attribute value: invalid ASN.1 element');
      let value: string | undefined;
      try {
        value = attributeValue(element);
      } catch (error) {
        fail(`x509: invalid RDNSequence: invalid attribute value: ${(error as Error).message}`);
      }
      if (value === undefined) continue;
      if (type === OID.commonName) fields.commonName = value;
      if (type === OID.organization) fields.organizations.push(value);
    }
  }
  return fields;
}

/** cryptobyte's UTCTime/GeneralizedTime: whole seconds, Z or ±hhmm, formatted exactly as Go formats. */
function readTime(reader: DerReader): Date {
  const utc = reader.peekTag() === Tag.UTCTime;
  if (!utc && reader.peekTag() !== Tag.GeneralizedTime) return fail('x509: unsupported time format');
  const element = reader.readAny();
  const text = element?.body.toString('latin1') ?? '';
  const match = utc
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{4})$/.exec(text)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?(Z|[+-]\d{4})$/.exec(text);
  const malformed = () => fail(utc ? 'x509: malformed UTCTime' : 'x509: malformed GeneralizedTime');
  if (!match) return malformed();
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const year = utc ? (y! < 50 ? 2000 + y! : 1900 + y!) : y!;
  const zone = match[match.length - 1]!;
  const offset = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  // Go formats a zero offset as "Z", so "+0000" does not survive its round trip.
  if (zone !== 'Z' && (offset === 0 || Number(zone.slice(3, 5)) > 59)) return malformed();
  const ms = Date.UTC(year, mo! - 1, d!, h!, mi!, s!);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d! || h! > 23 || mi! > 59 || s! > 59)
    return malformed();
  const fraction = !utc && match[7] ? Number(`0.${match[7]}`) * 1000 : 0;
  return new Date(ms - offset * 60_000 + fraction);
}

function parsePublicKey(algorithm: AlgorithmIdentifier, keyBits: Buffer, spki: Buffer): KeyObject | undefined {
  const kind = PUBLIC_KEY_ALGORITHMS[algorithm.oid];
  const params = algorithm.params;
  switch (kind) {
    case 'RSA': {
      if (!params?.equals(NULL_PARAMS)) fail('x509: RSA key missing NULL parameters');
      const seq = new DerReader(keyBits).readNested(Tag.SEQUENCE) ?? fail('x509: invalid RSA public key');
      const modulus = seq.readInteger() ?? fail('x509: invalid RSA modulus');
      const exponent = seq.readInteger();
      if (exponent === undefined || exponent >= 1n << 63n || exponent < -(1n << 63n)) fail('x509: invalid RSA public exponent');
      if (modulus <= 0n) fail('x509: RSA modulus is not a positive number');
      if (exponent! <= 0n) fail('x509: RSA public exponent is not a positive number');
      // From the numbers just read: OpenSSL 3 decodes a DER key ten times slower than it takes a JWK,
      // and a read command parses a few dozen certificates.
      try {
        return createPublicKey({ key: { kty: 'RSA', n: jwkNumber(modulus), e: jwkNumber(exponent!) }, format: 'jwk' });
      } catch {
        return undefined;
      }
    }
    case 'ECDSA': {
      const curveOid = params && new DerReader(params).readOid();
      if (!curveOid) return fail('x509: invalid ECDSA parameters');
      const curve = CURVES[curveOid] ?? fail('x509: unsupported elliptic curve');
      if (keyBits.length !== curve.pointLength || keyBits[0] !== 4) fail('x509: failed to unmarshal elliptic curve point');
      try {
        return createPublicKey({ key: spki, format: 'der', type: 'spki' });
      } catch {
        return fail('x509: failed to unmarshal elliptic curve point');
      }
    }
    case 'Ed25519':
      if (params) fail('x509: Ed25519 key encoded with illegal parameters');
      if (keyBits.length !== 32) fail('x509: wrong Ed25519 public key size');
      break;
    case 'X25519':
      if (params) fail('x509: X25519 key encoded with illegal parameters');
      if (keyBits.length !== 32) fail('crypto/ecdh: invalid public key');
      break;
    case 'DSA': {
      const y = new DerReader(keyBits).readInteger() ?? fail('x509: invalid DSA public key');
      const seq = params && new DerReader(params).readNested(Tag.SEQUENCE);
      const [p, q, g] = [seq?.readInteger(), seq?.readInteger(), seq?.readInteger()];
      if (p === undefined || q === undefined || g === undefined) return fail('x509: invalid DSA parameters');
      if (y <= 0n || p <= 0n || q <= 0n || g <= 0n) fail('x509: zero or negative DSA parameter');
      return undefined;
    }
    default:
      return undefined;
  }
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

const emptySubtrees = (): Subtrees => ({ dns: [], ips: [], emails: [], uriDomains: [] });

/** domainNameValid: labels non-empty, printable ASCII, no trailing period; constraints may lead with one. */
export function domainNameValid(name: string, constraint: boolean): boolean {
  if (name.length === 0) return true;
  if (name.endsWith('.')) return false;
  const body = constraint && name.startsWith('.') ? name.slice(1) : name;
  return body.split('.').every((label) => label.length > 0 && [...label].every((c) => c.charCodeAt(0) >= 33 && c.charCodeAt(0) <= 126));
}

/** parseRFC2821Mailbox: local part (atom or quoted string) and domain; undefined when not a mailbox. */
export function parseMailbox(input: string): { local: string; domain: string } | undefined {
  if (!input.length) return undefined;
  let local = '';
  let i = 0;
  const code = (k: number) => input.charCodeAt(k);
  if (input[0] === '"') {
    i = 1;
    for (;;) {
      if (i >= input.length) return undefined;
      const c = code(i++);
      if (c === 0x22) break;
      if (c === 0x5c) {
        if (i >= input.length) return undefined;
        const n = code(i);
        if (n === 11 || n === 12 || (n >= 1 && n <= 9) || (n >= 14 && n <= 127)) {
          local += input[i++];
          continue;
        }
        return undefined;
      }
      if (
        c === 11 ||
        c === 12 ||
        c === 32 ||
        c === 33 ||
        c === 127 ||
        (c >= 1 && c <= 8) ||
        (c >= 14 && c <= 31) ||
        (c >= 35 && c <= 91) ||
        (c >= 93 && c <= 126)
      ) {
        local += String.fromCharCode(c);
        continue;
      }
      return undefined;
    }
  } else {
    while (i < input.length) {
      let c = input[i]!;
      if (c === '\\') {
        i++;
        if (i >= input.length) return undefined;
        c = input[i]!;
      } else if (!/[0-9A-Za-z!#$%&'*+\-/=?^_`{|}~.]/.test(c)) {
        break;
      }
      local += input[i++];
    }
    if (!local.length || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return undefined;
  }
  if (input[i] !== '@') return undefined;
  const domain = input.slice(i + 1);
  return domainToReverseLabels(domain) ? { local, domain } : undefined;
}

/** domainToReverseLabels: labels last-first; undefined for absolute names, empty labels or bytes outside 33–126. */
function domainToReverseLabels(domain: string): string[] | undefined {
  if (domain === '') return [];
  const labels = domain.split('.').reverse();
  if (labels[0] === '') return undefined;
  return labels.every((l) => l.length > 0 && [...Buffer.from(l, 'utf8')].every((c) => c >= 33 && c <= 126)) ? labels : undefined;
}

function validIpMask(mask: Buffer): boolean {
  let seenZero = false;
  for (const b of mask) {
    if (seenZero) {
      if (b !== 0) return false;
      continue;
    }
    if ([0x00, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe].includes(b)) seenZero = true;
    else if (b !== 0xff) return false;
  }
  return true;
}

function parseSubtrees(reader: DerReader | undefined): { subtrees: Subtrees; unhandled: boolean } {
  const subtrees = emptySubtrees();
  let unhandled = false;
  while (reader && !reader.empty) {
    const seq = reader.readNested(Tag.SEQUENCE);
    const base = seq?.readAny() ?? fail('x509: invalid NameConstraints extension');
    const value = base.body;
    const text = value.toString('latin1');
    const checkIa5 = () => isIa5(value) || fail(`x509: invalid constraint value: ${ia5Error(value)}`);
    switch (base.tag) {
      case contextTag(2):
        checkIa5();
        if (!domainNameValid(text, true)) fail(`x509: failed to parse dnsName constraint ${goQuote(text)}`);
        subtrees.dns.push(text);
        break;
      case contextTag(7): {
        if (value.length !== 8 && value.length !== 32) fail(`x509: IP constraint contained value of length ${value.length}`);
        const half = value.length / 2;
        const ip = value.subarray(0, half);
        const mask = value.subarray(half);
        if (!validIpMask(mask)) fail(`x509: IP constraint contained invalid mask ${mask.toString('hex')}`);
        if (isV4Mapped(ip)) fail('x509: IP constraint contained IPv4-mapped IPv6 address');
        subtrees.ips.push({ ip, mask });
        break;
      }
      case contextTag(1):
        checkIa5();
        if (text.includes('@') ? !parseMailbox(text) : !domainNameValid(text, true))
          fail(`x509: failed to parse rfc822Name constraint ${goQuote(text)}`);
        subtrees.emails.push(text);
        break;
      case contextTag(6):
        checkIa5();
        if (parseIp(text)) fail(`x509: failed to parse URI constraint ${goQuote(text)}: cannot be IP address`);
        if (!domainNameValid(text, true)) fail(`x509: failed to parse URI constraint ${goQuote(text)}`);
        subtrees.uriDomains.push(text);
        break;
      default:
        unhandled = true;
    }
  }
  return { subtrees, unhandled };
}

function parseNameConstraints(value: Buffer): { permitted: Subtrees; excluded: Subtrees; unhandled: boolean } {
  const outer = new DerReader(value);
  const top = outer.readNested(Tag.SEQUENCE);
  const invalid = () => fail('x509: invalid NameConstraints extension');
  if (!top || !outer.empty) return invalid();
  const permitted = top.readOptional(contextTag(0, true));
  const excluded = top.readOptional(contextTag(1, true));
  if (permitted === undefined || excluded === undefined || !top.empty) return invalid();
  if (!permitted && !excluded) fail('x509: empty name constraints extension');
  if ((permitted && permitted.body.length === 0) || (excluded && excluded.body.length === 0))
    fail('x509: empty name constraints subtree sequence');
  const p = parseSubtrees(permitted ? new DerReader(permitted.body) : undefined);
  const e = parseSubtrees(excluded ? new DerReader(excluded.body) : undefined);
  return { permitted: p.subtrees, excluded: e.subtrees, unhandled: p.unhandled || e.unhandled };
}

/** The host of a URI as net/url puts it in URL.Host ("" without an authority). */
function uriHost(uri: string): string {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri) ?? /^\/\/([^/?#]*)/.exec(uri);
  if (!authority) return '';
  const hostPort = authority[1]!;
  return hostPort.slice(hostPort.lastIndexOf('@') + 1);
}

function parseSan(cert: GoCertificate, value: Buffer): boolean {
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? fail('x509: invalid subject alternative names');
  while (!seq.empty) {
    const name = seq.readAny() ?? fail('x509: invalid subject alternative name');
    const data = name.body;
    const text = data.toString('latin1');
    switch (name.tag ^ 0x80) {
      case 1:
        if (!isIa5(data)) fail('x509: SAN rfc822Name is malformed');
        cert.emailAddresses.push(text);
        break;
      case 2:
        if (!isIa5(data)) fail('x509: SAN dNSName is malformed');
        cert.dnsNames.push(text);
        break;
      case 6: {
        if (!isIa5(data)) fail('x509: SAN uniformResourceIdentifier is malformed');
        const host = uriHost(text);
        if (host && !domainNameValid(host, false)) fail(`x509: cannot parse URI ${goQuote(text)}: invalid domain`);
        cert.uris.push({ text, host });
        break;
      }
      case 7:
        if (data.length === 16 && isV4Mapped(data)) fail('x509: SAN iPAddress contains IPv4-mapped IPv6 address');
        if (data.length !== 4 && data.length !== 16) fail(`x509: cannot parse IP address of length ${data.length}`);
        cert.ipAddresses.push(Buffer.from(data));
        break;
    }
  }
  // A SAN extension with no name Go understands falls to the critical-extension check.
  return !cert.dnsNames.length && !cert.emailAddresses.length && !cert.ipAddresses.length && !cert.uris.length;
}

function parseKeyUsage(value: Buffer): number {
  const bits = new DerReader(value).readBitString() ?? fail('x509: invalid key usage');
  let usage = 0;
  for (let i = 0; i < 9; i++) {
    if (i < bits.bitLength && bits.bytes[i >> 3]! & (0x80 >> (i & 7))) usage |= 1 << i;
  }
  return usage;
}

function parseBasicConstraints(cert: GoCertificate, value: Buffer): void {
  const invalid = () => fail('x509: invalid basic constraints');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  if (seq.peekTag() === Tag.BOOLEAN) cert.isCA = seq.readBoolean() ?? invalid();
  if (seq.peekTag() === Tag.INTEGER) {
    const pathLen = seq.readInteger();
    if (pathLen === undefined || pathLen < 0n || pathLen >= 1n << 63n) invalid();
    cert.maxPathLen = Number(pathLen);
  }
  cert.basicConstraintsValid = true;
}

function parseCrlDistributionPoints(value: Buffer): void {
  const points = new DerReader(value).readNested(Tag.SEQUENCE) ?? fail('x509: invalid CRL distribution points');
  const invalid = () => fail('x509: invalid CRL distribution point');
  while (!points.empty) {
    const point = points.readNested(Tag.SEQUENCE) ?? invalid();
    const name = point.readOptional(contextTag(0, true));
    if (name === undefined) invalid();
    if (!name) continue;
    const fullName = new DerReader(name.body).readNested(contextTag(0, true)) ?? invalid();
    while (!fullName.empty && fullName.peekTag() === contextTag(6)) {
      if (!fullName.readAny()) invalid();
    }
  }
}

function parseAuthorityKeyId(critical: boolean, value: Buffer): Buffer | undefined {
  if (critical) fail('x509: authority key identifier incorrectly marked critical');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? fail('x509: invalid authority key identifier');
  if (seq.peekTag() !== contextTag(0)) return undefined;
  return (seq.readAny() ?? fail('x509: invalid authority key identifier')).body;
}

function parseExtKeyUsage(value: Buffer): string[] {
  const invalid = () => fail('x509: invalid extended key usages');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  const oids: string[] = [];
  while (!seq.empty) oids.push(seq.readOid() ?? invalid());
  return oids;
}

function parsePolicies(value: Buffer): void {
  const invalid = () => fail('x509: invalid certificate policies');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  const seen = new Set<string>();
  while (!seq.empty) {
    const policy = seq.readNested(Tag.SEQUENCE);
    const oid = policy?.read(Tag.OID) ?? invalid();
    const key = oid.body.toString('hex');
    if (seen.has(key) || !oidValue(oid.body, true)) invalid();
    seen.add(key);
  }
}

function parsePolicyConstraints(value: Buffer): void {
  const invalid = () => fail('x509: invalid policy constraints extension');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  for (const tag of [contextTag(0), contextTag(1)]) {
    if (seq.peekTag() !== tag) continue;
    const v = seq.readInteger(tag);
    if (v === undefined || v < -(1n << 63n) || v >= 1n << 63n) invalid();
  }
}

function parsePolicyMappings(value: Buffer): void {
  const invalid = () => fail('x509: invalid policy mappings extension');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  while (!seq.empty) {
    const mapping = seq.readNested(Tag.SEQUENCE);
    if (!mapping?.read(Tag.OID) || !mapping.read(Tag.OID)) invalid();
  }
}

function parseAuthorityInfoAccess(critical: boolean, value: Buffer): void {
  if (critical) fail('x509: authority info access incorrectly marked critical');
  const invalid = () => fail('x509: invalid authority info access');
  const seq = new DerReader(value).readNested(Tag.SEQUENCE) ?? invalid();
  while (!seq.empty) {
    const access = seq.readNested(Tag.SEQUENCE) ?? invalid();
    if (!access.readOid()) invalid();
    if (access.peekTag() === contextTag(6) && !access.readAny()) invalid();
  }
}

interface RawExtension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

/** processExtensions: each extension Go understands is parsed (and may fail); others are unhandled. */
function processExtensions(cert: GoCertificate, extensions: RawExtension[]): void {
  for (const { oid, critical, value } of extensions) {
    let unhandled = false;
    switch (oid) {
      case '2.5.29.15':
        cert.keyUsage = parseKeyUsage(value);
        cert.hasKeyUsage = true;
        break;
      case '2.5.29.19':
        parseBasicConstraints(cert, value);
        break;
      case '2.5.29.17':
        cert.hasSan = true;
        cert.sanExtension = value;
        unhandled = parseSan(cert, value);
        break;
      case '2.5.29.30': {
        const { unhandled: unknownForms, ...constraints } = parseNameConstraints(value);
        cert.nameConstraints = constraints;
        unhandled = unknownForms;
        break;
      }
      case '2.5.29.31':
        parseCrlDistributionPoints(value);
        break;
      case '2.5.29.35':
        cert.authorityKeyId = parseAuthorityKeyId(critical, value);
        break;
      case '2.5.29.36':
        parsePolicyConstraints(value);
        break;
      case '2.5.29.37':
        cert.extKeyUsageOids = parseExtKeyUsage(value);
        break;
      case '2.5.29.14': {
        if (critical) fail('x509: subject key identifier incorrectly marked critical');
        cert.subjectKeyId = (new DerReader(value).read(Tag.OCTET_STRING) ?? fail('x509: invalid subject key identifier')).body;
        break;
      }
      case '2.5.29.32':
        parsePolicies(value);
        break;
      case '2.5.29.33':
        parsePolicyMappings(value);
        break;
      case '2.5.29.54':
        if (new DerReader(value).readInteger() === undefined) fail('x509: invalid inhibit any policy extension');
        break;
      case OID.aia:
        parseAuthorityInfoAccess(critical, value);
        break;
      default:
        unhandled = true;
    }
    if (critical && unhandled) cert.unhandledCriticalExtensions.push(oid);
  }
}

function parseExtension(element: Element): RawExtension {
  const reader = new DerReader(element.body);
  const oid = reader.readOid() ?? fail('x509: malformed extension OID field');
  const critical = reader.peekTag() === Tag.BOOLEAN ? (reader.readBoolean() ?? fail('x509: malformed extension critical field')) : false;
  const value = reader.read(Tag.OCTET_STRING) ?? fail('x509: malformed extension value field');
  return { oid, critical, value: value.body };
}

/** x509.ParseCertificate on one DER certificate; throws X509ParseError with Go's message. */
function parseGoCertificate(der: Buffer): GoCertificate {
  const input = new DerReader(der);
  const certificate = input.read(Tag.SEQUENCE) ?? fail('x509: malformed certificate');
  const body = new DerReader(certificate.body);
  const tbsElement = body.read(Tag.SEQUENCE) ?? fail('x509: malformed tbs certificate');
  const tbs = new DerReader(tbsElement.body);

  let version = 0n;
  const versionElement = tbs.readOptional(contextTag(0, true));
  if (versionElement === undefined) fail('x509: malformed version');
  if (versionElement) {
    const inner = new DerReader(versionElement.body);
    const v = inner.readInteger();
    if (v === undefined || !inner.empty) fail('x509: malformed version');
    version = v!;
  }
  if (version < 0n || version > 3n) fail('x509: malformed version');
  if (version + 1n > 3n) fail('x509: invalid version');

  const serialNumber = tbs.readInteger() ?? fail('x509: malformed serial number');
  if (serialNumber < 0n) fail('x509: negative serial number');

  const innerAlgorithm = tbs.read(Tag.SEQUENCE) ?? fail('x509: malformed signature algorithm identifier');
  const outerAlgorithm = body.read(Tag.SEQUENCE) ?? fail('x509: malformed algorithm identifier');
  if (!outerAlgorithm.body.equals(innerAlgorithm.body)) fail("x509: inner and outer signature algorithm identifiers don't match");
  const signatureAlgorithmId = parseAlgorithmIdentifier(new DerReader(innerAlgorithm.body));
  const signatureAlgorithm = signatureAlgorithmOf(signatureAlgorithmId);

  const issuerElement = tbs.read(Tag.SEQUENCE) ?? fail('x509: malformed issuer');
  const issuer = parseName(issuerElement.full);
  const validity = tbs.readNested(Tag.SEQUENCE) ?? fail('x509: malformed validity');
  const notBefore = readTime(validity);
  const notAfter = readTime(validity);
  const subjectElement = tbs.read(Tag.SEQUENCE) ?? fail('x509: malformed issuer');
  const subject = parseName(subjectElement.full);

  const spkiElement = tbs.read(Tag.SEQUENCE) ?? fail('x509: malformed spki');
  const spki = new DerReader(spkiElement.body);
  const keyAlgorithmReader = spki.readNested(Tag.SEQUENCE) ?? fail('x509: malformed public key algorithm identifier');
  const keyAlgorithm = parseAlgorithmIdentifier(keyAlgorithmReader);
  const keyBits = spki.readBitString() ?? fail('x509: malformed subjectPublicKey');
  const publicKeyAlgorithm = PUBLIC_KEY_ALGORITHMS[keyAlgorithm.oid];
  const publicKey = parsePublicKey(keyAlgorithm, keyBits.bytes, spkiElement.full);

  const cert: GoCertificate = {
    raw: certificate.full,
    rawTbs: tbsElement.full,
    rawSubject: subjectElement.full,
    rawIssuer: issuerElement.full,
    rawSpki: spkiElement.full,
    version: Number(version) + 1,
    serialNumber,
    signatureAlgorithmOid: signatureAlgorithmId.oid,
    signatureAlgorithm,
    signature: Buffer.alloc(0),
    publicKeyAlgorithm,
    publicKey,
    subject,
    issuer,
    notBefore,
    notAfter,
    extensionOids: [],
    keyUsage: 0,
    hasKeyUsage: false,
    basicConstraintsValid: false,
    isCA: false,
    maxPathLen: -1,
    hasSan: false,
    sanExtension: undefined,
    dnsNames: [],
    emailAddresses: [],
    ipAddresses: [],
    uris: [],
    nameConstraints: undefined,
    extKeyUsageOids: [],
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    unhandledCriticalExtensions: [],
  };

  if (cert.version > 1) {
    if (tbs.readOptional(contextTag(1)) === undefined) fail('x509: malformed issuerUniqueID');
    if (tbs.readOptional(contextTag(2)) === undefined) fail('x509: malformed subjectUniqueID');
    if (cert.version === 3) {
      const wrapper = tbs.readOptional(contextTag(3, true));
      if (wrapper === undefined) fail('x509: malformed extensions');
      if (wrapper) {
        const list = new DerReader(wrapper.body).readNested(Tag.SEQUENCE) ?? fail('x509: malformed extensions');
        const extensions: RawExtension[] = [];
        while (!list.empty) {
          const extension = parseExtension(list.read(Tag.SEQUENCE) ?? fail('x509: malformed extension'));
          if (cert.extensionOids.includes(extension.oid))
            fail(`x509: certificate contains duplicate extension with OID ${goQuote(extension.oid)}`);
          cert.extensionOids.push(extension.oid);
          extensions.push(extension);
        }
        processExtensions(cert, extensions);
      }
    }
  }

  cert.signature = (body.readBitString() ?? fail('x509: malformed signature')).bytes;
  if (input.rest().length) fail('x509: trailing data');
  return cert;
}

/**
 * A loaded certificate as kpki passes it around: its DER and validity. @peculiar/x509's
 * X509Certificate is one (what issuing and inspect use); kpki makes a lighter one
 * that loads no ASN.1 object model (`certificateFromDer`), for verify, whose cost is mostly start-up.
 */
export interface CertificateData {
  readonly rawData: ArrayBuffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const parsed = new WeakMap<CertificateData, GoCertificate>();

/** Go's view of a loaded certificate, parsed once; throws X509ParseError when Go would refuse it. */
export function goCertificate(cert: CertificateData): GoCertificate {
  let go = parsed.get(cert);
  if (!go) {
    go = parseGoCertificate(Buffer.from(cert.rawData));
    parsed.set(cert, go);
  }
  return go;
}

/**
 * Go's parses of one load's certificates, by their DER: a CA's bytes recur (its file, every
 * kubeconfig, every node of a cluster) and are parsed once. Each caller still gets a certificate
 * object of its own: rules tell two files' copies apart by identity.
 */
export type CertificateParses = Map<string, GoCertificate>;

/** Go's parse of `der`, made once for all of `parses`' load. */
function parsedOnce(der: Buffer, parses: CertificateParses): GoCertificate {
  const key = der.toString('latin1');
  let go = parses.get(key);
  if (!go) parses.set(key, (go = parseGoCertificate(der)));
  return go;
}

/**
 * Parses one DER certificate with Go's checks and messages (X509ParseError) and keeps that parse
 * for `goCertificate`; `make` builds the object callers hold, once Go accepted the bytes.
 */
export function parseDerCertificate<C extends CertificateData>(
  der: Buffer,
  make: (der: Buffer, go: GoCertificate) => C,
  parses?: CertificateParses,
): C {
  const go = parses ? parsedOnce(der, parses) : parseGoCertificate(der);
  const cert = make(der, go);
  parsed.set(cert, go);
  return cert;
}

/** A certificate from DER as Go parses it, with nothing but Go's view behind it. */
export function certificateFromDer(der: Buffer, parses?: CertificateParses): CertificateData {
  return parseDerCertificate(
    der,
    (bytes, go) => ({
      rawData: new Uint8Array(bytes).buffer,
      notBefore: go.notBefore,
      notAfter: go.notAfter,
    }),
    parses,
  );
}

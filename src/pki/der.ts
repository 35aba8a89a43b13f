/**
 * A strict DER reader with the acceptance rules of Go's cryptobyte, which crypto/x509 parses
 * certificates with: minimal lengths, minimal integers, DER booleans and bit strings. Every read
 * returns undefined instead of throwing, so the certificate parser can attach Go's message.
 */

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8String: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PrintableString: 0x13,
  T61String: 0x14,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  NumericString: 0x12,
  BMPString: 0x1e,
} as const;

/** Context-specific tag [n], primitive or constructed. */
export const contextTag = (n: number, constructed = false) => 0x80 | (constructed ? 0x20 : 0) | n;

export interface Element {
  tag: number;
  /** Contents octets. */
  body: Buffer;
  /** Header and contents. */
  full: Buffer;
}

export class DerReader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  get empty(): boolean {
    return this.offset >= this.data.length;
  }

  /** What is left, unread. */
  rest(): Buffer {
    return this.data.subarray(this.offset);
  }

  peekTag(): number | undefined {
    return this.empty ? undefined : this.data[this.offset];
  }

  /** The next element whatever its tag; undefined if its header or length is not DER. */
  readAny(): Element | undefined {
    const d = this.data;
    let i = this.offset;
    if (d.length - i < 2) return undefined;
    const tag = d[i++]!;
    // High tag numbers (form 0x1f) are not used by any structure Go reads; it rejects them too.
    if ((tag & 0x1f) === 0x1f) return undefined;
    let length = d[i++]!;
    if (length & 0x80) {
      const lengthBytes = length & 0x7f;
      // Indefinite lengths (0x80) and lengths over 4 bytes are not DER as cryptobyte reads it.
      if (lengthBytes === 0 || lengthBytes > 4 || d.length - i < lengthBytes) return undefined;
      if (d[i] === 0) return undefined;
      length = 0;
      for (let k = 0; k < lengthBytes; k++) length = length * 256 + d[i++]!;
      if (length < 0x80) return undefined;
    }
    if (d.length - i < length) return undefined;
    const element = { tag, body: d.subarray(i, i + length), full: d.subarray(this.offset, i + length) };
    this.offset = i + length;
    return element;
  }

  /** The next element if it has `tag` (nothing is consumed otherwise). */
  read(tag: number): Element | undefined {
    if (this.peekTag() !== tag) return undefined;
    return this.readAny();
  }

  /** Contents of the next element with `tag`, as a reader. */
  readNested(tag: number): DerReader | undefined {
    const element = this.read(tag);
    return element && new DerReader(element.body);
  }

  /** An optional element: `null` when absent, undefined when present but malformed. */
  readOptional(tag: number): Element | null | undefined {
    return this.peekTag() === tag ? this.readAny() : null;
  }

  readInteger(tag: number = Tag.INTEGER): bigint | undefined {
    const element = this.read(tag);
    return element && integerValue(element.body);
  }

  readBoolean(): boolean | undefined {
    const element = this.read(Tag.BOOLEAN);
    if (!element || element.body.length !== 1) return undefined;
    const value = element.body[0];
    return value === 0xff ? true : value === 0 ? false : undefined;
  }

  readBitString(): { bytes: Buffer; bitLength: number } | undefined {
    const element = this.read(Tag.BIT_STRING);
    if (!element) return undefined;
    return bitStringValue(element.body);
  }

  readOid(): string | undefined {
    const element = this.read(Tag.OID);
    return element && oidValue(element.body);
  }
}

/** Two's-complement value of a minimal DER INTEGER body. */
export function integerValue(body: Buffer): bigint | undefined {
  if (body.length === 0) return undefined;
  if (body.length > 1 && ((body[0] === 0 && !(body[1]! & 0x80)) || (body[0] === 0xff && body[1]! & 0x80))) return undefined;
  let value = BigInt(`0x${body.toString('hex')}`);
  if (body[0]! & 0x80) value -= 1n << BigInt(body.length * 8);
  return value;
}

export function bitStringValue(body: Buffer): { bytes: Buffer; bitLength: number } | undefined {
  if (body.length === 0) return undefined;
  const padding = body[0]!;
  if (padding > 7 || (body.length === 1 && padding > 0)) return undefined;
  const bytes = body.subarray(1);
  if (bytes.length && bytes[bytes.length - 1]! & ((1 << padding) - 1)) return undefined;
  return { bytes, bitLength: bytes.length * 8 - padding };
}

/**
 * Dotted form of an OID body; undefined when a component is not minimal base-128, or (as
 * cryptobyte's reader, unless `anySize`) does not fit in 31 bits.
 */
export function oidValue(body: Buffer, anySize = false): string | undefined {
  if (body.length === 0) return undefined;
  const components: (number | bigint)[] = [];
  // Numbers: an arc within Go's 31 bits is exact in one, and BigInt arithmetic is slow in a cold
  // process (a read command decodes a few hundred OIDs). A longer arc (anySize) goes on as a BigInt.
  let value: number | bigint = 0;
  let started = false;
  for (const byte of body) {
    if (!started && byte === 0x80) return undefined;
    started = true;
    const low = byte & 0x7f;
    value = typeof value === 'bigint' || value >= 2 ** 45 ? (BigInt(value) << 7n) | BigInt(low) : value * 128 + low;
    if (!anySize && value >= 2 ** 31) return undefined;
    if (!(byte & 0x80)) {
      components.push(value);
      value = 0;
      started = false;
    }
  }
  if (started) return undefined;
  const first = components[0]!;
  const head =
    first < 80 ? [Math.floor(Number(first) / 40), Number(first) % 40] : [2, typeof first === 'bigint' ? first - 80n : first - 80];
  return [...head, ...components.slice(1)].join('.');
}

/** A positive integer as a JWK carries it (RFC 7518 §6.3): big-endian bytes, unpadded, base64url. */
export function jwkNumber(value: bigint): string {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
}

/**
 * IP addresses as Go's net package reads and prints them, for certificate SANs and name
 * constraints: 4- or 16-byte values, printed IPv4-style when they are IPv4 (mapped or not).
 */

const V4_MAPPED_PREFIX = Buffer.from('00000000000000000000ffff', 'hex');

/** Whether a 16-byte value is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export const isV4Mapped = (ip: Buffer) => ip.length === 16 && ip.subarray(0, 12).equals(V4_MAPPED_PREFIX);

/** The 4 bytes of an IPv4 address given as 4 bytes or IPv4-mapped; undefined otherwise. */
const ipv4Bytes = (ip: Buffer): Buffer | undefined => (ip.length === 4 ? ip : isV4Mapped(ip) ? ip.subarray(12) : undefined);

/** Dotted-decimal IPv4 as net.isIPv4 and Go's net.ParseIP read it: four octets, no leading zeros. */
const IPV4_TEXT = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * 4, 6 or 0, as net.isIP answers, but without a zone (`%eth0`), as Go's net.ParseIP. IPv6 text
 * goes to the WHATWG URL parser, whose IPv6 grammar is inet_pton's: node:net costs a short
 * command ~3 ms to load, and its IPv6 regular expression ~6 ms on first use.
 */
export function ipTextFamily(text: string): 0 | 4 | 6 {
  if (IPV4_TEXT.test(text)) return 4;
  // Anything but hex digits, colons and dots could end the URL's host early or be stripped from it.
  return text.includes(':') && /^[\dA-Fa-f:.]+$/.test(text) && URL.canParse(`http://[${text}]/`) ? 6 : 0;
}

/** net.ParseIP: dotted IPv4 (no leading zeros) or IPv6 text; undefined when neither. */
export function parseIp(text: string): Buffer | undefined {
  const family = ipTextFamily(text);
  if (family === 0) return undefined;
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  let head = text;
  let v4Tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    v4Tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const leftGroups = groups(left);
  const rightGroups = groups(right);
  const all =
    right === undefined ? leftGroups : [...leftGroups, ...Array(8 - leftGroups.length - rightGroups.length).fill(0), ...rightGroups];
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  if (v4Tail.length) Buffer.from(v4Tail).copy(bytes, 12);
  return bytes;
}

/** net.IP.String(): dotted IPv4 for IPv4 and IPv4-mapped, RFC 5952 for IPv6, `?` + hex otherwise. */
export function formatIp(ip: Buffer): string {
  const v4 = ipv4Bytes(ip);
  if (v4) return [...v4].join('.');
  if (ip.length !== 16) return `?${ip.toString('hex')}`;
  const groups = Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(i * 2));
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  return bestStart < 0 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** net.IP.Equal: IPv4 and its IPv4-mapped form are the same address. */
export function sameIp(a: Buffer, b: Buffer): boolean {
  const a4 = ipv4Bytes(a);
  const b4 = ipv4Bytes(b);
  if (a4 || b4) return !!a4 && !!b4 && a4.equals(b4);
  return a.equals(b);
}

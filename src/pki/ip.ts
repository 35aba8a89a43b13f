import { isIPv4, SocketAddress } from 'node:net';

/**
 * IP addresses as Go's net package reads and prints them, for certificate SANs and name
 * constraints: 4- or 16-byte values, printed IPv4-style when they are IPv4 (mapped or not).
 */

const V4_MAPPED_PREFIX = Buffer.from('00000000000000000000ffff', 'hex');

/** Whether a 16-byte value is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export const isV4Mapped = (ip: Buffer) => ip.length === 16 && ip.subarray(0, 12).equals(V4_MAPPED_PREFIX);

/** The 4 bytes of an IPv4 address given as 4 bytes or IPv4-mapped; undefined otherwise. */
const ipv4Bytes = (ip: Buffer): Buffer | undefined => (ip.length === 4 ? ip : isV4Mapped(ip) ? ip.subarray(12) : undefined);

/**
 * IPv6 text as inet_pton reads it (no zone). node:net's isIPv6 answers the same with a regular
 * expression whose first use costs ~6 ms, more than the rest of reading a certificate's SANs.
 */
function isIPv6Text(text: string): boolean {
  if (!text.includes(':') || text.includes('%')) return false;
  try {
    new SocketAddress({ address: text, family: 'ipv6' });
    return true;
  } catch {
    return false;
  }
}

/** net.ParseIP: dotted IPv4 (no leading zeros) or IPv6 text; undefined when neither. */
export function parseIp(text: string): Buffer | undefined {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  if (!isIPv6Text(text)) return undefined;
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

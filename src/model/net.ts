import { ipTextFamily } from '../pki/ip.js';

/** An IP address in canonical text form (RFC 5952 for IPv6), or undefined when `text` is not one. */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = ipTextFamily(bare);
  if (family === 4)
    return bare
      .split('.')
      .map((o) => String(Number(o)))
      .join('.');
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

export function isIpAddress(text: string): boolean {
  return canonicalIp(text) !== undefined;
}

/** RFC 1123 subdomain, optionally with a leading `*.` wildcard label: what kubeadm accepts as a DNS SAN. */
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

export function isDnsName(text: string): boolean {
  return text.length <= 253 && DNS_NAME.test(text);
}

function ipv4Value(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

/** Eight 16-bit groups of an IPv6 address, with `::` and an embedded IPv4 tail expanded. */
function ipv6Groups(ip: string): string[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const v = ipv4Value(v4[1]!);
    text = `${text.slice(0, -v4[1]!.length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t];
}

function ipToBigInt(ip: string): { value: bigint; bits: number } {
  if (ipTextFamily(ip) === 4) return { value: ipv4Value(ip), bits: 32 };
  return { value: ipv6Groups(ip).reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), bits: 128 };
}

function bigIntToIp(value: bigint, bits: number): string {
  if (bits === 32) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return canonicalIp(groups.join(':'))!;
}

export interface Cidr {
  /** Canonical `address/prefix` with host bits cleared. */
  text: string;
  network: string;
  prefix: number;
  family: 4 | 6;
}

/** Parses `10.96.0.0/12` or `fd00::/108`; returns undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const ip = canonicalIp(match[1]!);
  if (!ip) return undefined;
  const { value, bits } = ipToBigInt(ip);
  const prefix = Number(match[2]);
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const network = bigIntToIp((value >> hostBits) << hostBits, bits);
  return { text: `${network}/${prefix}`, network, prefix, family: bits === 32 ? 4 : 6 };
}

/** Whether `ip` lies in `cidr` (same family only, as Go's net.IPNet.Contains for NO_PROXY). */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const canonical = canonicalIp(ip);
  if (!canonical) return false;
  const { value, bits } = ipToBigInt(canonical);
  if (bits !== (cidr.family === 4 ? 32 : 128)) return false;
  const hostBits = BigInt(bits - cidr.prefix);
  return value >> hostBits === ipToBigInt(cidr.network).value >> hostBits;
}

/** The address `index` places above the network address: kube-apiserver's service VIP is index 1. */
export function indexedIp(cidr: Cidr, index: number): string {
  const bits = cidr.family === 4 ? 32 : 128;
  const { value } = ipToBigInt(cidr.network);
  const size = 1n << BigInt(bits - cidr.prefix);
  if (BigInt(index) >= size) throw new RangeError(`${cidr.text} has no address at index ${index}`);
  return bigIntToIp(value + BigInt(index), bits);
}

export interface HostPort {
  host: string;
  port: number | undefined;
}

/** Splits `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address has no port. */
export function parseHostPort(text: string): HostPort | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  if (bracketed) {
    const host = canonicalIp(bracketed[1]!);
    if (!host || ipTextFamily(host) !== 6) return undefined;
    return withPort(host, bracketed[2]);
  }
  if (ipTextFamily(trimmed) === 6) return { host: canonicalIp(trimmed)!, port: undefined };
  const [host, port, ...rest] = trimmed.split(':');
  if (rest.length || !host) return undefined;
  const ip = canonicalIp(host);
  if (!ip && !isDnsName(host.toLowerCase())) return undefined;
  return withPort(ip ?? host.toLowerCase(), port);
}

function withPort(host: string, port: string | undefined): HostPort | undefined {
  if (port === undefined) return { host, port: undefined };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) return undefined;
  return { host, port: n };
}

/** A host as it stands before `:port` in a URL or host[:port]: IPv6 addresses bracketed. */
export function bracketedHost(host: string): string {
  return ipTextFamily(host) === 6 ? `[${host}]` : host;
}

/** `https://host:port` with IPv6 hosts bracketed, as kubeadm writes kubeconfig servers. */
export function httpsUrl(host: string, port: number): string {
  return `https://${bracketedHost(host)}:${port}`;
}

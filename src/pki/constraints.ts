import { formatIp, parseIp } from './ip.js';
import { domainNameValid, goQuote, parseMailbox, type GoCertificate, type IpRange, type Subtrees } from './parse.js';

/**
 * Name constraints as current Go applies them once a chain is built (checkChainConstraints):
 * every SAN of every certificate must be permitted, and not excluded, by each constraining CA
 * above it. Returns Go's detail text for the first violation, undefined when none.
 */

/** dnsHasSuffix: `constraint` is a case-insensitive label suffix of `name` (a leading "." needs one more label). */
function dnsHasSuffix(constraint: string, name: string): boolean {
  if (constraint.length > name.length) return false;
  if (name.slice(name.length - constraint.length).toLowerCase() !== constraint.toLowerCase()) return false;
  return constraint.startsWith('.') || name.length === constraint.length || name[name.length - constraint.length - 1] === '.';
}

const trimFirstLabel = (name: string) => (name.includes('.') ? name.slice(name.indexOf('.')) : '');

/** The DNS (and URI host) rule: suffix match; an excluded subtree also covers wildcards one label under it. */
function dnsMatch(constraints: string[], name: string, excluded: boolean): string | undefined {
  if (constraints.includes('')) return '';
  const found = constraints.find((c) => dnsHasSuffix(c, name));
  if (found !== undefined || !excluded || !name.startsWith('*')) return found;
  const parent = trimFirstLabel(name.toLowerCase());
  return constraints.map((c) => c.toLowerCase()).find((c) => trimFirstLabel(c) !== '' && trimFirstLabel(c) === parent);
}

/** The email host rule: exact host, or any subdomain for a leading ".". */
const hostMatch = (constraint: string, host: string) =>
  constraint === '' || ((constraint.startsWith('.') || constraint.length === host.length) && dnsHasSuffix(constraint, host));

function emailMatch(constraints: string[], mailbox: { local: string; domain: string }): string | undefined {
  for (const c of constraints.filter((c) => c.includes('@'))) {
    const exact = parseMailbox(c);
    if (exact && exact.local === mailbox.local && exact.domain.toLowerCase() === mailbox.domain)
      return `${exact.local}@${exact.domain.toLowerCase()}`;
  }
  return constraints.filter((c) => !c.includes('@')).find((c) => hostMatch(c, mailbox.domain));
}

function ipMatch(ranges: IpRange[], ip: Buffer): IpRange | undefined {
  return ranges.find((r) => r.ip.length === ip.length && r.ip.every((b, i) => (b & r.mask[i]!) === (ip[i]! & r.mask[i]!)));
}

/** net.IPNet.String of a subtree: the masked network and its prefix length. */
const ipRangeText = (r: IpRange) =>
  `${formatIp(Buffer.from(r.ip.map((b, i) => b & r.mask[i]!)))}/${[...r.mask].reduce((bits, b) => bits + b.toString(2).replace(/0/g, '').length, 0)}`;

interface Form<T> {
  type: string;
  has: (s: Subtrees) => boolean;
  match: (s: Subtrees, name: T, excluded: boolean) => string | undefined;
}

/** checkConstraints: permitted first, then excluded; Go prints the name with %q. */
function check<T>(form: Form<T>, constraints: { permitted: Subtrees; excluded: Subtrees }, name: T, shown: string): string | undefined {
  if (form.has(constraints.permitted) && form.match(constraints.permitted, name, false) === undefined) {
    return `${form.type} ${goQuote(shown)} is not permitted by any constraint`;
  }
  const excludedBy = form.has(constraints.excluded) ? form.match(constraints.excluded, name, true) : undefined;
  return excludedBy === undefined ? undefined : `${form.type} ${goQuote(shown)} is excluded by constraint ${goQuote(excludedBy)}`;
}

const IP_FORM: Form<Buffer> = {
  type: 'IP address',
  has: (s) => s.ips.length > 0,
  match: (s, ip) => {
    const r = ipMatch(s.ips, ip);
    return r && ipRangeText(r);
  },
};
const DNS_FORM: Form<string> = {
  type: 'DNS name',
  has: (s) => s.dns.length > 0,
  match: (s, name, excluded) => dnsMatch(s.dns, name, excluded),
};
const URI_FORM: Form<string> = {
  type: 'URI',
  has: (s) => s.uriDomains.length > 0,
  match: (s, host, excluded) => dnsMatch(s.uriDomains, host, excluded),
};
const EMAIL_FORM: Form<{ local: string; domain: string }> = {
  type: 'email address',
  has: (s) => s.emails.length > 0,
  match: (s, m) => emailMatch(s.emails, m),
};

/** The host a URI SAN is matched by: lower-case, port removed; IP hosts and empty hosts cannot be matched. */
function uriDomain(uri: { text: string; host: string }): string {
  let host = uri.host.toLowerCase();
  if (!host) throw new Error(`URI with empty host (${goQuote(uri.text)}) cannot be matched against constraints`);
  if (host.includes(':') && !host.endsWith(']')) host = host.slice(0, host.lastIndexOf(':'));
  if ((host.startsWith('[') && host.endsWith(']')) || parseIp(host))
    throw new Error(`URI with IP (${goQuote(uri.text)}) cannot be matched against constraints`);
  return host;
}

function checkNames(cert: GoCertificate, constraining: GoCertificate[]): string | undefined {
  let uriDomains: string[];
  try {
    uriDomains = cert.uris.map(uriDomain);
  } catch (error) {
    return (error as Error).message;
  }
  const mailboxes = [];
  for (const email of cert.emailAddresses) {
    const mailbox = parseMailbox(email);
    if (!mailbox) return `cannot parse rfc822Name ${goQuote(email)}`;
    mailboxes.push({ local: mailbox.local, domain: mailbox.domain.toLowerCase(), text: email });
  }
  for (const ca of constraining) {
    const nc = ca.nameConstraints!;
    for (const ip of cert.ipAddresses) {
      const violation = check(IP_FORM, nc, ip, formatIp(ip));
      if (violation) return violation;
    }
    for (const name of cert.dnsNames) {
      if (!domainNameValid(name, false)) return `x509: cannot parse dnsName ${goQuote(name)}`;
      const violation = check(DNS_FORM, nc, name, name);
      if (violation) return violation;
    }
    for (const [i, domain] of uriDomains.entries()) {
      if (!domainNameValid(domain, false)) return `x509: internal error: URI SAN ${goQuote(cert.uris[i]!.text)} failed to parse`;
      const violation = check(URI_FORM, nc, domain, cert.uris[i]!.text);
      if (violation) return violation;
    }
    for (const mailbox of mailboxes) {
      const violation = check(EMAIL_FORM, nc, mailbox, mailbox.text);
      if (violation) return violation;
    }
  }
  return undefined;
}

/** The first name-constraint violation in a chain (leaf first), as Go's detail text. */
export function chainConstraintViolation(chain: GoCertificate[]): string | undefined {
  for (const [i, cert] of chain.entries()) {
    if (!cert.hasSan) continue;
    const constraining = chain.slice(i + 1).filter((c) => c.nameConstraints);
    if (!constraining.length) return undefined;
    const violation = checkNames(cert, constraining);
    if (violation) return violation;
  }
  return undefined;
}

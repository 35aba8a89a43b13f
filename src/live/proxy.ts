import { isIP } from 'node:net';
import { cidrContains, parseCidr } from '../model/net.js';
import { parseIp, sameIp } from '../pki/ip.js';
import type { ProxyTarget } from './probe.js';

/**
 * The proxy kubectl uses for a server, as client-go decides: the cluster's `proxy-url` when set,
 * else Go's http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY; loopback and localhost never go
 * through a proxy). Pure: the environment is passed in.
 */

export type ProxyChoice =
  | { proxy: undefined }
  | { proxy: ProxyTarget; origin: string }
  /** A proxy kubectl would use that kpki cannot (SOCKS), or an unparsable one. */
  | { proxy: undefined; unsupported: string };

const env = (vars: Record<string, string | undefined>, name: string) => vars[name] || vars[name.toLowerCase()] || undefined;

/** One NO_PROXY entry against the host and port, as Go's httpproxy matches them. */
function bypasses(entry: string, host: string, port: string): boolean {
  let pattern = entry.trim().toLowerCase();
  if (!pattern) return false;
  if (pattern === '*') return true;
  if (pattern.includes('/')) {
    const cidr = parseCidr(pattern);
    return Boolean(cidr && cidrContains(cidr, host));
  }
  let entryPort = '';
  const colon = pattern.lastIndexOf(':');
  if (colon > 0 && !pattern.endsWith(']') && (pattern.indexOf(':') === colon || pattern.startsWith('['))) {
    entryPort = pattern.slice(colon + 1);
    pattern = pattern.slice(0, colon);
  }
  pattern = pattern.replace(/^\[|\]$/g, '');
  if (entryPort && entryPort !== port) return false;
  const ip = parseIp(pattern);
  if (ip) {
    const hostIp = parseIp(host);
    return Boolean(hostIp && sameIp(ip, hostIp));
  }
  // "foo.com" matches foo.com and its subdomains; ".foo.com" only subdomains; "*.foo.com" like ".foo.com".
  if (pattern.startsWith('*.')) pattern = pattern.slice(1);
  if (pattern.startsWith('.')) return host.endsWith(pattern);
  return host === pattern || host.endsWith(`.${pattern}`);
}

function proxyTarget(text: string, origin: string): ProxyChoice {
  let url: URL;
  try {
    // Go assumes http:// for a proxy given without a scheme.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return { proxy: undefined, unsupported: `${origin} "${text}" is not a URL` };
  }
  if (url.protocol !== 'http:')
    return { proxy: undefined, unsupported: `${origin} ${url.protocol.replace(/:$/, '')} proxies are not supported by kpki (${text})` };
  const user = url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined;
  return {
    proxy: {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      authorization: user ? `Basic ${Buffer.from(user).toString('base64')}` : undefined,
    },
    origin: `${origin} ${url.protocol}//${url.host}`,
  };
}

export function proxyFor(server: URL, vars: Record<string, string | undefined>, proxyUrl?: string): ProxyChoice {
  if (proxyUrl) return proxyTarget(proxyUrl, "the cluster's proxy-url");
  const host = server.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = server.port || '443';
  if (host === 'localhost') return { proxy: undefined };
  if (isIP(host)) {
    const ip = parseIp(host)!;
    const loopback = ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0));
    if (loopback) return { proxy: undefined };
  }
  const proxy = env(vars, 'HTTPS_PROXY');
  if (!proxy) return { proxy: undefined };
  if ((env(vars, 'NO_PROXY') ?? '').split(',').some((entry) => bypasses(entry, host, port))) return { proxy: undefined };
  return proxyTarget(proxy, 'HTTPS_PROXY');
}

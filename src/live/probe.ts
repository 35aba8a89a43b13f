import http from 'node:http';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import tls, { type PeerCertificate, type TLSSocket } from 'node:tls';
import { x509 } from '../pki/crypto.js';

/** One HTTPS endpoint to dial: where, as which name, with which client credentials. */
export interface ProbeTarget {
  host: string;
  port: number;
  /** Request path; the answer's status tells how the server treated the client certificate. */
  path: string;
  /** PEM client certificate chain and key to present, if any. */
  clientCertificate?: string;
  clientKey?: string;
  /** The name sent as SNI when it is not the dialed host (an APIService's `<service>.<namespace>.svc`). */
  servername?: string;
  headers?: Record<string, string>;
  /** Default GET; a POST or PUT sends `body` as JSON. */
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: string;
  /** An HTTP proxy to tunnel through (CONNECT), as Go's http.Transport does for https URLs. */
  proxy?: ProxyTarget;
  timeoutMs: number;
}

export interface ProxyTarget {
  host: string;
  port: number;
  /** `Basic …` from the proxy URL's user info. */
  authorization?: string;
}

export interface ProbeResult {
  /** The chain the server sent, leaf first; undefined when the handshake never completed. */
  served: x509.X509Certificate[] | undefined;
  /** HTTP status and body, when the server answered. */
  status?: number;
  body?: string;
  /** What stopped the exchange: a refused connection, a TLS alert, a timeout. */
  error?: string;
  timedOut?: boolean;
}

/** The chain as the peer sent it; Node links each certificate to its issuer, ending in a loop at a root. */
function servedChain(socket: TLSSocket): x509.X509Certificate[] | undefined {
  const chain: x509.X509Certificate[] = [];
  const seen = new Set<string>();
  let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new x509.X509Certificate(new Uint8Array(cert.raw)));
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return chain.length ? chain : undefined;
}

/** A CONNECT tunnel to the target through its proxy: the socket, or Go's words for why there is none. */
function tunnel(target: ProbeTarget & { proxy: ProxyTarget }): Promise<Socket | { error: string; timedOut?: boolean }> {
  const { proxy } = target;
  const authority = `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
  return new Promise((resolve) => {
    const request = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: authority,
      agent: false,
      headers: { host: authority, ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}) },
    });
    const timer = setTimeout(() => {
      request.destroy();
      resolve({ error: `proxyconnect tcp: no answer from ${proxy.host}:${proxy.port} within ${target.timeoutMs / 1000}s`, timedOut: true });
    }, target.timeoutMs);
    request.on('connect', (response, socket) => {
      clearTimeout(timer);
      if (response.statusCode === 200) return resolve(socket);
      socket.destroy();
      resolve({
        error:
          `proxyconnect tcp: ${proxy.host}:${proxy.port} answered CONNECT ${authority} with ${response.statusCode} ${response.statusMessage ?? ''}`.trimEnd(),
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      resolve({ error: `proxyconnect tcp: ${error.message}` });
    });
    request.end();
  });
}

/**
 * Dials an HTTPS endpoint without trusting it (the caller verifies the served chain with Go's
 * rules), directly or through `target.proxy`, sends one request and reports what happened. Never
 * throws; bounded by `timeoutMs` (per step when tunnelled).
 */
export async function probe(target: ProbeTarget): Promise<ProbeResult> {
  if (!target.proxy) return exchange(target, undefined);
  const socket = await tunnel(target as ProbeTarget & { proxy: ProxyTarget });
  return 'error' in socket ? { served: undefined, ...socket } : exchange(target, socket);
}

function exchange(target: ProbeTarget, tunnelled: Socket | undefined): Promise<ProbeResult> {
  const name = target.servername ?? target.host;
  // SNI as Go sends it: only for names, never for IP addresses.
  const servername = isIP(name) ? '' : name;
  return new Promise((resolve) => {
    let served: x509.X509Certificate[] | undefined;
    let settled = false;
    const finish = (result: Omit<ProbeResult, 'served'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ served, ...result });
    };
    const tlsOptions = { servername, cert: target.clientCertificate, key: target.clientKey, rejectUnauthorized: false };
    const request = https.request({
      host: target.host,
      port: target.port,
      path: target.path,
      method: target.method ?? 'GET',
      ...tlsOptions,
      // Through a proxy: TLS over the tunnel (createConnection is used only without an agent).
      ...(tunnelled ? { agent: undefined, createConnection: () => tls.connect({ ...tlsOptions, socket: tunnelled }) } : { agent: false }),
      headers: { accept: 'application/json', ...(target.body ? { 'content-type': 'application/json' } : {}), ...target.headers },
    });
    const timer = setTimeout(() => finish({ error: `no answer within ${target.timeoutMs / 1000}s`, timedOut: true }), target.timeoutMs);
    request.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        served = servedChain(socket as TLSSocket);
      });
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => finish({ status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', (error) => finish({ error: error.message }));
    });
    request.on('error', (error) => finish({ error: error.message }));
    request.end(target.body);
  });
}

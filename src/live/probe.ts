import https from 'node:https';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
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
  timeoutMs: number;
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

/**
 * Dials an HTTPS endpoint without trusting it (the caller verifies the served chain with Go's
 * rules), sends one GET and reports what happened. Never throws; bounded by `timeoutMs`.
 */
export function probe(target: ProbeTarget): Promise<ProbeResult> {
  const name = target.servername ?? target.host;
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
    const request = https.request({
      host: target.host,
      port: target.port,
      path: target.path,
      method: 'GET',
      // SNI as Go sends it: only for names, never for IP addresses.
      servername: isIP(name) ? '' : name,
      cert: target.clientCertificate,
      key: target.clientKey,
      rejectUnauthorized: false,
      agent: false,
      headers: { accept: 'application/json', ...target.headers },
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
    request.end();
  });
}

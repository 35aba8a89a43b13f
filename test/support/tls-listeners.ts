/** HTTPS listeners on loopback standing in for a component's secure port, closed after each test. */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach } from 'vitest';
import { selfSignedAt } from './self-signed.js';

const servers: https.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** An HTTPS listener on `host:port` (0: any free port) serving a certificate and key; its port. */
export async function serve(files: { cert: string; key: string }, host = '127.0.0.1', port = 0): Promise<number> {
  const server = https.createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (_, response) => response.end('ok'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

/** kube-scheduler's self-made certificate (under `dir`). */
export const selfSigned = (dir: string) => selfSignedAt(path.join(dir, 'self'), '/CN=localhost@1600000000', 'DNS:localhost,IP:127.0.0.1');

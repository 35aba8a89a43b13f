import https from 'node:https';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseKubeconfigContexts, type Source } from '../kubeconfig/kubeconfig.js';
import { readOptional } from '../store/files.js';

/** What the apiserver says it runs (`kubectl version`'s server line), and where it was asked. */
export interface ServedVersion {
  gitVersion: string;
  /** `GET https://…/version (admin.conf)`. */
  origin: string;
}

/** The bytes of a kubeconfig credential: embedded, or the file it names (relative to the kubeconfig). */
async function credential(source: Source | undefined, kubeconfig: string): Promise<Buffer | undefined> {
  if (!source) return undefined;
  return source.data ?? (source.path ? readOptional(path.resolve(path.dirname(kubeconfig), source.path)) : undefined);
}

/** GET /version over TLS verified against the context's CA and server name, as kubectl version does. */
function getVersion(url: URL, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string }, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const request = https.get(
      {
        host,
        port: url.port || 443,
        path: `${url.pathname.replace(/\/$/, '')}/version`,
        ...tls,
        servername: tls.servername ?? (isIP(host) ? undefined : host),
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          const gitVersion = response.statusCode === 200 ? (JSON.parse(body) as { gitVersion?: unknown }).gitVersion : undefined;
          if (typeof gitVersion === 'string') resolve(gitVersion);
          else reject(new Error(`HTTP ${response.statusCode}`));
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/**
 * The Kubernetes version the apiserver of the first kubeconfig that can ask it serves (its current
 * context, or `context`), read from `/version`; the reasons when none could.
 */
export async function servedVersion(
  kubeconfigs: string[],
  options: { context?: string; timeoutMs: number },
): Promise<ServedVersion | { errors: string[] }> {
  const errors: string[] = [];
  for (const file of kubeconfigs) {
    try {
      const text = (await readOptional(file))?.toString('utf8');
      if (text === undefined) continue;
      const contexts = parseKubeconfigContexts(text, file);
      const ctx = contexts.find((c) => (options.context ? c.name === options.context : c.current)) ?? contexts[0];
      const cluster = ctx?.cluster;
      if (!cluster?.server) continue;
      const url = new URL(cluster.server);
      const tls = {
        ca: await credential(cluster.certificateAuthority, file),
        cert: await credential(ctx.user?.clientCertificate, file),
        key: await credential(ctx.user?.clientKey, file),
        servername: cluster.tlsServerName,
      };
      const gitVersion = await getVersion(url, tls, options.timeoutMs);
      return { gitVersion, origin: `GET ${url.origin}/version with ${file}` };
    } catch (error) {
      errors.push(`${file}: ${(error as Error).message}`);
    }
  }
  return { errors };
}

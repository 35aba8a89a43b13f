import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { issueKubeconfig } from '../../src/commands/kubeconfig.js';
import { buildKubeconfig, parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';

/**
 * Kubeconfigs as `kpki kubeconfig user` writes them, with one seeded fault each: what a user who
 * holds only a kubeconfig meets. `certDir` is the cluster's PKI, `foreignCertDir` another cluster's.
 */

export interface SeededKubeconfigs {
  /** alice in group developers: right CA, right client certificate. */
  good: string;
  /** The certificate-authority-data of another cluster. */
  wrongCa: string;
  /** A client certificate that expired an hour after it was issued, two days ago. */
  expired: string;
  /** A client certificate from another cluster's CA. */
  foreignClient: string;
  /** alice in group "developer" (not the bound "developers"). */
  wrongGroup: string;
  /** The key of another user's certificate. */
  keyMismatch: string;
  /** Client certificate and key by relative path, the certificate deleted. */
  missingFile: string;
  /** Client certificate and key by relative path, both present (resolved against the kubeconfig's directory). */
  referenced: string;
  /** An exec credential plugin, no certificate. */
  exec: string;
  /** Two contexts: the good one (current) and the expired one. */
  twoContexts: string;
}

interface Seeding {
  certDir: string;
  foreignCertDir: string;
  dir: string;
  server: string;
}

function credentials(text: string) {
  const c = parseKubeconfig(text, 'seed');
  const pem = (b: Buffer | undefined) => b!.toString('utf8');
  return { ca: pem(c.certificateAuthority!.data), cert: pem(c.clientCertificate!.data), key: pem(c.clientKey!.data) };
}

export async function seedKubeconfigs({ certDir, foreignCertDir, dir, server }: Seeding): Promise<SeededKubeconfigs> {
  const issue = async (clientName: string, organizations: string[], options: { certDir?: string; now?: Date; validity?: string } = {}) =>
    credentials((await issueKubeconfig({ kind: 'user', clientName, organizations, server, certDir, ...options })).kubeconfig!);
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const kubeconfig = (name: string, parts: { ca: string; cert: string; key: string }, user = 'alice') =>
    write(
      name,
      buildKubeconfig({
        clusterName: 'kubernetes',
        server,
        userName: user,
        contextName: `${user}@kubernetes`,
        ca: { pem: parts.ca },
        cert: { pem: parts.cert },
        key: { pem: parts.key },
      }),
    );

  const alice = await issue('alice', ['developers']);
  const foreign = await issue('alice', ['developers'], { certDir: foreignCertDir });
  const bob = await issue('bob', ['developers']);
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
  const expired = await issue('alice', ['developers'], { now: twoDaysAgo, validity: '1h' });

  const referenced = (name: string) => {
    const sub = path.join(dir, name);
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, 'alice.crt'), alice.cert);
    writeFileSync(path.join(sub, 'alice.key'), alice.key, { mode: 0o600 });
    const file = path.join(sub, 'config');
    writeFileSync(
      file,
      buildKubeconfig({
        clusterName: 'kubernetes',
        server,
        userName: 'alice',
        contextName: 'alice@kubernetes',
        ca: { pem: alice.ca },
        cert: { path: 'alice.crt' },
        key: { path: 'alice.key' },
      }),
      { mode: 0o600 },
    );
    return file;
  };
  const missingFile = referenced('missing');
  rmSync(path.join(dir, 'missing/alice.crt'));

  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  /** A kubeconfig of one cluster (the good CA) and the given users, each in a context `<user>@kubernetes`. */
  const withUsers = (name: string, users: { name: string; user: object; namespace?: string }[]) =>
    write(
      name,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'kubernetes', cluster: { server, 'certificate-authority-data': b64(alice.ca) } }],
        users: users.map(({ name: user, user: body }) => ({ name: user, user: body })),
        contexts: users.map((u) => ({
          name: `${u.name}@kubernetes`,
          context: { cluster: 'kubernetes', user: u.name, ...(u.namespace ? { namespace: u.namespace } : {}) },
        })),
        'current-context': `${users[0]!.name}@kubernetes`,
      }),
    );
  const certUser = (parts: { cert: string; key: string }) => ({
    'client-certificate-data': b64(parts.cert),
    'client-key-data': b64(parts.key),
  });
  const twoContexts = withUsers('two-contexts.conf', [
    { name: 'alice', user: certUser(alice) },
    { name: 'old-alice', user: certUser(expired), namespace: 'kube-system' },
  ]);
  const exec = withUsers('exec.conf', [
    { name: 'sso', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kubelogin', args: ['get-token'] } } },
  ]);
  return {
    good: kubeconfig('good.conf', alice),
    wrongCa: kubeconfig('wrong-ca.conf', { ...alice, ca: foreign.ca }),
    expired: kubeconfig('expired.conf', expired),
    foreignClient: kubeconfig('foreign-client.conf', { ...foreign, ca: alice.ca }),
    wrongGroup: kubeconfig('wrong-group.conf', await issue('alice', ['developer'])),
    keyMismatch: kubeconfig('key-mismatch.conf', { ...alice, key: bob.key }),
    missingFile,
    referenced: referenced('referenced'),
    exec,
    twoContexts,
  };
}

/**
 * kubectl (client-go, Go >= 1.20 TLS) with kpki's kubeconfigs against a loopback TLS server that
 * serves apiserver.crt and requires a client certificate signed by ca.crt, as kube-apiserver
 * with --client-ca-file does (it answers 401 where this server fails the handshake).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HealthzServer,
  type KubeconfigDoc,
  type KubeconfigName,
  type Pki,
  type RunResult,
  Resources,
  b64,
  describeRun,
  hostOf,
  kpkiSource,
  kubeconfigPlan,
  kubectlRun,
  opensslSubject,
  readKubeconfig,
  requireTool,
  startHealthzServer,
  usePki,
  writeKubeconfig,
} from './helpers.js';

const kubectl = requireTool('kubectl');
requireTool('openssl');
const res = new Resources();
afterAll(() => res.dispose());

const source = kpkiSource('rsa-2048');
const CLUSTER = 'kubernetes';

function expectOk(r: RunResult): void {
  expect(r.code, describeRun(r)).toBe(0);
  expect(r.stdout).toBe('ok\n');
}

function expectFailure(r: RunResult, message: string | RegExp): void {
  expect(r.code, describeRun(r)).toBe(1);
  expect(r.stdout).toBe('');
  if (typeof message === 'string') expect(r.stderr.trim()).toBe(message);
  else expect(r.stderr.trim()).toMatch(message);
}

/**
 * A TLS 1.3 server rejects a client certificate after the client's handshake has finished, so
 * Go reports the alert from whichever read sees it first: with or without its read-loop prefix.
 */
const serverAlert = (alert: string) =>
  new RegExp(`^Unable to connect to the server: (readLoopPeekFailLocked: )?remote error: tls: ${alert}$`);

describe(`kubectl ${source.label}`, () => {
  const pki = usePki(res, source);
  let server!: HealthzServer;
  let scratch!: string;

  beforeAll(async () => {
    const p = pki();
    server = await startHealthzServer(res, p, 'kube-apiserver', p.leaf('apiserver'), 'ca');
    scratch = await res.tempDir('kubeconfigs');
  }, 30_000);

  /**
   * A copy of a kubeconfig pointed at the test server, keeping the original server host as the
   * TLS server name, so the apiserver cert is verified for exactly the name kpki wrote. `edit`
   * may replace credentials or the CA to build negative cases.
   */
  async function retargeted(name: KubeconfigName, label: string, edit?: (doc: KubeconfigDoc) => Promise<void>): Promise<string> {
    const doc = await readKubeconfig(pki().kubeconfig(name).path);
    const cluster = doc.clusters[0]!.cluster;
    cluster['tls-server-name'] = new URL(cluster.server).hostname.replace(/^\[|\]$/g, '');
    cluster.server = `https://127.0.0.1:${server.port}`;
    await edit?.(doc);
    const file = path.join(scratch, `${label}-${name}`);
    await writeKubeconfig(file, doc);
    return file;
  }

  async function useCredentials(doc: KubeconfigDoc, cert: string, key: string): Promise<void> {
    const user = doc.users[0]!.user;
    user['client-certificate-data'] = b64(await readFile(cert));
    user['client-key-data'] = b64(await readFile(key));
  }

  const kubeconfigs = kubeconfigPlan(source);

  describe.each(kubeconfigs)('%s', (name) => {
    it('kubectl config view --raw reads it: one cluster, user and context, named as kubeadm names them', async () => {
      const k = pki().kubeconfig(name);
      const r = await kubectlRun(kubectl, ['config', 'view', '--raw', '--kubeconfig', k.path, '-o', 'json']);
      expect(r.code, describeRun(r)).toBe(0);
      const doc = JSON.parse(r.stdout) as KubeconfigDoc;
      const context = `${k.user}@${CLUSTER}`;
      expect(doc['current-context']).toBe(context);
      expect(doc.contexts).toEqual([{ name: context, context: { cluster: CLUSTER, user: k.user } }]);
      expect(doc.clusters.map((c) => c.name)).toEqual([CLUSTER]);
      expect(doc.users.map((u) => u.name)).toEqual([k.user]);
      const cluster = doc.clusters[0]!.cluster;
      expect(Buffer.from(cluster['certificate-authority-data'] ?? '', 'base64').toString()).toBe(
        await readFile(pki().caCert('ca'), 'utf8'),
      );
      const url = new URL(cluster.server);
      expect(url.protocol).toBe('https:');
      expect(url.port).toBe('6443');
      expect(k.serverHosts).toContain(hostOf(url.host));
    });

    it('kubectl config current-context names <user>@kubernetes', async () => {
      const k = pki().kubeconfig(name);
      const r = await kubectlRun(kubectl, ['--kubeconfig', k.path, 'config', 'current-context']);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.stdout).toBe(`${k.user}@${CLUSTER}\n`);
    });

    it('the embedded client cert has the expected subject and is issued by ca.crt (openssl)', async () => {
      const leaf = pki().kubeconfig(name).credentials;
      expect(await opensslSubject(leaf.cert)).toEqual({ cn: [leaf.cn], o: [...leaf.o].sort(), other: [] });
      expect(await opensslSubject(leaf.cert, 'issuer')).toEqual(await opensslSubject(pki().caCert('ca')));
    });

    it('kubectl get --raw /healthz succeeds through TLS with client-cert auth, for the server name in the kubeconfig', async () => {
      expectOk(await kubectlRun(kubectl, ['--kubeconfig', await retargeted(name, 'ok'), 'get', '--raw', '/healthz']));
    });
  });

  it('subjects follow current kubeadm: admin.conf in kubeadm:cluster-admins, super-admin.conf in system:masters', async () => {
    expect(await opensslSubject(pki().kubeconfig('admin.conf').credentials.cert)).toEqual({
      cn: ['kubernetes-admin'],
      o: ['kubeadm:cluster-admins'],
      other: [],
    });
    expect(await opensslSubject(pki().kubeconfig('super-admin.conf').credentials.cert)).toEqual({
      cn: ['kubernetes-super-admin'],
      o: ['system:masters'],
      other: [],
    });
  });

  it('admin.conf works unmodified with --server https://127.0.0.1:PORT (advertise address SAN)', async () => {
    const admin = pki().kubeconfig('admin.conf').path;
    expectOk(
      await kubectlRun(kubectl, ['--kubeconfig', admin, '--server', `https://127.0.0.1:${server.port}`, 'get', '--raw', '/healthz']),
    );
  });

  it.each(['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', '10.96.0.1', 'cp1'])(
    'apiserver.crt is accepted for --tls-server-name %s (in-cluster names)',
    async (serverName) => {
      const admin = pki().kubeconfig('admin.conf').path;
      expectOk(
        await kubectlRun(kubectl, [
          '--kubeconfig',
          admin,
          '--server',
          `https://127.0.0.1:${server.port}`,
          '--tls-server-name',
          serverName,
          'get',
          '--raw',
          '/healthz',
        ]),
      );
    },
  );

  it('kubectl refuses apiserver.crt for a name it does not carry', async () => {
    const p: Pki = pki();
    const admin = p.kubeconfig('admin.conf').path;
    const r = await kubectlRun(kubectl, [
      '--kubeconfig',
      admin,
      '--server',
      `https://127.0.0.1:${server.port}`,
      '--tls-server-name',
      'not-in-cert.kpki.test',
      'get',
      '--raw',
      '/healthz',
    ]);
    expectFailure(
      r,
      `Unable to connect to the server: tls: failed to verify certificate: x509: certificate is valid for ${p.leaf('apiserver').dnsSans.join(', ')}, not not-in-cert.kpki.test`,
    );
  });

  it('kubectl refuses the server when the kubeconfig trusts another CA (front-proxy-ca)', async () => {
    const file = await retargeted('admin.conf', 'wrong-ca', async (doc) => {
      doc.clusters[0]!.cluster['certificate-authority-data'] = b64(await readFile(pki().caCert('front-proxy-ca')));
    });
    expectFailure(
      await kubectlRun(kubectl, ['--kubeconfig', file, 'get', '--raw', '/healthz']),
      'Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority',
    );
  });

  it.each(['front-proxy-client', 'apiserver-etcd-client'])(
    'a kubeconfig with the %s cert (not from ca.crt) is refused by the server',
    async (id) => {
      const leaf = pki().leaf(id);
      const file = await retargeted('admin.conf', `wrong-client-${id.replace('/', '-')}`, (doc) =>
        useCredentials(doc, leaf.cert, leaf.key),
      );
      const from = server.proc.output.length;
      expectFailure(
        await kubectlRun(kubectl, ['--kubeconfig', file, 'get', '--raw', '/healthz']),
        serverAlert('unknown certificate authority'),
      );
      await server.proc.waitFor(/verify error:num=20:unable to get local issuer certificate/, { from, timeoutMs: 5_000 });
    },
  );

  it('a kubeconfig with apiserver.crt as client cert (right CA, serverAuth only) is refused by the server', async () => {
    const leaf = pki().leaf('apiserver');
    const file = await retargeted('admin.conf', 'server-cert-as-client', (doc) => useCredentials(doc, leaf.cert, leaf.key));
    const from = server.proc.output.length;
    expectFailure(await kubectlRun(kubectl, ['--kubeconfig', file, 'get', '--raw', '/healthz']), serverAlert('unsupported certificate'));
    await server.proc.waitFor(/verify error:num=26:unsuitable certificate purpose/, { from, timeoutMs: 5_000 });
  });

  it('kubectl refuses a kubeconfig whose client key belongs to another kubeconfig', async () => {
    const p = pki();
    const file = await retargeted('admin.conf', 'swapped-key', (doc) =>
      useCredentials(doc, p.kubeconfig('admin.conf').credentials.cert, p.kubeconfig('scheduler.conf').credentials.key),
    );
    expectFailure(
      await kubectlRun(kubectl, ['--kubeconfig', file, 'get', '--raw', '/healthz']),
      'error: tls: private key does not match public key',
    );
  });
});

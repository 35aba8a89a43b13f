/**
 * `kpki kubeconfig` output used by kubectl against a TLS server that requires client
 * certificates from the cluster CA (openssl s_server), with the subject checked by openssl.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KPKI_BIN } from '../support/cli.js';
import {
  Resources,
  kpkiSource,
  opensslSubject,
  requireTool,
  run,
  runOk,
  startHealthzServer,
  usePki,
  type HealthzServer,
} from './helpers.js';

const kubectl = requireTool('kubectl');
const res = new Resources();
afterAll(() => res.dispose());

const source = kpkiSource('ecdsa-p256');
const pki = usePki(res, source);
let server: HealthzServer;
let work: string;

beforeAll(async () => {
  server = await startHealthzServer(res, pki(), 'kubeconfig', pki().leaf('apiserver'), 'ca');
  work = await res.tempDir('kubeconfig');
}, 60_000);

const kpki = (args: string[]) => run(process.execPath, [KPKI_BIN, ...args, '--cert-dir', pki().pkiDir], { timeoutMs: 60_000 });
/** The apiserver cert names the endpoint host; s_server listens on loopback. */
const dial = () => [
  '--server',
  `https://127.0.0.1:${server.port}`,
  '--tls-server-name',
  source.settings.controlPlaneEndpoint.split(':')[0]!,
];

describe('kpki kubeconfig with kubectl', () => {
  it('user: stdout kubeconfig that kubectl reads and authenticates with; CN/O as asked', async () => {
    const r = await kpki(['kubeconfig', 'user', '--client-name', 'alice', '--org', 'dev', '--org', 'qa', '--validity', '30d']);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(work, 'alice.conf');
    await writeFile(file, r.stdout, { mode: 0o600 });
    const context = await runOk(kubectl, ['--kubeconfig', file, 'config', 'current-context']);
    expect(context.stdout.trim()).toBe('alice@kubernetes');
    const view = JSON.parse((await runOk(kubectl, ['--kubeconfig', file, 'config', 'view', '--raw', '-o', 'json'])).stdout);
    expect(view.clusters[0].cluster.server).toBe(`https://${source.settings.controlPlaneEndpoint}`);
    const certFile = path.join(work, 'alice.crt');
    await writeFile(certFile, Buffer.from(view.users[0].user['client-certificate-data'], 'base64'));
    const subject = await opensslSubject(certFile);
    expect(subject.cn).toEqual(['alice']);
    expect([...subject.o].sort()).toEqual(['dev', 'qa']);
    const healthz = await runOk(kubectl, ['--kubeconfig', file, ...dial(), 'get', '--raw', '/healthz']);
    expect(healthz.stdout.trim()).toBe('ok');
  });

  it('node --no-embed --out: files beside the kubeconfig, referenced by path, accepted by the server', async () => {
    const out = path.join(work, 'worker-1.conf');
    const r = await kpki(['kubeconfig', 'node', '--node-name', 'worker-1', '--out', out, '--no-embed']);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).toContain('client-certificate: worker-1.crt');
    expect(await opensslSubject(path.join(work, 'worker-1.crt'))).toMatchObject({ cn: ['system:node:worker-1'], o: ['system:nodes'] });
    const healthz = await runOk(kubectl, ['--kubeconfig', out, ...dial(), 'get', '--raw', '/healthz']);
    expect(healthz.stdout.trim()).toBe('ok');
  });

  it('--merge-into keeps the other entries and makes the new context usable', async () => {
    const target = path.join(work, 'config');
    const admin = await readFile(path.join(path.dirname(pki().pkiDir), 'admin.conf'), 'utf8');
    await writeFile(target, admin, { mode: 0o600 });
    const r = await kpki(['kubeconfig', 'user', '--client-name', 'bob', '--merge-into', target]);
    expect(r.code, r.stderr).toBe(0);
    const merged = await readFile(target, 'utf8');
    expect(merged.startsWith(admin.slice(0, admin.indexOf('contexts:')))).toBe(true);
    const contexts = (await runOk(kubectl, ['--kubeconfig', target, 'config', 'get-contexts', '-o', 'name'])).stdout
      .trim()
      .split('\n')
      .sort();
    expect(contexts).toEqual(['bob@kubernetes', 'kubernetes-admin@kubernetes']);
    const healthz = await runOk(kubectl, ['--kubeconfig', target, '--context', 'bob@kubernetes', ...dial(), 'get', '--raw', '/healthz']);
    expect(healthz.stdout.trim()).toBe('ok');
  });

  it('a kubeconfig signed by another CA is refused by the server', async () => {
    const r = await run(process.execPath, [
      KPKI_BIN,
      'kubeconfig',
      'user',
      '--client-name',
      'mallory',
      '--cert-dir',
      pki().pkiDir,
      '--ca-cert',
      pki().caCert('front-proxy-ca'),
      '--ca-key',
      pki().caKey('front-proxy-ca'),
      '--server',
      'https://127.0.0.1:1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(work, 'mallory.conf');
    // Trust the real serving CA so that only the client certificate is wrong.
    await writeFile(
      file,
      r.stdout.replace(
        /certificate-authority-data: \S+/,
        `certificate-authority-data: ${Buffer.from(await readFile(pki().caCert('ca'))).toString('base64')}`,
      ),
    );
    const refused = await run(kubectl, ['--kubeconfig', file, ...dial(), 'get', '--raw', '/healthz']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('remote error: tls: unknown certificate authority');
  });
});

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { initPki, type InitOptions, type InitResult } from '../../src/commands/init.js';
import { snapshot, tempDir } from '../support/tmp.js';
import { rejection } from '../support/errors.js';

// ECDSA keeps these behavioural tests fast; RSA is covered by the equivalence and interop suites.
const BASE: InitOptions = { nodeName: 'cp1', advertiseAddress: '10.0.0.11', keyType: 'ecdsa-p256' };

function layout(dir: string): InitOptions {
  return { ...BASE, certDir: path.join(dir, 'pki'), kubeconfigDir: dir };
}

const actions = (r: InitResult) => Object.fromEntries(r.items.map((i) => [i.name, i.action]));

async function freshTree(): Promise<{ dir: string; options: InitOptions; first: InitResult }> {
  const dir = tempDir();
  const options = layout(dir);
  const first = await initPki(options);
  return { dir, options, first };
}

describe('kpki init', () => {
  it('writes every file with kubeadm modes: keys, sa.pub and kubeconfigs 0600, certificates 0644', async () => {
    const { dir, first } = await freshTree();
    expect(new Set(first.items.map((i) => i.action))).toEqual(new Set(['create']));
    const files = snapshot(dir);
    const mode = (f: string) => files.get(f)?.split(' ')[0];
    for (const name of ['ca', 'apiserver', 'front-proxy-client', 'etcd/ca', 'etcd/peer', 'apiserver-etcd-client']) {
      expect(mode(`pki/${name}.crt`), name).toBe('644');
      expect(mode(`pki/${name}.key`), name).toBe('600');
    }
    expect(mode('pki/sa.key')).toBe('600');
    expect(mode('pki/sa.pub')).toBe('600');
    for (const conf of ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf']) {
      expect(mode(conf), conf).toBe('600');
    }
    expect(mode('kubeadm-cluster-admins.yaml')).toBe('644');
    expect([...files.keys()].filter((f) => f.includes('.kpki'))).toEqual([]);
  });

  it('is idempotent: a second run reuses everything and leaves every byte alone', async () => {
    const { dir, options } = await freshTree();
    const before = snapshot(dir);
    const second = await initPki(options);
    expect(second.changed).toBe(false);
    expect(new Set(second.items.map((i) => i.action))).toEqual(new Set(['reuse']));
    expect(snapshot(dir)).toEqual(before);
  });

  it('reports a stale certificate, writes nothing, and reissues only what --renew names', async () => {
    const { dir, options } = await freshTree();
    const before = snapshot(dir);
    const changed = { ...options, apiserverCertExtraSans: ['10.0.0.100'] };

    const error = await rejection(initPki(changed));
    expect(error.code).toBe(ErrorCode.StaleFile);
    expect(error.message).toContain('apiserver.crt');
    expect(error.message).toContain('lacks SAN 10.0.0.100');
    expect(error.hint).toContain('--renew apiserver');
    expect(snapshot(dir)).toEqual(before);

    const renewed = await initPki({ ...changed, renew: ['apiserver'] });
    expect(actions(renewed).apiserver).toBe('reissue');
    const after = snapshot(dir);
    // The matching key is signed again (as kubeadm certs renew): only the certificate changes.
    for (const [file, content] of before) {
      const touched = file === 'pki/apiserver.crt';
      expect(after.get(file) === content, file).toBe(!touched);
    }
  });

  it('--renew reissues named entries that are still valid (renewal before expiry); --force alone does not', async () => {
    const { dir, options } = await freshTree();
    const before = snapshot(dir);
    expect((await initPki({ ...options, force: true })).changed).toBe(false);
    const renewed = await initPki({ ...options, renew: ['front-proxy-client', 'scheduler.conf'] });
    expect(renewed.items.filter((i) => i.action !== 'reuse').map((i) => [i.name, i.action, i.reasons])).toEqual([
      ['front-proxy-client', 'reissue', ['--renew asks for a new certificate']],
      ['scheduler.conf', 'reissue', ['--renew asks for a new certificate']],
    ]);
    const after = snapshot(dir);
    const changed = [...before]
      .filter(([file, content]) => after.get(file) !== content)
      .map(([file]) => file)
      .sort();
    expect(changed).toEqual(['pki/front-proxy-client.crt', 'scheduler.conf']);
  });

  it('--force reissues stale leaves and kubeconfigs but never a CA', async () => {
    const { dir, options } = await freshTree();
    const caBefore = readFileSync(path.join(dir, 'pki/ca.crt'));
    const result = await initPki({ ...options, controlPlaneEndpoint: 'lb.example.com', force: true });
    // A control plane's kubelet.conf follows its own apiserver (kubeadm ≥ 1.33), not the endpoint.
    expect(actions(result)).toMatchObject({
      ca: 'reuse',
      apiserver: 'reissue',
      'admin.conf': 'reissue',
      'kubelet.conf': 'reuse',
      'scheduler.conf': 'reuse',
    });
    expect(readFileSync(path.join(dir, 'pki/ca.crt'))).toEqual(caBefore);
    const error = await rejection(initPki({ ...options, controlPlaneEndpoint: 'lb.example.com', renew: ['ca'] }));
    expect(error.message).toContain('never replaces a CA');
  });

  it('--dry-run plans without writing, and shows conflicts', async () => {
    const dir = tempDir();
    const plan = await initPki({ ...layout(dir), dryRun: true });
    expect(readdirSync(dir)).toEqual([]);
    const api = plan.items.find((i) => i.name === 'apiserver')!;
    expect(api).toMatchObject({ action: 'create', issuer: 'ca', subject: 'CN=kube-apiserver', keyType: 'ecdsa-p256' });
    expect(api.sans).toContain('kubernetes.default.svc.cluster.local');

    await initPki(layout(dir));
    const stale = await initPki({ ...layout(dir), advertiseAddress: '10.0.0.12', dryRun: true });
    expect(actions(stale)).toMatchObject({
      apiserver: 'conflict',
      'etcd-server': 'conflict',
      'controller-manager.conf': 'conflict',
      ca: 'reuse',
    });
  });

  it('completes a key left without its certificate (a run stopped between the two writes)', async () => {
    const { dir, options } = await freshTree();
    const keys = ['pki/ca.key', 'pki/etcd/server.key'].map((f) => readFileSync(path.join(dir, f)));
    rmSync(path.join(dir, 'pki/ca.crt'));
    rmSync(path.join(dir, 'pki/etcd/server.crt'));
    const result = await initPki(options);
    expect(actions(result)).toMatchObject({ ca: 'complete', 'etcd-server': 'complete', apiserver: 'reuse', 'admin.conf': 'reuse' });
    expect(['pki/ca.key', 'pki/etcd/server.key'].map((f) => readFileSync(path.join(dir, f)))).toEqual(keys);
    expect(existsSync(path.join(dir, 'pki/ca.crt'))).toBe(true);
  });

  it('derives a missing sa.pub from sa.key, and refuses a sa.pub that does not match', async () => {
    const { dir, options } = await freshTree();
    const pub = readFileSync(path.join(dir, 'pki/sa.pub'));
    rmSync(path.join(dir, 'pki/sa.pub'));
    expect(actions(await initPki(options)).sa).toBe('complete');
    expect(readFileSync(path.join(dir, 'pki/sa.pub'))).toEqual(pub);

    const other = await freshTree();
    writeFileSync(path.join(dir, 'pki/sa.pub'), readFileSync(path.join(other.dir, 'pki/sa.pub')));
    const error = await rejection(initPki(options));
    expect(error.message).toContain('sa.pub does not match sa.key');
  });

  describe('external CA (ca.crt without ca.key)', () => {
    it('checks existing leaves instead of issuing, and names what is missing', async () => {
      const { dir, options } = await freshTree();
      rmSync(path.join(dir, 'pki/ca.key'));
      const checked = await initPki(options);
      expect(actions(checked)).toMatchObject({
        ca: 'external',
        apiserver: 'external',
        'admin.conf': 'external',
        'front-proxy-ca': 'reuse',
      });
      expect(checked.changed).toBe(false);

      rmSync(path.join(dir, 'pki/apiserver.crt'));
      rmSync(path.join(dir, 'kubelet.conf'));
      const before = snapshot(dir);
      const error = await rejection(initPki(options));
      expect(error.code).toBe(ErrorCode.ExternalCaMissing);
      expect(error.message).toContain('apiserver.crt is missing');
      expect(error.message).toContain('kubelet.conf is missing');
      expect(snapshot(dir)).toEqual(before);
    });
  });

  describe('bad input never loses key material', () => {
    it.each([
      ['garbage certificate', 'pki/apiserver.crt', Buffer.from('not a certificate\n'), /apiserver\.crt: has no certificate/],
      ['truncated certificate', 'pki/ca.crt', null, /ca\.crt: has a truncated CERTIFICATE block/],
      ['binary junk key', 'pki/etcd/peer.key', Buffer.from([0, 1, 2, 3, 255, 254]), /peer\.key: is not a readable private key/],
      [
        'certificate where a key belongs',
        'pki/front-proxy-client.key',
        'cert',
        /front-proxy-client\.key: holds a certificate, not a private key/,
      ],
      ['broken kubeconfig', 'admin.conf', Buffer.from('apiVersion: v1\nkind: Config\nclusters: [\n'), /admin\.conf: not valid YAML/],
      ['kubeconfig with bad base64', 'scheduler.conf', 'base64', /scheduler\.conf: .*client-key-data is not valid base64/],
    ])('%s', async (_, file, content, message) => {
      const { dir, options } = await freshTree();
      const target = path.join(dir, file);
      const original = readFileSync(target);
      const bytes =
        content === null
          ? original.subarray(0, 300)
          : content === 'cert'
            ? readFileSync(path.join(dir, 'pki/front-proxy-client.crt'))
            : content === 'base64'
              ? Buffer.from(original.toString().replace(/client-key-data: \S+/, 'client-key-data: not*base64'))
              : (content as Buffer);
      writeFileSync(target, bytes);
      const before = snapshot(dir);
      for (const force of [false, true]) {
        const error = await rejection(initPki({ ...options, force }));
        expect(error.code).toBe(ErrorCode.BadInput);
        expect(error.message).toMatch(message);
        expect(snapshot(dir)).toEqual(before);
      }
    });

    it('an unreadable directory entry is reported, not replaced', async () => {
      const { dir, options } = await freshTree();
      rmSync(path.join(dir, 'pki/apiserver.key'));
      mkdirSync(path.join(dir, 'pki/apiserver.key'));
      const error = await rejection(initPki(options));
      expect(error.message).toContain('apiserver.key: is a directory');
    });
  });

  it('a second concurrent run on the same directory is refused by the lock', async () => {
    const dir = tempDir();
    const [a, b] = await Promise.allSettled([initPki(layout(dir)), initPki(layout(dir))]);
    const outcomes = [a, b].map((r) => r.status);
    expect(outcomes.sort()).toEqual(['fulfilled', 'rejected']);
    const failed = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((failed.reason as KpkiError).code).toBe(ErrorCode.Locked);
    expect(existsSync(path.join(dir, 'pki/.kpki.lock'))).toBe(false);
  });

  it('a lock left by a dead process is taken over', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'pki'));
    writeFileSync(path.join(dir, 'pki/.kpki.lock'), '999999\n');
    await initPki(layout(dir));
    expect(existsSync(path.join(dir, 'pki/.kpki.lock'))).toBe(false);
  });

  it('a directory that cannot be created fails with the path and a reason', async () => {
    // A path below a regular file fails for root too, unlike permission bits.
    const dir = tempDir();
    writeFileSync(path.join(dir, 'file'), '');
    const error = await rejection(initPki({ ...layout(dir), certDir: path.join(dir, 'file/pki') }));
    expect(error.code).toBe(ErrorCode.WriteFailed);
    expect(error.message).toContain(path.join(dir, 'file/pki'));
  });
});

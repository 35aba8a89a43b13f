import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { checkExpiration, inspect } from '../../src/commands/inspect.js';
import type { InspectedCertificate, InspectedItem } from '../../src/inspect/material.js';
import { initPki } from '../../src/commands/init.js';
import { FIXTURE_KUBERNETES, tempDir } from '../support/tmp.js';
import { makeCluster } from './day2-support.js';

const AT = new Date('2026-12-01T00:00:00Z');
let tree: string;

beforeAll(async () => {
  tree = tempDir();
  await initPki({
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    keyType: 'ecdsa-p256',
    certDir: path.join(tree, 'pki'),
    kubeconfigDir: tree,
  });
});

const cert = (items: InspectedItem[], file: string) =>
  items.find((i): i is InspectedCertificate => i.kind === 'certificate' && i.file === file)!;

describe('inspect', () => {
  it('the kubeadm fixture: subjects, SANs, signer within the set, matching keys, kubeconfigs', async () => {
    const { items, problems } = await inspect([FIXTURE_KUBERNETES], { now: AT });
    expect(problems).toEqual([]);
    const pki = (f: string) => path.join(FIXTURE_KUBERNETES, 'pki', f);
    expect(cert(items, pki('apiserver.crt'))).toMatchObject({
      commonName: 'kube-apiserver',
      issuer: 'kubernetes',
      sans: [
        'cp1',
        'k8s-api.example.internal',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        '10.96.0.1',
        '198.51.100.11',
        '198.51.100.100',
      ],
      key: 'rsa 2048',
      extKeyUsages: ['serverAuth'],
      isCA: false,
      signedBy: pki('ca.crt'),
      keyFile: pki('apiserver.key'),
    });
    expect(cert(items, pki('etcd/healthcheck-client.crt'))).toMatchObject({
      organizations: ['system:masters'],
      signedBy: pki('etcd/ca.crt'),
    });
    expect(cert(items, pki('ca.crt'))).toMatchObject({ isCA: true, signedBy: 'self', serialNumber: '00' });
    expect(cert(items, pki('ca.crt')).secondsLeft).toBe((new Date('2036-11-19T20:30:32Z').getTime() - AT.getTime()) / 1000);
    const admin = items.find((i) => i.kind === 'kubeconfig' && i.file.endsWith('admin.conf'));
    expect(admin).toMatchObject({
      user: 'kubernetes-admin',
      server: 'https://k8s-api.example.internal:6443',
      context: 'kubernetes-admin@kubernetes',
    });
    const client = items.find(
      (i) => i.kind === 'certificate' && i.file.endsWith('admin.conf: users[kubernetes-admin].client-certificate-data'),
    ) as InspectedCertificate;
    expect(client).toMatchObject({
      commonName: 'kubernetes-admin',
      organizations: ['system:masters'],
      keyFile: expect.stringContaining('client-key-data'),
    });
    expect(items.find((i) => i.kind === 'public-key')).toMatchObject({ file: pki('sa.pub'), key: 'rsa 2048' });
  });

  it('a swapped key does not match; DER certificates, PKCS#8 keys and CSRs are read', async () => {
    const dir = tempDir();
    const p = (f: string) => path.join(dir, f);
    cpSync(path.join(tree, 'pki/apiserver.crt'), p('apiserver.crt'));
    cpSync(path.join(tree, 'pki/front-proxy-client.key'), p('apiserver.key'));
    execFileSync('openssl', ['x509', '-in', path.join(tree, 'pki/ca.crt'), '-outform', 'DER', '-out', p('ca.der')]);
    execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', path.join(tree, 'pki/ca.key'), '-out', p('ca-pkcs8.key')]);
    execFileSync('openssl', ['req', '-new', '-key', path.join(tree, 'pki/apiserver.key'), '-subj', '/O=dev/CN=x', '-out', p('x.csr')]);
    const { items } = await inspect([dir]);
    expect(cert(items, p('apiserver.crt'))).toMatchObject({ keyFile: undefined, signedBy: p('ca.der') });
    expect(cert(items, p('ca.der'))).toMatchObject({ isCA: true, keyFile: p('ca-pkcs8.key') });
    expect(items.find((i) => i.kind === 'csr')).toMatchObject({
      file: p('x.csr'),
      subject: 'O=dev, CN=x',
      key: 'ec prime256v1',
      signatureValid: true,
    });
    expect(items.find((i) => i.file === p('apiserver.key'))).toMatchObject({ kind: 'private-key', certificates: [] });
  });

  it('broken PKI-looking files in a tree are problems; a broken file given directly is an error', async () => {
    const dir = tempDir();
    cpSync(path.join(tree, 'pki/ca.crt'), path.join(dir, 'ca.crt'));
    writeFileSync(path.join(dir, 'broken.crt'), readFileSync(path.join(tree, 'pki/ca.crt'), 'utf8').slice(0, 200));
    writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    const { problems } = await inspect([dir]);
    expect(problems).toEqual([{ file: path.join(dir, 'broken.crt'), message: 'has a truncated CERTIFICATE block (no END line)' }]);
    for (const [target, code] of [
      [path.join(dir, 'broken.crt'), ErrorCode.BadInput],
      [path.join(dir, 'notes.txt'), ErrorCode.BadInput],
      [path.join(dir, 'nope'), ErrorCode.MissingFile],
    ] as const) {
      const error = await inspect([target]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KpkiError);
      expect((error as KpkiError).code).toBe(code);
    }
    const empty = tempDir();
    writeFileSync(path.join(empty, 'readme.md'), '# nothing');
    expect(((await inspect([empty]).catch((e: unknown) => e)) as KpkiError).message).toContain(
      'no certificates, keys or kubeconfigs found',
    );
  });
});

describe('checkExpiration', () => {
  it("kubeadm's rows for the fixture, with residual times and CAs", async () => {
    const report = await checkExpiration({
      certDir: path.join(FIXTURE_KUBERNETES, 'pki'),
      kubeconfigDir: FIXTURE_KUBERNETES,
      profile: 'kubeadm-v1.20',
      now: AT,
      warnWithinSeconds: 400 * 86400,
    });
    expect(report.certificates.map((r) => [r.name, r.authority, r.missing])).toEqual([
      ['admin.conf', 'ca', false],
      ['apiserver', 'ca', false],
      ['apiserver-etcd-client', 'etcd-ca', false],
      ['apiserver-kubelet-client', 'ca', false],
      ['controller-manager.conf', 'ca', false],
      ['etcd-healthcheck-client', 'etcd-ca', false],
      ['etcd-peer', 'etcd-ca', false],
      ['etcd-server', 'etcd-ca', false],
      ['front-proxy-client', 'front-proxy-ca', false],
      ['kubelet.conf', 'ca', false],
      ['scheduler.conf', 'ca', false],
    ]);
    expect(report.authorities.map((r) => r.name)).toEqual(['ca', 'etcd-ca', 'front-proxy-ca']);
    expect(report.certificates[1]!.notAfter).toBe('2027-11-22T20:30:32.000Z');
    expect(report.expiringSoon.map((r) => r.name)).toEqual(report.certificates.map((r) => r.name));
  });

  it('marks a CA without its key as externally managed and a missing file as missing', async () => {
    const dir = tempDir();
    cpSync(tree, dir, { recursive: true });
    rmSync(path.join(dir, 'pki/ca.key'));
    rmSync(path.join(dir, 'pki/etcd/peer.crt'));
    const report = await checkExpiration({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir, warnWithinSeconds: 30 * 86400 });
    const row = (name: string) => [...report.certificates, ...report.authorities].find((r) => r.name === name)!;
    expect(row('ca').externallyManaged).toBe(true);
    expect(row('apiserver').externallyManaged).toBe(true);
    expect(row('front-proxy-client').externallyManaged).toBe(false);
    expect(row('etcd-peer').missing).toBe(true);
    expect(report.expiringSoon).toEqual([]);
  });

  describe("the profile's kubeletPki entries, from the kubelet's own directory", () => {
    let worker: string;
    let shared: string;
    const kubeletRow = (report: { certificates: { name: string }[] }) => report.certificates.find((r) => r.name === 'kubelet-serving');

    beforeAll(async () => {
      const dir = tempDir();
      const result = await makeCluster(dir);
      worker = result.nodes.find((n) => n.name === 'w1')!.dir;
      shared = path.join(dir, 'pki');
    }, 60_000);

    it('a node-shaped cert dir finds <root>/var/lib/kubelet/pki beside it', async () => {
      const report = await checkExpiration({ certDir: path.join(worker, 'etc/kubernetes/pki'), now: AT });
      const expected = inspect([path.join(worker, 'var/lib/kubelet/pki/kubelet.crt')], { now: AT });
      expect(kubeletRow(report)).toEqual({
        name: 'kubelet-serving',
        file: path.join(worker, 'var/lib/kubelet/pki/kubelet.crt'),
        missing: false,
        notAfter: cert((await expected).items, path.join(worker, 'var/lib/kubelet/pki/kubelet.crt')).notAfter,
        secondsLeft: expect.any(Number),
        authority: 'ca',
        // A worker holds ca.crt, not ca.key: kpki cannot renew it there.
        externallyManaged: true,
      });
    });

    it('elsewhere only when given: the directory, or the kubelet config that names it; a missing file is a missing row', async () => {
      expect(kubeletRow(await checkExpiration({ certDir: shared, now: AT }))).toBeUndefined();
      const kubeletPki = path.join(worker, 'var/lib/kubelet/pki');
      const given = await checkExpiration({ certDir: shared, kubeletPkiDir: kubeletPki, now: AT });
      expect(kubeletRow(given)).toMatchObject({ file: path.join(kubeletPki, 'kubelet.crt'), missing: false, externallyManaged: false });
      const flagsFile = path.join(tempDir(), 'kubelet.flags');
      writeFileSync(flagsFile, `--cert-dir=${kubeletPki} --rotate-certificates=true\n`);
      expect(kubeletRow(await checkExpiration({ certDir: shared, kubeletConfig: flagsFile, now: AT }))).toEqual(kubeletRow(given));
      const empty = tempDir();
      expect(kubeletRow(await checkExpiration({ certDir: shared, kubeletPkiDir: empty, now: AT }))).toMatchObject({
        file: path.join(empty, 'kubelet.crt'),
        missing: true,
      });
      const error = (await checkExpiration({ certDir: shared, kubeletPkiDir: path.join(empty, 'nope') }).catch(
        (e: unknown) => e,
      )) as KpkiError;
      expect(error.message).toBe(`${path.join(empty, 'nope')}: no such directory`);
    });
  });
});

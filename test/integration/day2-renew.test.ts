import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addNode, initCluster } from '../../src/commands/cluster.js';
import { renew } from '../../src/commands/renew.js';
import { ErrorCode } from '../../src/errors.js';
import { initPki } from '../../src/commands/init.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { rejection } from '../support/errors.js';
import { snapshot, tempDir } from '../support/tmp.js';
import { useGoverify } from '../interop/goverify.js';
import { requireTool, Resources, runOk } from '../interop/helpers.js';
import { killMidReplacementAndRerun, leavesOf, makeCluster, serials, trustFailures } from './day2-support.js';

const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);

const sansOf = (file: string) => {
  const facts = certificateFacts(parseCertificate(readFileSync(file), file));
  return [...facts.dnsNames, ...facts.ipAddresses];
};

describe('kpki renew on a whole cluster', () => {
  it('with --new-key renews every leaf and kubeconfig everywhere with new keys, adds a SAN to every apiserver and remembers it', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir);
    const before = serials(dir, scratch);
    const keyBefore = readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.key'), 'utf8');

    const result = await renew({
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      all: true,
      newKey: true,
      addSans: ['VIP2.example.com', '10.0.0.200'],
    });

    const after = serials(dir, scratch);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [label, serial] of after) expect(serial, label).not.toBe(before.get(label));
    expect(readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.key'), 'utf8')).not.toBe(keyBefore);
    for (const cp of ['cp1', 'cp2'])
      expect(sansOf(path.join(dir, `nodes/${cp}/etc/kubernetes/pki/apiserver.crt`))).toEqual(
        expect.arrayContaining(['vip2.example.com', '10.0.0.200']),
      );
    // Only the apiserver gets the SAN.
    expect(sansOf(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/etcd/server.crt'))).not.toContain('vip2.example.com');
    // The node copy of the shared front-proxy client is the shared one, byte for byte.
    expect(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/front-proxy-client.crt'))).toEqual(
      readFileSync(path.join(dir, 'pki/front-proxy-client.crt')),
    );
    expect(result.items.filter((i) => i.name === 'front-proxy-client').map((i) => i.action)).toEqual(['renew', 'copy', 'copy']);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);

    // Restart plan: every control plane completely before the next, the worker's kubelet last.
    const nodes = result.restart.map((r) => r.node);
    expect(nodes).toEqual([...nodes].sort((a, b) => ['cp1', 'cp2', 'w1'].indexOf(a) - ['cp1', 'cp2', 'w1'].indexOf(b)));
    expect(result.restart.filter((r) => r.node === 'cp1').map((r) => r.component)).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kubelet',
    ]);
    // The worker's kubelet reads kubelet.conf and its kpki-issued serving certificate at start: paths as the node names them.
    expect(result.restart.filter((r) => r.node === 'w1')).toEqual([
      {
        node: 'w1',
        component: 'kubelet',
        files: ['/etc/kubernetes/kubelet.conf', '/var/lib/kubelet/pki/kubelet.crt', '/var/lib/kubelet/pki/kubelet.key'],
      },
    ]);

    // Remembered: the record keeps the SANs, a new control plane gets them, a rerun of init keeps them and changes nothing.
    const record = JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8'));
    expect(record.settings.apiserverCertExtraSans).toEqual(['vip2.example.com', '10.0.0.200']);
    const cp3 = await addNode({ name: 'cp3', address: '10.0.0.13', role: 'control-plane', kubeconfigDir: dir });
    expect(sansOf(path.join(cp3.dir, 'etc/kubernetes/pki/apiserver.crt'))).toEqual(
      expect.arrayContaining(['vip2.example.com', '10.0.0.200']),
    );
    const withoutRecord = () => [...snapshot(dir)].filter(([file]) => file !== 'kpki-cluster.json');
    const settled = withoutRecord();
    await makeCluster(dir, { controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12,cp3=10.0.0.13' });
    expect(withoutRecord()).toEqual(settled);
    expect(JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')).settings.apiserverCertExtraSans).toEqual([
      'vip2.example.com',
      '10.0.0.200',
    ]);
  });

  it('--keep-key re-signs the same keys; --dry-run writes nothing; a named entry renews only that entry', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir);
    const initial = snapshot(dir);
    const dry = await renew({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir, names: ['apiserver'], dryRun: true });
    expect(snapshot(dir)).toEqual(initial);
    expect(dry.items.map((i) => [i.node, i.action])).toEqual([
      ['cp1', 'renew'],
      ['cp2', 'renew'],
    ]);
    // Renewal keeps the key (as kubeadm's does): only the certificate changes.
    const apiserverFiles = ['/etc/kubernetes/pki/apiserver.crt'];
    expect(dry.restart).toEqual([
      { node: 'cp1', component: 'kube-apiserver', files: apiserverFiles },
      { node: 'cp2', component: 'kube-apiserver', files: apiserverFiles },
    ]);

    const before = serials(dir, scratch);
    const result = await renew({
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      names: ['apiserver', 'kubelet.conf'],
      keepKey: true,
      validity: '30d',
    });
    const after = serials(dir, scratch);
    const changed = [...after]
      .filter(([label, serial]) => before.get(label) !== serial)
      .map(([label]) => label)
      .sort();
    expect(changed).toEqual([
      'nodes/cp1/etc/kubernetes/kubelet.conf',
      'nodes/cp1/etc/kubernetes/pki/apiserver.crt',
      'nodes/cp2/etc/kubernetes/kubelet.conf',
      'nodes/cp2/etc/kubernetes/pki/apiserver.crt',
      'nodes/w1/etc/kubernetes/kubelet.conf',
    ]);
    for (const label of ['nodes/cp1/etc/kubernetes/pki/apiserver.key', 'nodes/cp2/etc/kubernetes/pki/apiserver.key'])
      expect(snapshot(dir).get(label)).toBe(initial.get(label));
    const notAfter = parseCertificate(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/apiserver.crt')), 'apiserver.crt').notAfter;
    expect(Math.round((notAfter.getTime() - Date.now()) / 86_400_000)).toBe(30);
    expect(result.restart.map((r) => `${r.node}/${r.component}`)).toEqual([
      'cp1/kube-apiserver',
      'cp1/kubelet',
      'cp2/kube-apiserver',
      'cp2/kubelet',
      'w1/kubelet',
    ]);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });

  it('refuses CAs, the SA key, unknown names and a SAN for entries without SANs, writing nothing', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const initial = snapshot(dir);
    const base = { certDir: path.join(dir, 'pki'), kubeconfigDir: dir };
    expect((await rejection(renew({ ...base, names: ['ca'] }))).hint).toContain('kpki ca renew ca');
    expect((await rejection(renew({ ...base, names: ['sa'] }))).hint).toContain('ca rotate');
    expect((await rejection(renew({ ...base, names: ['apiserverx'] }))).code).toBe(ErrorCode.BadFlag);
    expect((await rejection(renew({ ...base, names: ['admin.conf'], addSans: 'x.example.com' }))).subject).toBe('--add-san');
    expect((await rejection(renew({ ...base, all: true, addSans: 'bad san!' }))).subject).toBe('--add-san');
    expect((await rejection(renew({ ...base, all: true, validity: 'soon' }))).subject).toBe('--validity');
    expect(snapshot(dir)).toEqual(initial);
  });
});

describe('kpki renew on a single-node PKI', () => {
  const single = (dir: string) => ({
    certDir: path.join(dir, 'pki'),
    kubeconfigDir: dir,
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    keyType: 'ecdsa-p256',
  });

  it('rewrites kubeconfigs with the current CA data, remembers --add-san for later init runs', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await initPki(single(dir));
    // As kubeadm leaves it after a CA change: admin.conf carries a CA that is not the current one.
    const admin = path.join(dir, 'admin.conf');
    const frontProxyCa = readFileSync(path.join(dir, 'pki/front-proxy-ca.crt')).toString('base64');
    writeFileSync(
      admin,
      readFileSync(admin, 'utf8').replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${frontProxyCa}`),
    );
    const result = await renew({
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      names: ['admin.conf', 'apiserver'],
      addSans: 'api.example.com',
    });
    // A single-node PKI is the node's own: its paths are as given. The key is kept, so only the certificate changed.
    expect(result.restart).toEqual([{ node: 'local', component: 'kube-apiserver', files: [path.join(dir, 'pki', 'apiserver.crt')] }]);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(dir, 'kpki-settings.json'), 'utf8'))).toEqual({ apiserverCertExtraSans: ['api.example.com'] });
    // init --renew apiserver without the flag still issues the remembered SAN.
    await initPki({ ...single(dir), renew: ['apiserver'] });
    expect(sansOf(path.join(dir, 'pki/apiserver.crt'))).toContain('api.example.com');
  });

  it('refuses leaves of an external CA, naming the files; --csr-only writes a key and CSR for them', async () => {
    const dir = tempDir();
    await initPki(single(dir));
    renameSync(path.join(dir, 'pki/ca.key'), path.join(dir, 'ca.key.offline'));
    const initial = snapshot(dir);
    const error = await rejection(
      renew({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir, names: ['apiserver', 'front-proxy-client'] }),
    );
    expect(error.code).toBe(ErrorCode.ExternalCaMissing);
    expect(error.message).toContain(path.join(dir, 'pki/apiserver.crt'));
    expect(error.message).not.toContain('front-proxy-client');
    expect(snapshot(dir)).toEqual(initial);

    const result = await renew({
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      names: ['apiserver', 'front-proxy-client'],
      csrOnly: true,
      addSans: '10.0.0.100',
    });
    const csr = path.join(dir, 'csr/apiserver.csr');
    expect(result.items.find((i) => i.name === 'apiserver')?.files).toEqual([path.join(dir, 'csr/apiserver.key'), csr]);
    const text = (await runOk(requireTool('openssl'), ['req', '-in', csr, '-noout', '-text', '-verify'])).stdout;
    expect(text).toContain('CN = kube-apiserver');
    expect(text).toContain('IP Address:10.0.0.100');
    // The key in use is untouched; the front-proxy client (its CA is not external) was renewed.
    expect(snapshot(dir).get('pki/apiserver.key')).toBe(initial.get('pki/apiserver.key'));
    expect(snapshot(dir).get('pki/front-proxy-client.crt')).not.toBe(initial.get('pki/front-proxy-client.crt'));
  });
});

describe('kpki renew killed mid-run', () => {
  it('leaves a journal; the rerun completes the same change and every pair matches', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await initCluster({
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      keyType: 'rsa-2048',
      controlPlaneEndpoint: '10.0.0.100:6443',
      controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12',
    });
    const pki = path.join(dir, 'pki');
    // New keys: the journal then holds directory switches as well as renames, and the rerun completes both.
    await killMidReplacementAndRerun(['renew', '--all', '--new-key', '--cert-dir', pki, '--kubeconfig-dir', dir], pki);
    expect(leavesOf(dir, scratch).length).toBeGreaterThan(10);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });
});

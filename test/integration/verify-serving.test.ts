/**
 * The component serving certificates (kpki init --component-serving-certs) and where kubelet.conf
 * points: issued, wired, printed by `kpki flags`, listed by check-expiration, and checked by verify.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addNode, initCluster } from '../../src/commands/cluster.js';
import { initPki } from '../../src/commands/init.js';
import { verify } from '../../src/commands/verify.js';
import { kpki } from '../support/cli.js';
import { applyFix } from '../support/fix.js';
import { tempDir } from '../support/tmp.js';
import { base, flagsFile } from '../support/verify-pki.js';

const SETTINGS = { nodeName: 'cp1', advertiseAddress: '10.0.0.11', keyType: 'ecdsa-p256' };

async function tree(options: Parameters<typeof initPki>[0] = {}): Promise<string> {
  const dir = tempDir();
  await initPki({ ...SETTINGS, certDir: path.join(dir, 'pki'), kubeconfigDir: dir, ...options });
  return dir;
}

const pki = (dir: string, file: string) => path.join(dir, 'pki', file);
const SERVING_FLAGS = (dir: string, name: string) => ({
  'tls-cert-file': pki(dir, `${name}.crt`),
  'tls-private-key-file': pki(dir, `${name}.key`),
});

describe('component serving certificates', () => {
  it('are issued only when asked for, and then verify clean as kubeadm would wire them', async () => {
    const plain = await tree();
    expect(kpki(['flags', 'controller-manager', '--cert-dir', pki(plain, '')]).stdout).not.toContain('--tls-cert-file');
    expect(kpki(['flags', 'controller-manager', '--cert-dir', pki(plain, ''), '--component-serving-certs']).stdout).toContain(
      `--tls-cert-file=${pki(plain, 'controller-manager.crt')}`,
    );

    const dir = await tree({ componentServingCerts: true });
    expect((await verify(base(dir))).findings).toEqual([]);
    for (const [component, file] of [
      ['controller-manager', 'controller-manager'],
      ['scheduler', 'scheduler'],
    ]) {
      // Printed without asking once the cert dir holds them.
      const printed = kpki(['flags', component!, '--cert-dir', pki(dir, '')]).stdout;
      expect(printed).toContain(`--tls-cert-file=${pki(dir, `${file}.crt`)}\n--tls-private-key-file=${pki(dir, `${file}.key`)}\n`);
    }
    const rows = kpki(['check-expiration', '--cert-dir', pki(dir, '')]).stdout;
    expect(rows).toMatch(/^controller-manager-serving .* ca /m);
    expect(rows).toMatch(/^scheduler-serving .* ca /m);
  });

  it('a client trusting only ca.crt accepts them for localhost, the loopbacks and the node (openssl verify)', async () => {
    const dir = await tree({ componentServingCerts: true });
    for (const name of ['controller-manager', 'scheduler']) {
      const text = kpki(['inspect', pki(dir, `${name}.crt`)]).stdout;
      expect(text).toContain('serverAuth');
      for (const host of ['localhost', '127.0.0.1', '10.0.0.11', 'cp1']) {
        const check = /^[0-9.]+$/.test(host) ? ['-verify_ip', host] : ['-verify_hostname', host];
        const r = spawnSync(
          'openssl',
          ['verify', '-CAfile', pki(dir, 'ca.crt'), '-purpose', 'sslserver', ...check, pki(dir, `${name}.crt`)],
          { encoding: 'utf8' },
        );
        expect(r.stdout + r.stderr, `${name} for ${host}`).toContain(': OK');
      }
    }
  });

  it('issued but not given to the component: a warning per flag, fixed by the printed command', async () => {
    const dir = await tree({ componentServingCerts: true });
    const flags = flagsFile(dir, 'controller-manager');
    const missing = (await verify({ ...base(dir), controllerManagerArgs: flags })).findings.filter((f) => f.code === 'FLAG_MISSING');
    expect(missing.map((f) => [f.severity, f.subject])).toEqual([
      ['warning', 'kube-controller-manager --tls-cert-file'],
      ['warning', 'kube-controller-manager --tls-private-key-file'],
    ]);
    expect(missing[0]!.symptom).toContain('insecureSkipVerify');
    for (const f of missing) applyFix(f.fix, dir);
    expect((await verify({ ...base(dir), controllerManagerArgs: flags })).findings).toEqual([]);
    // Not issued: nothing is missing.
    const plain = await tree();
    expect(
      (await verify({ ...base(plain), controllerManagerArgs: flagsFile(plain, 'controller-manager') })).findings.filter(
        (f) => f.code === 'FLAG_MISSING',
      ),
    ).toEqual([]);
  });

  it('names the chain, the dialed address and the key that do not fit', async () => {
    const dir = await tree({ componentServingCerts: true });
    const cm = (change: Record<string, string | null>) =>
      flagsFile(dir, 'controller-manager', { ...SERVING_FLAGS(dir, 'controller-manager'), ...change });
    const scheduler = (change: Record<string, string | null>) =>
      flagsFile(dir, 'scheduler', { ...SERVING_FLAGS(dir, 'scheduler'), ...change });
    const found = async (options: Parameters<typeof verify>[0]) =>
      (await verify({ ...base(dir), ...options })).findings.map((f) => [f.code, f.subject, f.symptom]);

    // Bound to the node's address: covered. To another: the scraper's x509 error for it.
    expect(await found({ controllerManagerArgs: cm({ 'bind-address': '10.0.0.11' }) })).toEqual([]);
    expect(await found({ schedulerArgs: scheduler({ 'bind-address': '10.0.0.99', 'secure-port': '10300' }) })).toEqual([
      [
        'SAN_MISSING',
        'kube-scheduler --tls-cert-file',
        'Get "https://10.0.0.99:10300/metrics": x509: certificate is valid for 10.0.0.11, 127.0.0.1, ::1, not 10.0.0.99',
      ],
    ]);
    // Signed by another CA than the one scrapers trust (kube-root-ca.crt).
    expect(
      await found({
        controllerManagerArgs: cm({
          'tls-cert-file': pki(dir, 'front-proxy-client.crt'),
          'tls-private-key-file': pki(dir, 'front-proxy-client.key'),
        }),
      }),
    ).toEqual(
      expect.arrayContaining([
        [
          'CHAIN_UNTRUSTED',
          'kube-controller-manager --tls-cert-file',
          expect.stringContaining('x509: certificate signed by unknown authority'),
        ],
      ]),
    );
    // Another certificate's key: tls.X509KeyPair's error.
    expect(await found({ controllerManagerArgs: cm({ 'tls-private-key-file': pki(dir, 'scheduler.key') }) })).toEqual([
      ['KEY_MISMATCH', 'kube-controller-manager --tls-private-key-file', 'tls: private key does not match public key'],
    ]);
  });
});

describe('component serving certificates in a cluster', () => {
  it('each control plane gets its own, workers none; kpki-cluster.json remembers the choice for later runs and node add', async () => {
    const dir = tempDir();
    const options = {
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      keyType: 'ecdsa-p256',
      controlPlaneEndpoint: 'lb.example.com',
      controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12',
      workers: 'w1=10.0.0.21',
    };
    await initCluster({ ...options, componentServingCerts: true });
    const nodeFile = (node: string, file: string) => path.join(dir, 'nodes', node, 'etc/kubernetes', file);
    expect(JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')).settings.componentServingCerts).toBe(true);
    const sans = (node: string) => kpki(['inspect', '--json', nodeFile(node, 'pki/controller-manager.crt')]).stdout;
    expect(sans('cp1')).toContain('10.0.0.11');
    expect(sans('cp2')).toContain('10.0.0.12');
    expect(sans('cp2')).not.toContain('10.0.0.11');
    expect(existsSync(nodeFile('w1', 'pki/controller-manager.crt'))).toBe(false);
    // A worker's kubelet.conf at the endpoint, a control plane's at its own apiserver.
    expect(readFileSync(nodeFile('w1', 'kubelet.conf'), 'utf8')).toContain('server: https://lb.example.com:6443');
    expect(readFileSync(nodeFile('cp2', 'kubelet.conf'), 'utf8')).toContain('server: https://10.0.0.12:6443');

    // Run again without the flag: kept, nothing changes; a control plane added later gets its own.
    const again = await initCluster({ ...options, force: true });
    expect(again.nodes.flatMap((n) => n.init.items).filter((i) => i.name.endsWith('-serving') && i.action !== 'reuse')).toEqual([]);
    await addNode({ name: 'cp3', address: '10.0.0.13', role: 'control-plane', kubeconfigDir: dir });
    expect(sans('cp3')).toContain('10.0.0.13');
    expect(
      (
        await verify({ certDir: path.join(dir, 'nodes/cp3/etc/kubernetes/pki'), kubeconfigDir: path.join(dir, 'nodes/cp3/etc/kubernetes') })
      ).findings.filter((f) => f.severity !== 'info'),
    ).toEqual([]);
  });
});

describe("verify tells which kubeadm a control plane's kubelet.conf follows", () => {
  const ENDPOINT = { controlPlaneEndpoint: 'lb.example.com:6443' };
  const serverNotes = async (dir: string) =>
    (await verify(base(dir))).findings
      .filter((f) => f.code === 'KUBELET_SERVER_MODE' || f.code === 'KUBECONFIG_SERVER_UNEXPECTED')
      .map((f) => [f.code, f.severity, f.diagnosis]);

  it('kubeadm ≥ 1.33 (profile kubeadm): its own apiserver, a note', async () => {
    const dir = await tree(ENDPOINT);
    expect(await serverNotes(dir)).toEqual([
      ['KUBELET_SERVER_MODE', 'info', expect.stringContaining("this node's own apiserver, as kubeadm ≥ 1.33")],
    ]);
    expect((await verify(base(dir))).counts).toEqual({ error: 0, warning: 0, info: 1 });
  });

  it('kubeadm before 1.33 (profile kubeadm-v1.31): the control-plane endpoint, a note', async () => {
    const dir = await tree({ ...ENDPOINT, profile: 'kubeadm-v1.31' });
    expect(await serverNotes(dir)).toEqual([
      ['KUBELET_SERVER_MODE', 'info', expect.stringContaining('the control-plane endpoint, as kubeadm before 1.33')],
    ]);
  });

  it('no endpoint apart from the node: nothing to tell', async () => {
    expect(await serverNotes(await tree())).toEqual([]);
  });

  it('neither: a warning naming both', async () => {
    const dir = await tree(ENDPOINT);
    const file = path.join(dir, 'kubelet.conf');
    writeFileSync(file, readFileSync(file, 'utf8').replace('https://10.0.0.11:6443', 'https://10.0.0.99:6443'));
    expect(await serverNotes(dir)).toEqual([
      [
        'KUBECONFIG_SERVER_UNEXPECTED',
        'warning',
        `${file} points the kubelet at https://10.0.0.99:6443, which is neither the control-plane endpoint (https://lb.example.com:6443) nor this node's apiserver (https://10.0.0.11:6443): the node reports to whatever answers there`,
      ],
    ]);
    // Without admin.conf the endpoint is unknown: 10.0.0.99 may be it (a worker's kubelet points there), so it is not judged.
    renameSync(path.join(dir, 'admin.conf'), path.join(dir, 'admin.conf.away'));
    renameSync(path.join(dir, 'super-admin.conf'), path.join(dir, 'super-admin.conf.away'));
    expect(await serverNotes(dir)).toEqual([
      [
        'KUBELET_SERVER_MODE',
        'info',
        "the kubelet talks to https://10.0.0.99:6443, not this node's apiserver (https://10.0.0.11:6443); whether that is the control-plane endpoint was not checked: no admin.conf here names it",
      ],
    ]);
  });
});

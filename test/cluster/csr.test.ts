/**
 * Certificates signed by a real v1.20.2 cluster through the CSR API (`kpki kubeconfig --via-api`)
 * and the guarded approval of kubelet serving certificates (`kpki approve kubelet-serving`).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCertificate } from '../../src/pki/pem.js';
import { describeRun } from '../interop/helpers.js';
import { KPKI_BIN } from '../support/cli.js';
import { useCluster, waitUntil, type Cluster } from './harness.js';
import { adminConf, createNodeObject, csrState, kubectl, kubectlOk, SERVING_USAGES, submitCsr } from './live-support.js';

const { live } = useCluster();

async function clientCertificate(kubeconfig: string) {
  const doc = parseYaml(await readFile(kubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] };
  return parseCertificate(Buffer.from(doc.users[0]!.user['client-certificate-data']!, 'base64'), kubeconfig);
}

/** CSR names kpki created for a CN prefix. */
async function kpkiCsrs(c: Cluster, prefix: string): Promise<string[]> {
  const names = (await kubectlOk(adminConf(c), ['get', 'csr', '-o', 'name'])).stdout.split('\n');
  return names.map((n) => n.replace(/^.*\//, '')).filter((n) => n.startsWith(`kpki-${prefix}-`));
}

describe('kpki kubeconfig --via-api', () => {
  it('has the cluster sign a user certificate whose kubeconfig authenticates as that user', async () => {
    const c = live();
    const out = path.join(await c.scratch('alice'), 'alice.conf');
    const r = await c.kpki([
      'kubeconfig',
      'user',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--client-name',
      'alice',
      '--org',
      'devs',
      '--approve',
      '--out',
      out,
    ]);
    expect(r.code, describeRun(r)).toBe(0);
    const name = /CSR (kpki-alice-[a-z0-9]+) created/.exec(r.stderr)?.[1];
    expect(name, r.stderr).toBeDefined();
    expect(r.stderr).toContain(`CSR ${name} approved`);
    expect(r.stderr).toMatch(new RegExp(`CSR ${name} issued, valid until `));
    // Authenticated as alice in devs: RBAC names the user in its refusal.
    const pods = await kubectl(out, ['get', 'pods']);
    expect(pods.stderr).toContain('User "alice" cannot list resource "pods"');
    expect((await kubectl(out, ['get', '--raw', '/api'])).code).toBe(0);
    const cert = await clientCertificate(out);
    expect(cert.subject).toBe('O=devs, CN=alice');
    expect(cert.issuer).toBe(parseCertificate(await readFile(path.join(c.certDir, 'ca.crt')), 'ca.crt').subject);
    expect((await csrState(adminConf(c), name!)).conditions).toEqual(['Approved']);
  });

  it('refuses --validity on 1.20, whose apiserver drops expirationSeconds, and withdraws the request', async () => {
    const c = live();
    const r = await c.kpki([
      'kubeconfig',
      'user',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--client-name',
      'bob',
      '--validity',
      '1h',
      '--approve',
    ]);
    expect(r.code).toBe(2);
    const name = /CSR (kpki-bob-[a-z0-9]+) deleted/.exec(r.stderr)?.[1];
    expect(r.stderr).toMatch(/^kpki: --validity: this apiserver \(Kubernetes before 1\.22\) dropped expirationSeconds/m);
    expect(name).toBeDefined();
    expect(await kpkiCsrs(c, 'bob')).toEqual([]);
  });

  it('refuses system:masters before creating anything', async () => {
    const c = live();
    const r = await c.kpki([
      'kubeconfig',
      'user',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--client-name',
      'root',
      '--org',
      'system:masters',
      '--approve',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kpki: --org: system:masters bypasses all authorization/);
    expect(await kpkiCsrs(c, 'root')).toEqual([]);
  });

  it('gives up on a request nobody approves, naming the CSR', async () => {
    const c = live();
    const r = await c.kpki(['kubeconfig', 'user', '--via-api', '--kubeconfig', adminConf(c), '--client-name', 'carol', '--timeout', '3s']);
    expect(r.code).toBe(1);
    const [name] = await kpkiCsrs(c, 'carol');
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `kpki: CSR ${name} was not issued within 3s (pending approval); approve it (kubectl certificate approve ${name}) or pass --approve`,
    );
  });

  it('reports a denied request as one line with the CSR name', async () => {
    const c = live();
    const child = spawn(
      process.execPath,
      [KPKI_BIN, 'kubeconfig', 'user', '--via-api', '--kubeconfig', adminConf(c), '--client-name', 'dave', '--timeout', '90s'],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let name: string | undefined;
      await waitUntil(
        'kpki creating its CSR',
        60_000,
        async () => Boolean((name = (await kpkiCsrs(c, 'dave'))[0])),
        () => stderr,
      );
      await kubectlOk(adminConf(c), ['certificate', 'deny', name!]);
      expect(await exited).toBe(1);
      expect(stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^kpki: CSR ${name} was denied: KubectlDeny`));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('has the cluster sign a node client certificate that authenticates as system:node:NAME', async () => {
    const c = live();
    const out = path.join(await c.scratch('node'), 'worker-9.conf');
    const r = await c.kpki([
      'kubeconfig',
      'node',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--node-name',
      'worker-9',
      '--approve',
      '--out',
      out,
    ]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr).toMatch(/signer kubernetes\.io\/kube-apiserver-client-kubelet/);
    expect((await clientCertificate(out)).subject).toBe('O=system:nodes, CN=system:node:worker-9');
    // The Node authorizer knows it: a node may read its own Node object, not list secrets.
    const secrets = await kubectl(out, ['get', 'secrets', '-A']);
    expect(secrets.stderr).toContain('User "system:node:worker-9" cannot list resource "secrets"');
  });
});

describe('kpki approve kubelet-serving', () => {
  const nodeObject = (c: Cluster, name: string, addresses: [string, string][]) => createNodeObject(adminConf(c), name, addresses);

  it('approves only the request that names its own Node addresses; the others stay pending with the reason', async () => {
    const c = live();
    await nodeObject(c, 'worker-1', [
      ['Hostname', 'worker-1'],
      ['InternalIP', '10.0.0.21'],
    ]);
    await nodeObject(c, 'worker-2', [
      ['Hostname', 'worker-2'],
      ['InternalIP', '10.0.0.22'],
    ]);
    const dir = await c.scratch('kubelet-serving');
    const w1 = path.join(dir, 'worker-1.conf');
    const issued = await c.kpki([
      'kubeconfig',
      'node',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--node-name',
      'worker-1',
      '--approve',
      '--out',
      w1,
    ]);
    expect(issued.code, describeRun(issued)).toBe(0);
    const node1 = { commonName: 'system:node:worker-1', organizations: ['system:nodes'] };
    await submitCsr(w1, { name: 'serving-matching', ...node1, dnsNames: ['worker-1'], ips: ['10.0.0.21'], usages: SERVING_USAGES });
    await submitCsr(w1, {
      name: 'serving-extra-san',
      ...node1,
      dnsNames: ['worker-1', 'kubernetes.default'],
      ips: ['10.0.0.21'],
      usages: SERVING_USAGES,
    });
    await submitCsr(w1, {
      name: 'serving-foreign-node',
      commonName: 'system:node:worker-2',
      organizations: ['system:nodes'],
      dnsNames: ['worker-2'],
      ips: ['10.0.0.22'],
      usages: SERVING_USAGES,
    });
    await submitCsr(w1, { name: 'serving-wrong-usages', ...node1, dnsNames: ['worker-1'], usages: [...SERVING_USAGES, 'client auth'] });
    const ours = (out: string) =>
      out
        .split('\n')
        .filter((l) => / serving-/.test(l))
        .sort();

    const dryRun = await c.kpki(['approve', 'kubelet-serving', '--kubeconfig', adminConf(c), '--dry-run']);
    expect(dryRun.code, describeRun(dryRun)).toBe(0);
    expect(ours(dryRun.stdout)).toEqual([
      'left pending serving-extra-san: DNS name kubernetes.default is not an address of Node worker-1',
      'left pending serving-foreign-node: subject CN is "system:node:worker-2", not the requester system:node:worker-1; DNS name worker-2 is not an address of Node worker-1; IP 10.0.0.22 is not an address of Node worker-1',
      'left pending serving-wrong-usages: usages are [digital signature, key encipherment, server auth, client auth], not [digital signature, server auth]',
      'would approve serving-matching: node worker-1 asks only for its own addresses',
    ]);
    expect((await csrState(adminConf(c), 'serving-matching')).conditions).toEqual([]);

    const approved = await c.kpki(['approve', 'kubelet-serving', '--kubeconfig', adminConf(c)]);
    expect(approved.code, describeRun(approved)).toBe(0);
    expect(ours(approved.stdout).filter((l) => !l.startsWith('left pending'))).toEqual([
      'approved serving-matching: node worker-1 asks only for its own addresses',
    ]);
    await waitUntil('the signer issuing serving-matching', 60_000, async () => (await csrState(adminConf(c), 'serving-matching')).issued);
    for (const name of ['serving-extra-san', 'serving-foreign-node', 'serving-wrong-usages']) {
      expect(await csrState(adminConf(c), name)).toEqual({ conditions: [], issued: false });
    }
  });

  it('--watch approves requests as they arrive, and one whose Node appears later, until interrupted', async () => {
    const c = live();
    const dir = await c.scratch('watch');
    const kubeconfigs = await Promise.all(
      ['worker-3', 'worker-4'].map(async (node) => {
        const out = path.join(dir, `${node}.conf`);
        const issued = await c.kpki([
          'kubeconfig',
          'node',
          '--via-api',
          '--kubeconfig',
          adminConf(c),
          '--node-name',
          node,
          '--approve',
          '--out',
          out,
        ]);
        expect(issued.code, describeRun(issued)).toBe(0);
        return out;
      }),
    );
    await nodeObject(c, 'worker-3', [
      ['Hostname', 'worker-3'],
      ['InternalIP', '10.0.0.23'],
    ]);
    const child = spawn(process.execPath, [KPKI_BIN, 'approve', 'kubelet-serving', '--kubeconfig', adminConf(c), '--watch'], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const approved = (name: string) => async () => (await csrState(adminConf(c), name)).conditions.includes('Approved');
    try {
      await submitCsr(kubeconfigs[0]!, {
        name: 'serving-watched',
        commonName: 'system:node:worker-3',
        organizations: ['system:nodes'],
        dnsNames: ['worker-3'],
        ips: ['10.0.0.23'],
        usages: SERVING_USAGES,
      });
      await waitUntil('kpki --watch approving serving-watched', 60_000, approved('serving-watched'), () => stdout);
      expect(stdout).toContain('approved serving-watched: node worker-3 asks only for its own addresses');
      // A kubelet asks before its Node object exists: pending, then approved once the Node is there.
      await submitCsr(kubeconfigs[1]!, {
        name: 'serving-early',
        commonName: 'system:node:worker-4',
        organizations: ['system:nodes'],
        dnsNames: ['worker-4'],
        ips: ['10.0.0.24'],
        usages: SERVING_USAGES,
      });
      await waitUntil(
        'kpki --watch reporting serving-early',
        60_000,
        async () => stdout.includes('left pending serving-early: there is no Node object worker-4'),
        () => stdout,
      );
      await nodeObject(c, 'worker-4', [
        ['Hostname', 'worker-4'],
        ['InternalIP', '10.0.0.24'],
      ]);
      await waitUntil('kpki --watch approving serving-early', 60_000, approved('serving-early'), () => stdout);
      expect(stdout.match(/serving-early/g)).toHaveLength(2);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

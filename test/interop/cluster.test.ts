/**
 * Whole-cluster generation checked by real peers: a three-node HA control plane behind a VIP
 * (Go crypto/x509 and openssl on every node's apiserver certificate) and a three-member etcd
 * cluster on 127.0.0.11-13, each member with its own node directory's certificates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCluster } from '../../src/commands/cluster.js';
import { useGoverify, type Check } from './goverify.js';
import { etcdMemberArgs, freePorts, requireTool, Resources, run, type BackgroundProcess } from './helpers.js';

const openssl = requireTool('openssl');
const etcd = requireTool('etcd');
const etcdctl = requireTool('etcdctl');
const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);

const NODES = [
  { name: 'cp1', address: '127.0.0.11' },
  { name: 'cp2', address: '127.0.0.12' },
  { name: 'cp3', address: '127.0.0.13' },
];
const VIP = '127.0.0.100';
let root: string;
const nodePki = (name: string, file: string) => path.join(root, 'nodes', name, 'etc/kubernetes/pki', file);

beforeAll(async () => {
  root = await res.tempDir('cluster');
  await initCluster({
    certDir: path.join(root, 'pki'),
    kubeconfigDir: root,
    controlPlaneEndpoint: `${VIP}:6443`,
    controlPlaneNodes: NODES.map((n) => `${n.name}=${n.address}`).join(','),
    workers: 'w1=127.0.0.21',
    keyType: 'ecdsa-p256',
  });
}, 120_000);

/** Every file under a node directory, relative to it. */
function files(name: string): string[] {
  return (readdirSync(path.join(root, 'nodes', name), { recursive: true }) as string[]).filter((f) => f.includes('.')).sort();
}

describe('three control-plane nodes behind a VIP', () => {
  const inCluster = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', '10.96.0.1'];

  it('each apiserver certificate verifies (Go) for the VIP, its own address and in-cluster names, and not for another node', async () => {
    const cases = NODES.flatMap((node) =>
      [VIP, node.address, node.name, ...inCluster, ...NODES.filter((o) => o !== node).map((o) => o.address)].map((host) => ({
        node,
        host,
      })),
    );
    const checks: Check[] = cases.map(({ node, host }) => ({
      kind: 'verify',
      cert: nodePki(node.name, 'apiserver.crt'),
      roots: path.join(root, 'pki/ca.crt'),
      usage: 'server',
      host,
    }));
    const results = await goCheck(checks);
    cases.forEach(({ node, host }, i) => {
      const foreign = NODES.some((o) => o !== node && o.address === host);
      expect({ node: node.name, host, ok: results[i]!.ok }).toEqual({ node: node.name, host, ok: !foreign });
      if (foreign) expect(results[i]!.error).toMatch(new RegExp(`^x509: certificate is valid for .*, not ${host.replace(/\./g, '\\.')}$`));
    });
  });

  it("openssl agrees on the VIP and on another node's address", async () => {
    for (const node of NODES) {
      const ok = await run(openssl, [
        'verify',
        '-purpose',
        'sslserver',
        '-verify_ip',
        VIP,
        '-CAfile',
        path.join(root, 'pki/ca.crt'),
        nodePki(node.name, 'apiserver.crt'),
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      const other = NODES.find((o) => o !== node)!.address;
      const refused = await run(openssl, [
        'verify',
        '-purpose',
        'sslserver',
        '-verify_ip',
        other,
        '-CAfile',
        path.join(root, 'pki/ca.crt'),
        nodePki(node.name, 'apiserver.crt'),
      ]);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(/error 64 .*IP address mismatch/);
    }
  });

  it('node directories differ only where they must', () => {
    const layout = files('cp1');
    for (const node of NODES) expect(files(node.name)).toEqual(layout);
    const shared = [
      'ca.crt',
      'ca.key',
      'front-proxy-ca.crt',
      'front-proxy-ca.key',
      'front-proxy-client.crt',
      'front-proxy-client.key',
      'etcd/ca.crt',
      'etcd/ca.key',
      'sa.key',
      'sa.pub',
    ];
    for (const file of shared) {
      const bytes = readFileSync(path.join(root, 'pki', file));
      for (const node of NODES) expect(readFileSync(nodePki(node.name, file)).equals(bytes), `${node.name} ${file}`).toBe(true);
    }
    for (const file of ['apiserver.crt', 'etcd/server.crt', 'etcd/peer.key', 'apiserver-kubelet-client.key']) {
      const all = NODES.map((n) => readFileSync(nodePki(n.name, file)).toString('base64'));
      expect(new Set(all).size, file).toBe(NODES.length);
    }
    expect(files('w1')).toEqual(['etc/kubernetes/kubelet.conf', 'etc/kubernetes/pki/ca.crt']);
    expect(readFileSync(path.join(root, 'nodes/w1/etc/kubernetes/kubelet.conf'), 'utf8')).toContain(`server: https://${VIP}:6443`);
  });
});

describe('a three-member etcd cluster from the node directories', () => {
  const procs: BackgroundProcess[] = [];
  let endpoints: string[] = [];

  beforeAll(async () => {
    const dataRoot = await res.tempDir('etcd3');
    const members = await Promise.all(
      NODES.map(async (n) => {
        const [client, peer] = await freePorts(2, n.address);
        return { ...n, clientUrl: `https://${n.address}:${client}`, peerUrl: `https://${n.address}:${peer}` };
      }),
    );
    endpoints = members.map((m) => m.clientUrl);
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    for (const m of members) {
      procs.push(
        res.start(
          `etcd ${m.name}`,
          etcd,
          etcdMemberArgs({
            ...m,
            dataDir: path.join(dataRoot, m.name),
            initialCluster,
            server: { cert: nodePki(m.name, 'etcd/server.crt'), key: nodePki(m.name, 'etcd/server.key') },
            peer: { cert: nodePki(m.name, 'etcd/peer.crt'), key: nodePki(m.name, 'etcd/peer.key') },
            ca: nodePki(m.name, 'etcd/ca.crt'),
          }),
        ),
      );
    }
    await Promise.all(procs.map((p) => p.waitFor(/"msg":"published local member to cluster through raft"/, { timeoutMs: 90_000 })));
  }, 120_000);

  const ctl = (name: string, args: string[]) =>
    run(
      etcdctl,
      [
        '--endpoints',
        endpoints.join(','),
        '--cacert',
        nodePki(name, 'etcd/ca.crt'),
        '--cert',
        nodePki(name, 'etcd/healthcheck-client.crt'),
        '--key',
        nodePki(name, 'etcd/healthcheck-client.key'),
        ...args,
      ],
      { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 },
    );

  it('etcdctl member list shows all three members', async () => {
    const r = await ctl('cp2', ['member', 'list', '-w', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const names = (JSON.parse(r.stdout).members as { name: string }[]).map((m) => m.name).sort();
    expect(names).toEqual(['cp1', 'cp2', 'cp3']);
  });

  it("endpoint health succeeds on every member with each node's healthcheck client", async () => {
    for (const node of NODES) {
      const r = await ctl(node.name, ['endpoint', 'health']);
      expect(r.code, r.stderr).toBe(0);
      // etcdctl 3.4 prints health to stderr.
      expect(`${r.stdout}${r.stderr}`.match(/is healthy/g)).toHaveLength(3);
    }
  });
});

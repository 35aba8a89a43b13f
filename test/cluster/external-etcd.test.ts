/**
 * The external-etcd shape (`kpki init --etcd-members`, harness.ts with etcd: 'external'): three real
 * etcd members etcd1..3 each running from its own node directory, two kube-apiservers behind haproxy
 * whose --etcd-servers is the list kpki init printed, the controller manager, the sample-apiserver,
 * and worker w1 running a real kubelet (node.ts) with kpki's offline serving certificate.
 * First what the shape must prove as written; then, on the same cluster, day 2: `kpki renew --all`,
 * a full CA rotation and a second rotation aborted, with the client loop (day2-loop.ts) that also
 * fetches the worker's pod logs and watches its Node stay Ready.
 */
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, requireTool, run } from '../interop/helpers.js';
import { expectKubeconfigsAuthenticate, kpkiVerify, NODE_NAMES, verifyNode, type VerifyRun } from './checks.js';
import { day2OnCluster, type Day2Step } from './day2-loop.js';
import { httpsRequest, useCluster, waitUntil, type EtcdMember } from './harness.js';

const { live } = useCluster({ etcd: 'external', kubelet: 'offline', keyType: 'ecdsa-p256' });

/** Renew everything, rotate every CA and the SA key to the end, then begin a second rotation and abort it. */
const EXTERNAL_DAY2: Day2Step[] = [
  { phase: 'renew --all --add-san', args: ['renew', '--all', '--add-san', 'k8s-api-alias.example.test'] },
  { phase: 'rotate begin', args: ['ca', 'rotate', 'begin', '--service-account'] },
  { phase: 'rotate reissue', args: ['ca', 'rotate', 'reissue'] },
  { phase: 'rotate finish', args: ['ca', 'rotate', 'finish'] },
  { phase: 'second rotation: begin', args: ['ca', 'rotate', 'begin', '--service-account'] },
  { phase: 'abort', args: ['ca', 'rotate', 'abort'] },
];

/** etcdctl (v3 API) against the given endpoints with a client certificate pair and the etcd CA. */
async function etcdctl(endpoints: string, ca: string, client: { cert: string; key: string }, args: string[]) {
  const r = await run(
    requireTool('etcdctl'),
    ['--endpoints', endpoints, '--cacert', ca, '--cert', client.cert, '--key', client.key, '--command-timeout=10s', ...args],
    {
      env: { ETCDCTL_API: '3' },
      timeoutMs: 30_000,
    },
  );
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

const pair = (pki: (file: string) => string, name: string) => ({ cert: pki(`${name}.crt`), key: pki(`${name}.key`) });

/** No error and no warning (notes are fine), exit 0. */
function expectClean(label: string, v: VerifyRun): void {
  const problems = v.findings
    .filter((f) => f.severity !== 'info')
    .map((f) => `${label}: ${f.severity} ${f.code} ${f.subject}: ${f.diagnosis}`);
  expect(problems, describeRun(v.run)).toEqual([]);
  expect(v.run.code, `${label}\n${describeRun(v.run)}`).toBe(0);
}

describe('external etcd: three members, two control planes, one worker', () => {
  it('the three members form one cluster over peer TLS: each peer port serves its member certificate and demands an etcd-CA client certificate', async () => {
    const c = live();
    const [etcd1, etcd2] = c.etcdMembers as [EtcdMember, EtcdMember, EtcdMember];
    const list = JSON.parse(
      await etcdctl(c.etcdUrl, etcd1.pki('etcd/ca.crt'), pair(etcd1.pki, 'etcd/healthcheck-client'), ['member', 'list', '-w', 'json']),
    ) as {
      members: { name: string; peerURLs: string[]; clientURLs: string[] }[];
    };
    expect(list.members.map((m) => [m.name, m.peerURLs, m.clientURLs]).sort()).toEqual(
      c.etcdMembers.map((m) => [m.name, [m.peerUrl], [m.clientUrl]]),
    );
    // Each member is healthy (a quorum read through it), asked with each member's own healthcheck client.
    for (const m of c.etcdMembers) {
      const health = await etcdctl(c.etcdUrl, m.pki('etcd/ca.crt'), pair(m.pki, 'etcd/healthcheck-client'), [
        'endpoint',
        'health',
        '-w',
        'json',
      ]);
      expect((JSON.parse(health) as { endpoint: string; health: boolean }[]).map((h) => [h.endpoint, h.health]).sort()).toEqual(
        c.etcdMembers.map((e) => [e.clientUrl, true]),
      );
    }
    // The peer API as a member dials it: etcd2's peer certificate, etcd1's address verified against its peer certificate.
    const ca = await readFile(etcd1.pki('etcd/ca.crt'), 'utf8');
    const members = await httpsRequest(`${etcd1.peerUrl}/members`, {
      ca,
      cert: await readFile(etcd2.pki('etcd/peer.crt'), 'utf8'),
      key: await readFile(etcd2.pki('etcd/peer.key'), 'utf8'),
    });
    expect(members.status, members.body).toBe(200);
    expect((JSON.parse(members.body) as { name: string }[]).map((m) => m.name).sort()).toEqual(['etcd1', 'etcd2', 'etcd3']);
    // Without a client certificate the peer port refuses (--peer-client-cert-auth).
    await expect(httpsRequest(`${etcd1.peerUrl}/members`, { ca })).rejects.toThrow(
      /certificate required|socket hang up|ECONNRESET|bad certificate/,
    );
  });

  it('each control plane reaches every member with its apiserver-etcd-client certificate (every member certificate verified for its own address)', async () => {
    const c = live();
    for (const n of NODE_NAMES) {
      const node = c.nodes[n];
      const health = await etcdctl(c.etcdUrl, node.pki('etcd/ca.crt'), pair(node.pki, 'apiserver-etcd-client'), [
        'endpoint',
        'health',
        '-w',
        'json',
      ]);
      expect(
        (JSON.parse(health) as { endpoint: string; health: boolean }[]).every((h) => h.health),
        `${n}: ${health}`,
      ).toBe(true);
      // The apiserver runs with every member, as kpki init's summary lists them.
      const flags = await readFile(c.flagsFile('kube-apiserver', n), 'utf8');
      expect(flags).toContain(`--etcd-servers=${c.etcdMembers.map((m) => m.clientUrl).join(',')}\n`);
    }
  });

  it('with any one member stopped, both apiservers still write: each reaches the other two', async () => {
    const c = live();
    for (const m of c.etcdMembers) {
      await c.process('etcd', m.name).stop(5_000);
      try {
        for (const n of NODE_NAMES) {
          const name = `kpki-without-${m.name}-via-${n}`;
          // The etcd client moves to the remaining members within a few seconds; the write then succeeds.
          await waitUntil(`${n} writes with ${m.name} down`, 60_000, async () => {
            const r = await c.kubectl(c.admin, ['--server', c.nodes[n].url, 'create', 'configmap', name, '-n', 'default']);
            if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr.trim());
            return true;
          });
        }
      } finally {
        await c.restart('etcd', m.name);
      }
    }
    const names = (await c.kubectl(c.admin, ['get', 'configmap', '-n', 'default', '-o', 'name'])).stdout;
    for (const m of c.etcdMembers) for (const n of NODE_NAMES) expect(names).toContain(`configmap/kpki-without-${m.name}-via-${n}`);
  });

  it('admin, super-admin, controller-manager, scheduler and kubelet kubeconfigs authenticate through the VIP and each apiserver', async () => {
    await expectKubeconfigsAuthenticate(live());
  });

  it("the worker registered through kpki's kubelet.conf and serves kpki's certificate to the apiservers: kubectl logs", async () => {
    const c = live();
    const worker = c.worker.node!;
    const r = await c.kubectl(c.admin, ['logs', '-n', worker.pod.namespace, worker.pod.name]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toContain('kpki static pod up');
  });

  it('kpki verify is clean where kpki-cluster.json is, on the shared set, on every node directory kpki wrote (--root) and on what each node runs', async () => {
    const c = live();
    expectClean('cluster directory', await kpkiVerify(c, [], c.root));
    expectClean('shared set', await kpkiVerify(c, ['--cert-dir', c.certDir, '--kubeconfig-dir', c.root]));
    // --root on each node directory as kpki wrote it (the harness's flags files and the worker's kubelet configuration left out).
    for (const node of ['cp1', 'cp2', 'etcd1', 'etcd2', 'etcd3', 'w1']) {
      const copy = await c.scratch(`root-${node}`);
      await cp(path.join(c.root, 'nodes', node, 'etc'), path.join(copy, 'etc'), { recursive: true });
      await cp(path.join(c.root, 'nodes', node, 'var/lib/kubelet/pki'), path.join(copy, 'var/lib/kubelet/pki'), { recursive: true }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        },
      );
      expectClean(`--root nodes/${node}`, await kpkiVerify(c, ['--root', copy]));
    }
    for (const n of NODE_NAMES) expectClean(`${n} as it runs`, await verifyNode(c, n));
    for (const m of c.etcdMembers)
      expectClean(`${m.name} as it runs`, await kpkiVerify(c, ['--cert-dir', m.pki(''), '--etcd-args', c.flagsFile('etcd', m.name)]));
    const worker = c.worker.node!;
    // With the worker's --cert-dir, its CA and kubelet.conf are checked beside the kubelet configuration.
    expectClean(
      'w1 as it runs',
      await kpkiVerify(c, [
        '--cert-dir',
        path.join(worker.nodeDir, 'etc/kubernetes/pki'),
        '--kubelet-config',
        worker.flags,
        '--node-address',
        `InternalIP=${worker.address}`,
      ]),
    );
  });

  it('day 2: renew --all, a full CA rotation and an aborted one, restarts as printed (etcd members first, the kubelet too), no failed routable request, the Node Ready throughout', async () => {
    await day2OnCluster(live(), EXTERNAL_DAY2);
  }, 3_000_000);
});

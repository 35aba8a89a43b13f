import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addNode, initCluster, parseNodeList, type ClusterOptions, type ClusterResult } from '../../src/commands/cluster.js';
import { ErrorCode } from '../../src/errors.js';
import { parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { parseCertificate, parseCertificates } from '../../src/pki/pem.js';
import { verifyCertificate } from '../../src/pki/verify.js';
import { rejection, thrown } from '../support/errors.js';
import { snapshot, tempDir } from '../support/tmp.js';

const now = new Date();

function layout(dir: string, extra: Partial<ClusterOptions>): ClusterOptions {
  return { certDir: path.join(dir, 'pki'), kubeconfigDir: dir, keyType: 'ecdsa-p256', ...extra };
}

const cert = (file: string) => parseCertificate(readFileSync(file), file);
const facts = (file: string) => certificateFacts(cert(file));
const node = (dir: string, name: string, file: string) => path.join(dir, 'nodes', name, file);

/** Go's verdict (as src/pki/verify.ts reproduces it) for a leaf against the cluster's CA file. */
async function verdict(leaf: string, caFile: string, usage: 'serverAuth' | 'clientAuth', host?: string): Promise<string> {
  const result = await verifyCertificate(cert(leaf), { roots: parseCertificates(readFileSync(caFile), caFile), usage, host, now });
  return result.ok ? 'ok' : result.error;
}

describe('parseNodeList', () => {
  it('reads NAME=IP lists with IPv4 and IPv6, names lower-cased; a bare IP is a second address (dual-stack)', () => {
    expect(parseNodeList('--workers', 'W1=10.0.0.21, w2=fd00::0:22,10.0.0.22,w3=10.0.0.23', 'worker')).toEqual([
      { name: 'w1', addresses: ['10.0.0.21'], role: 'worker' },
      { name: 'w2', addresses: ['fd00::22', '10.0.0.22'], role: 'worker' },
      { name: 'w3', addresses: ['10.0.0.23'], role: 'worker' },
    ]);
  });

  it.each(['w1', 'w1=', 'w1=10.0.0.300', 'w1=0.0.0.0', '=10.0.0.1', 'w1=10.0.0.1=x', '10.0.0.1,w1=10.0.0.2', 'w1=10.0.0.1,w2'])(
    'rejects %j naming the flag',
    (item) => {
      const error = thrown(() => parseNodeList('--workers', item, 'worker'));
      expect(error.code).toBe(ErrorCode.BadFlag);
      expect(error.message).toContain('--workers');
      expect(error.message).toContain('NAME=IP');
    },
  );

  it.each(['w_1', 'Bad_Node!', '10.0.0.1.5'])('rejects the node name %j, naming the flag and the node', (name) => {
    const error = thrown(() => parseNodeList('--workers', `${name}=10.0.0.1`, 'worker'));
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toContain(`--workers (node ${name}): "${name}" is not a valid node name`);
  });
});

describe('stacked etcd: three control planes, a worker, kubelet serving certificates', () => {
  let dir: string;
  let result: ClusterResult;
  const options = () =>
    layout(dir, {
      controlPlaneEndpoint: 'lb.example.com:6443',
      controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12,fd00::12,cp3=fd00::13',
      workers: 'w1=10.0.0.21',
      kubeletServingCerts: true,
    });

  beforeAll(async () => {
    dir = tempDir();
    result = await initCluster(options());
  }, 60_000);

  it('writes the shared set once and a directory per node', () => {
    expect(result.shared.items.map((i) => i.name)).toEqual([
      'ca',
      'front-proxy-ca',
      'front-proxy-client',
      'etcd-ca',
      'sa',
      'admin.conf',
      'super-admin.conf',
      'kubeadm-cluster-admins',
    ]);
    expect(result.nodes.map((n) => [n.name, n.role, n.addresses])).toEqual([
      ['cp1', 'control-plane', ['10.0.0.11']],
      ['cp2', 'control-plane', ['10.0.0.12', 'fd00::12']],
      ['cp3', 'control-plane', ['fd00::13']],
      ['w1', 'worker', ['10.0.0.21']],
    ]);
    expect(result.etcdServers).toEqual(['https://10.0.0.11:2379', 'https://10.0.0.12:2379', 'https://[fd00::13]:2379']);
    const record = JSON.parse(readFileSync(result.record, 'utf8'));
    expect(record.topology).toBe('stacked');
    expect(record.nodes).toHaveLength(4);
    // Relative to the record, so the tree can move.
    expect([record.settings.certDir, record.settings.kubeconfigDir, record.settings.nodesDir]).toEqual(['pki', '.', 'nodes']);
  });

  it('each control plane has its own apiserver and etcd certificates for its address, the VIP host and in-cluster names', async () => {
    for (const [name, addresses] of [
      ['cp1', ['10.0.0.11']],
      ['cp2', ['10.0.0.12', 'fd00::12']],
      ['cp3', ['fd00::13']],
    ] as const) {
      const apiserver = facts(node(dir, name, 'etc/kubernetes/pki/apiserver.crt'));
      expect(apiserver.dnsNames).toEqual([
        name,
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        'lb.example.com',
      ]);
      expect(apiserver.ipAddresses).toEqual(['10.96.0.1', ...addresses]);
      const etcdServer = facts(node(dir, name, 'etc/kubernetes/pki/etcd/server.crt'));
      expect(etcdServer.commonName).toBe(name);
      expect(etcdServer.ipAddresses).toEqual([addresses[0], '127.0.0.1', '::1', ...addresses.slice(1)]);
      for (const address of addresses) {
        expect(
          await verdict(node(dir, name, 'etc/kubernetes/pki/etcd/peer.crt'), path.join(dir, 'pki/etcd/ca.crt'), 'serverAuth', address),
        ).toBe('ok');
        expect(
          await verdict(node(dir, name, 'etc/kubernetes/pki/apiserver.crt'), path.join(dir, 'pki/ca.crt'), 'serverAuth', address),
        ).toBe('ok');
      }
    }
    expect(
      await verdict(node(dir, 'cp3', 'etc/kubernetes/pki/apiserver.crt'), path.join(dir, 'pki/ca.crt'), 'serverAuth', '10.0.0.11'),
    ).toMatch(/^x509: certificate is valid for .*, not 10\.0\.0\.11$/);
  });

  it("control planes carry the cluster's CA keys and service-account key; workers only ca.crt and kubelet.conf", () => {
    for (const file of [
      'ca.key',
      'front-proxy-ca.key',
      'etcd/ca.key',
      'sa.key',
      'sa.pub',
      'ca.crt',
      'front-proxy-client.crt',
      'front-proxy-client.key',
    ]) {
      expect(readFileSync(node(dir, 'cp2', `etc/kubernetes/pki/${file}`)).equals(readFileSync(path.join(dir, 'pki', file))), file).toBe(
        true,
      );
    }
    expect([...snapshot(node(dir, 'w1', '.')).keys()].sort()).toEqual([
      'etc/kubernetes/kubelet.conf',
      'etc/kubernetes/pki/ca.crt',
      'var/lib/kubelet/pki/kubelet.crt',
      'var/lib/kubelet/pki/kubelet.key',
    ]);
    const kubelet = parseKubeconfig(readFileSync(node(dir, 'w1', 'etc/kubernetes/kubelet.conf'), 'utf8'), 'kubelet.conf');
    expect(kubelet.server).toBe('https://lb.example.com:6443');
    const client = certificateFacts(parseCertificate(kubelet.clientCertificate!.data!, 'kubelet.conf'));
    expect([client.commonName, client.organizations]).toEqual(['system:node:w1', ['system:nodes']]);
  });

  it('kubelet serving certificates name the node and its address, signed by the cluster CA for serverAuth', async () => {
    for (const [name, address] of [
      ['w1', '10.0.0.21'],
      ['cp3', 'fd00::13'],
    ] as const) {
      const file = node(dir, name, 'var/lib/kubelet/pki/kubelet.crt');
      const f = facts(file);
      expect([f.commonName, f.organizations, f.dnsNames, f.ipAddresses, f.extKeyUsages]).toEqual([
        `system:node:${name}`,
        ['system:nodes'],
        [name],
        [address],
        ['serverAuth'],
      ]);
      expect(await verdict(file, path.join(dir, 'pki/ca.crt'), 'serverAuth', address)).toBe('ok');
      expect(await verdict(file, path.join(dir, 'pki/ca.crt'), 'clientAuth')).toMatch(/incompatible key usage/);
    }
  });

  it('a second run changes nothing', async () => {
    const before = snapshot(dir);
    const again = await initCluster(options());
    expect(again.shared.changed).toBe(false);
    for (const n of again.nodes) {
      expect(n.init.changed, n.name).toBe(false);
      expect(n.init.items.find((i) => i.name === 'kubelet-serving')?.action).toBe('reuse');
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it('a dry run plans every node with its SANs and writes nothing', async () => {
    const before = snapshot(dir);
    const plan = await initCluster({ ...options(), workers: 'w1=10.0.0.21,w9=10.0.0.29', dryRun: true });
    expect(plan.nodes.map((n) => n.name)).toEqual(['cp1', 'cp2', 'cp3', 'w1', 'w9']);
    const w9 = plan.nodes.find((n) => n.name === 'w9')!;
    expect(w9.init.items.map((i) => [i.name, i.action])).toEqual([
      ['ca', 'copy'],
      ['kubelet-serving', 'create'],
      ['kubelet.conf', 'create'],
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a node that holds a different CA is refused, even with --force, and kept', async () => {
    const victim = node(dir, 'w1', 'etc/kubernetes/pki/ca.crt');
    const original = readFileSync(victim);
    writeFileSync(victim, readFileSync(path.join(dir, 'pki/front-proxy-ca.crt')));
    try {
      for (const force of [false, true]) {
        const error = await rejection(initCluster({ ...options(), force }));
        expect(error.code).toBe(ErrorCode.StaleFile);
        expect(error.message).toContain(`${victim} is not the cluster's ca (${path.join(dir, 'pki/ca.crt')})`);
      }
      expect(readFileSync(victim).equals(readFileSync(path.join(dir, 'pki/front-proxy-ca.crt')))).toBe(true);
    } finally {
      writeFileSync(victim, original);
    }
  });

  it("the front-proxy client is one shared certificate: renewing it replaces every control plane's copy", async () => {
    const nodeCopy = node(dir, 'cp1', 'etc/kubernetes/pki/front-proxy-client.crt');
    const before = readFileSync(nodeCopy);
    const renewed = await initCluster({ ...options(), renew: ['front-proxy-client'] });
    expect(renewed.shared.items.find((i) => i.name === 'front-proxy-client')!.action).toBe('reissue');
    expect(
      renewed.nodes.filter((n) => n.role === 'control-plane').map((n) => n.init.items.find((i) => i.name === 'front-proxy-client')!.action),
    ).toEqual(['copy', 'copy', 'copy']);
    for (const name of ['cp1', 'cp2', 'cp3']) {
      for (const file of ['front-proxy-client.crt', 'front-proxy-client.key']) {
        expect(
          readFileSync(node(dir, name, `etc/kubernetes/pki/${file}`)).equals(readFileSync(path.join(dir, 'pki', file))),
          `${name} ${file}`,
        ).toBe(true);
      }
    }
    expect(readFileSync(nodeCopy).equals(before)).toBe(false);
  });

  it('a node whose copy of a shared key differs is refused without --renew, and kept', async () => {
    const victim = node(dir, 'cp2', 'etc/kubernetes/pki/front-proxy-client.key');
    const original = readFileSync(victim);
    const other = readFileSync(node(dir, 'cp2', 'etc/kubernetes/pki/apiserver.key'));
    writeFileSync(victim, other);
    try {
      const error = await rejection(initCluster(options()));
      expect(error.message).toContain(`${victim} differs from the cluster's ${path.join(dir, 'pki/front-proxy-client')}`);
      expect(readFileSync(victim).equals(other)).toBe(true);
    } finally {
      writeFileSync(victim, original);
    }
  });

  describe('kpki node add', () => {
    it('adds a dual-stack worker from the same CAs without touching other nodes', async () => {
      const before = snapshot(dir);
      const added = await addNode({ name: 'w2', address: '10.0.0.22,fd00::22', role: 'worker', kubeconfigDir: dir });
      expect(added.init.items.map((i) => [i.name, i.action])).toEqual([
        ['ca', 'copy'],
        ['kubelet-serving', 'create'],
        ['kubelet.conf', 'create'],
      ]);
      const after = snapshot(dir);
      for (const [file, content] of before) if (file !== 'kpki-cluster.json') expect(after.get(file), file).toBe(content);
      expect([...after.keys()].filter((f) => !before.has(f)).sort()).toEqual([
        'nodes/w2/etc/kubernetes/kubelet.conf',
        'nodes/w2/etc/kubernetes/pki/ca.crt',
        'nodes/w2/var/lib/kubelet/pki/kubelet.crt',
        'nodes/w2/var/lib/kubelet/pki/kubelet.key',
      ]);
      const record = JSON.parse(readFileSync(result.record, 'utf8'));
      expect(record.nodes.at(-1)).toEqual({ name: 'w2', addresses: ['10.0.0.22', 'fd00::22'], role: 'worker' });
      for (const address of ['10.0.0.22', 'fd00::22']) {
        expect(await verdict(node(dir, 'w2', 'var/lib/kubelet/pki/kubelet.crt'), path.join(dir, 'pki/ca.crt'), 'serverAuth', address)).toBe(
          'ok',
        );
      }
    });

    it('adds a control plane with the recorded endpoint and settings; adding it again changes nothing', async () => {
      await addNode({ name: 'cp4', address: '10.0.0.14', role: 'control-plane', kubeconfigDir: dir });
      const apiserver = facts(node(dir, 'cp4', 'etc/kubernetes/pki/apiserver.crt'));
      expect(apiserver.dnsNames).toContain('lb.example.com');
      expect(apiserver.ipAddresses).toEqual(['10.96.0.1', '10.0.0.14']);
      const before = snapshot(dir);
      const again = await addNode({ name: 'cp4', address: '10.0.0.14', role: 'control-plane', kubeconfigDir: dir });
      expect(again.init.changed).toBe(false);
      expect(snapshot(dir)).toEqual(before);
    });

    it('refuses a name already used with another address or role', async () => {
      const error = await rejection(addNode({ name: 'cp2', address: '10.0.0.99', role: 'control-plane', kubeconfigDir: dir }));
      expect(error.message).toContain('node cp2 already exists as control-plane at 10.0.0.12');
    });

    it('needs the cluster record', async () => {
      const error = await rejection(addNode({ name: 'w3', address: '10.0.0.23', role: 'worker', kubeconfigDir: tempDir() }));
      expect(error.message).toMatch(/kpki-cluster\.json: not found/);
      expect(error.hint).toContain('kpki init --control-plane-nodes');
    });

    it.each(['not json', '{"nodes": {}}', '{"nodes": [], "settings": {"certDir": 1}}'])(
      'reports a damaged record %j by name',
      async (text) => {
        const elsewhere = tempDir();
        writeFileSync(path.join(elsewhere, 'kpki-cluster.json'), text);
        const error = await rejection(addNode({ name: 'w3', address: '10.0.0.23', role: 'worker', kubeconfigDir: elsewhere }));
        expect(error.code).toBe(ErrorCode.BadInput);
        expect(error.message).toMatch(/kpki-cluster\.json: is not (valid JSON|a kpki cluster record)/);
      },
    );

    it('rejects an --address that names more than one node', async () => {
      const error = await rejection(addNode({ name: 'w3', address: '10.0.0.23,w4=10.0.0.24', role: 'worker', kubeconfigDir: dir }));
      expect(error.message).toContain('--address: "10.0.0.23,w4=10.0.0.24" is not one node\'s addresses');
    });
  });
});

describe('external etcd: control planes and separate etcd members', () => {
  let dir: string;
  let result: ClusterResult;

  beforeAll(async () => {
    dir = tempDir();
    result = await initCluster(
      layout(dir, {
        controlPlaneEndpoint: '10.0.0.100',
        controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12',
        etcdMembers: 'etcd1=10.0.1.1,etcd2=10.0.1.2,etcd3=10.0.1.3',
      }),
    );
  }, 60_000);

  it('points the apiservers at the etcd members', () => {
    expect(result.etcdServers).toEqual(['https://10.0.1.1:2379', 'https://10.0.1.2:2379', 'https://10.0.1.3:2379']);
  });

  it('control planes keep the etcd CA certificate and their etcd client, not the etcd CA key or member certificates', () => {
    const files = [...snapshot(node(dir, 'cp1', 'etc/kubernetes/pki')).keys()];
    expect(files).toContain('etcd/ca.crt');
    expect(files).toContain('apiserver-etcd-client.crt');
    for (const absent of ['etcd/ca.key', 'etcd/server.crt', 'etcd/peer.crt', 'etcd/healthcheck-client.crt'])
      expect(files).not.toContain(absent);
    expect(existsSync(node(dir, 'cp1', 'etc/kubernetes/pki/ca.key'))).toBe(true);
  });

  it('each etcd member has server and peer certificates for its own address, and no CA key', async () => {
    for (const [name, address] of [
      ['etcd1', '10.0.1.1'],
      ['etcd2', '10.0.1.2'],
      ['etcd3', '10.0.1.3'],
    ]) {
      const files = [...snapshot(node(dir, name!, 'etc/kubernetes/pki')).keys()].sort();
      expect(files).toEqual([
        'etcd/ca.crt',
        'etcd/healthcheck-client.crt',
        'etcd/healthcheck-client.key',
        'etcd/peer.crt',
        'etcd/peer.key',
        'etcd/server.crt',
        'etcd/server.key',
      ]);
      const caFile = path.join(dir, 'pki/etcd/ca.crt');
      expect(await verdict(node(dir, name!, 'etc/kubernetes/pki/etcd/server.crt'), caFile, 'serverAuth', address)).toBe('ok');
      expect(await verdict(node(dir, name!, 'etc/kubernetes/pki/etcd/peer.crt'), caFile, 'clientAuth')).toBe('ok');
    }
    // The apiserver's etcd client certificate is trusted by every member's --trusted-ca-file.
    expect(
      await verdict(
        node(dir, 'cp2', 'etc/kubernetes/pki/apiserver-etcd-client.crt'),
        node(dir, 'etcd3', 'etc/kubernetes/pki/etcd/ca.crt'),
        'clientAuth',
      ),
    ).toBe('ok');
  });
});

describe('cluster flag errors', () => {
  it.each([
    [{ workers: 'w1=10.0.0.21' }, '--control-plane-nodes: names no node'],
    [{ controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12' }, '--control-plane-endpoint: is required with 2 control-plane nodes'],
    [{ controlPlaneNodes: 'cp1=10.0.0.11', workers: 'cp1=10.0.0.21' }, 'node "cp1" is listed twice'],
  ])('%j', async (flags, message) => {
    const dir = tempDir();
    const error = await rejection(initCluster(layout(dir, flags)));
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toContain(message);
    expect(snapshot(dir).size).toBe(0);
  });
});

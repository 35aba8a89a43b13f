/**
 * `kpki verify` on every directory `kpki init` writes, for every cluster shape it writes: the
 * shared set, each node (control planes, external etcd members, workers) through --root, and the
 * whole cluster where kpki-cluster.json is. Each must be clean; a seeded fault per shape proves the
 * check can fail, with the code a real component's failure maps to.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kpki, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

interface Finding {
  code: string;
  severity: string;
  subject: string;
  diagnosis: string;
  node?: string;
}
interface Result {
  findings: Finding[];
  locations?: { name: string; role: string; findings: Finding[] }[];
}

const errorsOf = (r: CliResult) => (JSON.parse(r.stdout) as Result).findings.filter((f) => f.severity === 'error');
const describeErrors = (r: CliResult) =>
  `${r.stderr}${errorsOf(r)
    .map((f) => `${f.node ?? ''} ${f.code} ${f.subject}: ${f.diagnosis}`)
    .join('\n')}`;

/** Runs verify with --json in the cluster's directory; exit 0 and no error finding. */
function expectClean(dir: string, args: string[]): Result {
  const r = kpki(['verify', ...args, '--json'], { cwd: dir });
  expect(r.status, `kpki verify ${args.join(' ')}: ${describeErrors(r)}`).toBe(0);
  expect(errorsOf(r)).toEqual([]);
  return JSON.parse(r.stdout) as Result;
}

/** Runs verify expecting exit 1 with `code` among the errors; returns those errors. */
function expectError(dir: string, args: string[], code: string): Finding[] {
  const r = kpki(['verify', ...args, '--json'], { cwd: dir });
  expect(r.status, r.stderr).toBe(1);
  const errors = errorsOf(r).filter((f) => f.code === code);
  expect(errors.length, describeErrors(r)).toBeGreaterThan(0);
  return errors;
}

const ENDPOINT = ['--control-plane-endpoint', '127.0.0.10:6443'];

const SHAPES: Record<string, string[]> = {
  'stacked HA with workers and kubelet serving certificates': [
    ...ENDPOINT,
    '--control-plane-nodes',
    'cp1=127.0.0.11,cp2=127.0.0.12,cp3=127.0.0.13',
    '--workers',
    'w1=127.0.0.21,w2=127.0.0.22',
    '--kubelet-serving-certs',
  ],
  'external etcd: 3 members, 2 control planes, 1 worker': [
    ...ENDPOINT,
    '--control-plane-nodes',
    'cp1=127.0.0.11,cp2=127.0.0.12',
    '--etcd-members',
    'e1=127.0.0.31,e2=127.0.0.32,e3=127.0.0.33',
    '--workers',
    'w1=127.0.0.21',
  ],
  'dual-stack, IPv4 primary': [
    '--service-cidr',
    '10.96.0.0/12,fd00:10::/108',
    '--control-plane-nodes',
    'cp1=127.0.0.11,::1',
    '--workers',
    'w1=127.0.0.21',
    '--kubelet-serving-certs',
  ],
  'dual-stack, IPv6 primary': [
    '--service-cidr',
    'fd00:10::/108,10.96.0.0/12',
    '--control-plane-nodes',
    'cp1=::1,127.0.0.11',
    '--workers',
    'w1=127.0.0.21',
    '--kubelet-serving-certs',
  ],
};

/** Writes a shape with kpki init in a directory of its own; returns the directory and its nodes. */
function initShape(args: string[]): { dir: string; nodes: { name: string; role: string }[] } {
  const dir = tempDir('kpki-shape-');
  const r = kpki(['init', '--key-type', 'ecdsa-p256', ...args], { cwd: dir });
  expect(r.status, r.stderr).toBe(0);
  const record = JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')) as { nodes: { name: string; role: string }[] };
  return { dir, nodes: record.nodes };
}

/** A copy of a shape to seed a fault in. */
function copyOf(dir: string): string {
  const copy = tempDir('kpki-shape-fault-');
  cpSync(dir, copy, { recursive: true });
  return copy;
}

const pki = (dir: string, node: string, file: string) => path.join(dir, 'nodes', node, 'etc/kubernetes/pki', file);

/** `kpki cert issue` replacing a node's apiserver.crt, signed by the node's CA, with exactly these SANs. */
function reissueApiserver(dir: string, node: string, sans: string[]) {
  const r = kpki(
    [
      'cert',
      'issue',
      '--profile',
      'server',
      '--cn',
      'kube-apiserver',
      '--san',
      sans.join(','),
      '--key-type',
      'ecdsa-p256',
      '--ca',
      pki(dir, node, 'ca.crt'),
      '--out',
      pki(dir, node, 'apiserver'),
      '--force',
    ],
    { cwd: dir },
  );
  expect(r.status, r.stderr).toBe(0);
}

const IN_CLUSTER_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

describe.each(Object.entries(SHAPES))('kpki verify on %s', (_, args) => {
  let shape: { dir: string; nodes: { name: string; role: string }[] };
  beforeAll(() => {
    shape = initShape(args);
  });

  it("is clean on the shared set, checked as the source of the nodes' CAs and admin kubeconfigs", () => {
    const result = expectClean(shape.dir, ['--cert-dir', 'pki']);
    expect(result.findings.filter((f) => f.code === 'FILE_MISSING')).toEqual([]);
  });

  it("is clean on every node directory through --root, as that node (a worker's empty manifests dir is normal)", () => {
    for (const node of shape.nodes) {
      if (node.role === 'worker') mkdirSync(path.join(shape.dir, 'nodes', node.name, 'etc/kubernetes/manifests'), { recursive: true });
      expectClean(shape.dir, ['--root', path.join('nodes', node.name)]);
    }
  });

  it('where kpki-cluster.json is, checks the whole cluster in one run, node by node, with one exit code', () => {
    const result = expectClean(shape.dir, []);
    expect(result.locations!.map((l) => [l.name, l.role])).toEqual([['shared', 'shared'], ...shape.nodes.map((n) => [n.name, n.role])]);
    const text = kpki(['verify'], { cwd: shape.dir });
    expect(text.status).toBe(0);
    for (const node of shape.nodes) expect(text.stdout).toContain(`== ${node.name} (${node.role})`);
  });
});

describe('a seeded fault per shape is found, named by node', () => {
  it("stacked: a worker whose kubelet.conf carries another node's identity (the Node authorizer refuses it)", () => {
    const { dir } = initShape(SHAPES['stacked HA with workers and kubelet serving certificates']!);
    const faulty = copyOf(dir);
    cpSync(path.join(faulty, 'nodes/w2/etc/kubernetes/kubelet.conf'), path.join(faulty, 'nodes/w1/etc/kubernetes/kubelet.conf'));
    const [finding] = expectError(faulty, [], 'IDENTITY_UNEXPECTED');
    expect(finding!.node).toBe('w1');
    expect(finding!.diagnosis).toContain('system:node:w2');
    expectError(faulty, ['--root', 'nodes/w1'], 'IDENTITY_UNEXPECTED');
    // A worker's kubelet serving certificate issued for another node: the apiservers dial 127.0.0.21.
    const other = copyOf(dir);
    for (const ext of ['crt', 'key'])
      cpSync(
        path.join(other, `nodes/w2/var/lib/kubelet/pki/kubelet.${ext}`),
        path.join(other, `nodes/w1/var/lib/kubelet/pki/kubelet.${ext}`),
      );
    const [san] = expectError(other, ['--root', 'nodes/w1'], 'SAN_MISSING');
    expect(san!.diagnosis).toContain('127.0.0.21');
    // A worker consistent in itself but from another cluster's CA: only the shared set tells.
    const foreign = copyOf(dir);
    const another = initShape(SHAPES['stacked HA with workers and kubelet serving certificates']!).dir;
    cpSync(path.join(another, 'nodes/w1'), path.join(foreign, 'nodes/w1'), { recursive: true });
    const untrusted = expectError(foreign, [], 'CHAIN_UNTRUSTED');
    expect(untrusted.find((f) => f.subject === '/etc/kubernetes/pki/ca.crt')?.node).toBe('w1');
  });

  it("external etcd: a member serving another member's certificate (clients dialling its URL fail the handshake)", () => {
    const { dir } = initShape(SHAPES['external etcd: 3 members, 2 control planes, 1 worker']!);
    const faulty = copyOf(dir);
    for (const ext of ['crt', 'key']) cpSync(pki(faulty, 'e1', `etcd/server.${ext}`), pki(faulty, 'e2', `etcd/server.${ext}`));
    const [finding] = expectError(faulty, ['--root', 'nodes/e2'], 'SAN_MISSING');
    expect(finding!.diagnosis).toContain('127.0.0.32');
    expect(expectError(faulty, [], 'SAN_MISSING').every((f) => f.node === 'e2')).toBe(true);
    // A control plane whose etcd/ca.crt is not the etcd CA: its apiserver cannot verify the members.
    const wrongCa = copyOf(dir);
    cpSync(pki(wrongCa, 'cp1', 'front-proxy-ca.crt'), pki(wrongCa, 'cp1', 'etcd/ca.crt'));
    expectError(wrongCa, ['--root', 'nodes/cp1'], 'CHAIN_UNTRUSTED');
  });

  it("dual-stack (IPv4 primary): the shared set's front-proxy client beside a key that is not its own", () => {
    const { dir } = initShape(SHAPES['dual-stack, IPv4 primary']!);
    const faulty = copyOf(dir);
    cpSync(path.join(faulty, 'pki/ca.key'), path.join(faulty, 'pki/front-proxy-client.key'));
    const [finding] = expectError(faulty, ['--cert-dir', 'pki'], 'KEY_MISMATCH');
    expect(finding!.subject).toContain('front-proxy-client');
    expect(expectError(faulty, [], 'KEY_MISMATCH')[0]!.node).toBe('shared');
  });

  it("dual-stack (IPv6 primary): an apiserver certificate without the primary range's service IP", () => {
    const { dir } = initShape(SHAPES['dual-stack, IPv6 primary']!);
    const faulty = copyOf(dir);
    reissueApiserver(faulty, 'cp1', ['cp1', ...IN_CLUSTER_NAMES, '10.96.0.1', '::1', '127.0.0.11']);
    const [finding] = expectError(faulty, ['--root', 'nodes/cp1'], 'SAN_MISSING');
    expect(finding!.diagnosis).toContain('fd00:10::1');
  });
});

describe('the kubernetes service IP comes from the primary service range only', () => {
  it("IPv4 primary: kubeadm's certificate (10.96.0.1, no fd00:10::1) is clean", () => {
    const { dir } = initShape(SHAPES['dual-stack, IPv4 primary']!);
    reissueApiserver(dir, 'cp1', ['cp1', ...IN_CLUSTER_NAMES, '10.96.0.1', '127.0.0.11', '::1']);
    expectClean(dir, ['--root', 'nodes/cp1']);
    expectClean(dir, []);
  });

  it('IPv6 primary: a certificate with fd00:10::1 and no 10.96.0.1 is clean', () => {
    const { dir } = initShape(SHAPES['dual-stack, IPv6 primary']!);
    reissueApiserver(dir, 'cp1', ['cp1', ...IN_CLUSTER_NAMES, 'fd00:10::1', '::1', '127.0.0.11']);
    expectClean(dir, ['--root', 'nodes/cp1']);
  });
});

describe('--etcd-servers listing every member, as kpki init prints it', () => {
  /** A control plane's apiserver and etcd flags as files, the apiserver naming every member. */
  function flagFiles(dir: string, etcdAddress: string): string[] {
    const flagsOf = (component: string) =>
      kpki(['flags', component, '--cert-dir', '/etc/kubernetes/pki', '--kubeconfig-dir', '/etc/kubernetes']).stdout;
    const apiserver = path.join(dir, 'apiserver.flags');
    const etcd = path.join(dir, 'etcd.flags');
    const members = ['cp1=127.0.0.11', 'cp2=127.0.0.12', 'cp3=127.0.0.13'];
    writeFileSync(
      apiserver,
      `${flagsOf('apiserver')}--advertise-address=127.0.0.11\n--etcd-servers=${members.map((m) => `https://${m.split('=')[1]}:2379`).join(',')}\n--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt\n`,
    );
    writeFileSync(
      etcd,
      `${flagsOf('etcd')}--name=cp1\n--advertise-client-urls=https://${etcdAddress}:2379\n--listen-client-urls=https://127.0.0.1:2379,https://${etcdAddress}:2379\n--initial-advertise-peer-urls=https://127.0.0.11:2380\n--listen-peer-urls=https://127.0.0.11:2380\n--initial-cluster=${members.map((m) => `${m.split('=')[0]}=https://${m.split('=')[1]}:2380`).join(',')}\n--client-cert-auth=true\n--peer-client-cert-auth=true\n`,
    );
    return ['--apiserver-args', apiserver, '--etcd-args', etcd];
  }

  it("checks the local member's certificate against its own URL only, not the other members'", () => {
    const { dir } = initShape(SHAPES['stacked HA with workers and kubelet serving certificates']!);
    expectClean(dir, ['--root', 'nodes/cp1', ...flagFiles(dir, '127.0.0.11')]);
  });

  it("still reports the member's own URL missing from its certificate, saying what kube-apiserver does", () => {
    const { dir } = initShape(SHAPES['stacked HA with workers and kubelet serving certificates']!);
    const files = flagFiles(dir, '127.0.0.99');
    const apiserver = files[1]!;
    writeFileSync(apiserver, readFileSync(apiserver, 'utf8').replace('--etcd-servers=', '--etcd-servers=https://127.0.0.99:2379,'));
    const errors = expectError(dir, ['--root', 'nodes/cp1', ...files], 'SAN_MISSING');
    expect(errors.map((f) => f.diagnosis).join('\n')).toContain('127.0.0.99');
    expect(errors.map((f) => f.diagnosis).join('\n')).not.toContain('127.0.0.12');
  });
});

describe('kpki ca rotate on the external-etcd layout with a worker', () => {
  interface Restart {
    node: string;
    component: string;
    files: string[];
    flags?: Record<string, string>;
  }
  const rotate = (dir: string, step: string, ...more: string[]) =>
    kpki(['ca', 'rotate', step, ...(step === 'status' ? [] : ['--offline']), ...more, '--json'], { cwd: dir });

  it('begin → reissue → finish: the pre-flight checks etcd members and workers, verify is clean after each phase, the plan restarts the kubelets', () => {
    const { dir } = initShape([...SHAPES['external etcd: 3 members, 2 control planes, 1 worker']!, '--kubelet-serving-certs']);
    for (const step of ['begin', 'reissue', 'finish']) {
      const r = rotate(dir, step);
      expect(r.status, `${step}: ${r.stderr}`).toBe(0);
      const restart = (JSON.parse(r.stdout) as { restart: Restart[] }).restart;
      const order = restart.map((p) => `${p.node}/${p.component}`);
      // etcd members first, then each control plane (no etcd there), the worker's kubelet last.
      expect(order.slice(0, 3)).toEqual(['e1/etcd', 'e2/etcd', 'e3/etcd']);
      expect(order.filter((o) => /^cp\d\/etcd$/.test(o))).toEqual([]);
      expect(order.at(-1)).toBe('w1/kubelet');
      // Paths as the node names them.
      const kubelet = restart.find((p) => p.node === 'w1')!;
      expect(kubelet.files).toEqual(
        expect.arrayContaining(
          step === 'reissue' ? ['/etc/kubernetes/kubelet.conf', '/var/lib/kubelet/pki/kubelet.crt'] : ['/etc/kubernetes/pki/ca.crt'],
        ),
      );
      for (const p of restart) for (const file of p.files) expect(file).toMatch(/^\/(etc\/kubernetes|var\/lib\/kubelet\/pki)\//);
      const signer = restart.find((p) => p.component === 'kube-controller-manager' && p.flags)?.flags?.['cluster-signing-cert-file'];
      if (signer) expect(signer).toBe('/etc/kubernetes/pki/ca-signer.crt');
      const verified = expectClean(dir, []);
      expect(verified.locations!.map((l) => l.name)).toEqual(['shared', 'cp1', 'cp2', 'w1', 'e1', 'e2', 'e3']);
    }
    expect(rotate(dir, 'status').stdout).toContain('"phase": "none"');
  });

  it('refuses to begin while an etcd member or a worker has an error, naming the node, and changes nothing', () => {
    const { dir } = initShape(SHAPES['external etcd: 3 members, 2 control planes, 1 worker']!);
    const faulty = copyOf(dir);
    for (const ext of ['crt', 'key']) cpSync(pki(faulty, 'e1', `etcd/server.${ext}`), pki(faulty, 'e3', `etcd/server.${ext}`));
    const before = readFileSync(pki(faulty, 'cp1', 'ca.crt'), 'utf8');
    const refused = rotate(faulty, 'begin', '--ca', 'etcd');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('node e3 (etcd)');
    const worker = copyOf(dir);
    cpSync(pki(worker, 'cp1', 'front-proxy-ca.crt'), pki(worker, 'w1', 'ca.crt'));
    const refusedWorker = rotate(worker, 'begin', '--ca', 'front-proxy');
    expect(refusedWorker.status).not.toBe(0);
    expect(refusedWorker.stderr).toContain('node w1 (worker)');
    expect(readFileSync(pki(faulty, 'cp1', 'ca.crt'), 'utf8')).toBe(before);
    // The same layout without the fault starts, for any --ca.
    for (const ca of ['cluster', 'front-proxy', 'etcd']) {
      const fresh = copyOf(dir);
      expect(rotate(fresh, 'begin', '--ca', ca).status).toBe(0);
    }
  });
});

describe("a kubelet's configuration alone (no PKI directory where kpki verify runs)", () => {
  const kubeletConfig = (dir: string, key: string) =>
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      `authentication: {x509: {clientCAFile: ${pki(dir, 'w1', 'ca.crt')}}}`,
      `tlsCertFile: ${path.join(dir, 'nodes/w1/var/lib/kubelet/pki/kubelet.crt')}`,
      `tlsPrivateKeyFile: ${path.join(dir, `nodes/${key}/var/lib/kubelet/pki/kubelet.key`)}`,
    ].join('\n');

  it('is checked for what it names, and a serving key of another node is reported', () => {
    const { dir } = initShape(SHAPES['stacked HA with workers and kubelet serving certificates']!);
    const empty = tempDir('kpki-kubelet-only-');
    writeFileSync(path.join(empty, 'config.yaml'), kubeletConfig(dir, 'w1'));
    const clean = expectClean(empty, ['--kubelet-config', 'config.yaml']);
    expect(clean.findings.filter((f) => f.severity === 'warning')).toEqual([]);
    writeFileSync(path.join(empty, 'config.yaml'), kubeletConfig(dir, 'w2'));
    expectError(empty, ['--kubelet-config', 'config.yaml'], 'KEY_MISMATCH');
  });
});

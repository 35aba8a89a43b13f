/**
 * Rendering and exit codes of the whole-cluster and single-certificate commands; what they
 * write is tested through the library in test/integration/{cluster,extension}.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, initArgs, kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('kpki init --control-plane-nodes and kpki node add', () => {
  let dir: string;
  const clusterArgs = () => [
    'init',
    '--cert-dir',
    path.join(dir, 'pki'),
    '--kubeconfig-dir',
    dir,
    '--key-type',
    'ecdsa-p256',
    '--control-plane-endpoint',
    '10.0.0.100:6443',
    '--control-plane-nodes',
    'cp1=10.0.0.11,cp2=10.0.0.12',
    '--workers',
    'w1=10.0.0.21',
  ];

  beforeAll(() => {
    dir = tempDir();
  });

  it('prints the shared set, one row per node and the --etcd-servers list', () => {
    const result = kpki(clusterArgs());
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/created\s+ca\s/);
    expect(result.stdout).toMatch(
      new RegExp(`cp2\\s+control-plane\\s+10\\.0\\.0\\.12\\s+${path.join(dir, 'nodes/cp2')}\\s+\\d+ copied, \\d+ created`),
    );
    expect(result.stdout).toMatch(/w1\s+worker\s+10\.0\.0\.21\s+.*1 copied, 1 created/);
    expect(result.stdout).toContain('etcd servers: https://10.0.0.11:2379,https://10.0.0.12:2379');
  });

  it('--json prints the same result; a rerun reuses everything', () => {
    const result = JSON.parse(kpki([...clusterArgs(), '--json']).stdout);
    expect(result.nodes.map((n: { name: string }) => n.name)).toEqual(['cp1', 'cp2', 'w1']);
    expect(result.nodes.flatMap((n: { init: { items: { action: string }[] } }) => n.init.items.map((i) => i.action))).toEqual(
      expect.arrayContaining(['reuse']),
    );
    expect(result.nodes.every((n: { init: { changed: boolean } }) => !n.init.changed)).toBe(true);
    expect(result.record).toBe(path.join(dir, 'kpki-cluster.json'));
  });

  it('--dry-run prints every node plan with its SANs', () => {
    const result = kpki([...clusterArgs(), '--dry-run']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('cp2 (control-plane, 10.0.0.12):');
    expect(result.stdout).toMatch(/SANs cp2, kubernetes, .*, 10\.96\.0\.1, 10\.0\.0\.12, 10\.0\.0\.100\n/);
  });

  it('node add writes one node and names its files', () => {
    const result = kpki(['node', 'add', 'w2', '--address', 'fd00::22', '--kubeconfig-dir', dir]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`w2 (worker, fd00::22) in ${path.join(dir, 'nodes/w2')}:`);
    expect(result.stdout).toMatch(/created\s+kubelet\.conf/);
    expect(readFileSync(path.join(dir, 'nodes/w2/etc/kubernetes/kubelet.conf'), 'utf8')).toContain('server: https://10.0.0.100:6443');
  });

  it.each([
    [['node', 'remove', 'w3', '--address', '10.0.0.23'], '"remove" is not add'],
    [['node', 'add', 'w3'], '--address: is required'],
    [['node', 'add', 'w3', '--address', '10.0.0.23', '--role', 'master'], '--role: "master" is not one of control-plane, worker, etcd'],
    [['node', 'add', 'w3', '--address', 'nope'], '"w3=nope" is not NAME=IP'],
    [['node', 'add', 'w3', '--address', '10.0.0.23', '--kubeconfig-dir', '/nonexistent'], '/nonexistent/kpki-cluster.json: not found'],
    [['init', '--control-plane-nodes', 'cp1=10.0.0.11,cp2=10.0.0.12'], '--control-plane-endpoint: is required with 2 control-plane nodes'],
  ])('%j exits 2 with one line', (args, fragment) => {
    const result = kpki(args, { cwd: tempDir() });
    expect(result.status).toBe(2);
    expectOneLineError(result, fragment);
  });
});

describe('kpki cert', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    expect(kpki(initArgs(dir)).status).toBe(0);
  });

  it('issue prints the files it wrote; --json the same as an object', () => {
    const out = path.join(dir, 'registry');
    const result = kpki([
      'cert',
      'issue',
      '--profile',
      'server',
      '--cn',
      'registry',
      '--san',
      'registry.example.com,10.0.0.5',
      '--ca',
      'cluster',
      '--cert-dir',
      path.join(dir, 'pki'),
      '--out',
      out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trimEnd().split('\n').sort()).toEqual([`${out}.crt`, `${out}.key`]);
    const again = kpki([
      'cert',
      'issue',
      '--profile',
      'server',
      '--cn',
      'registry',
      '--ca',
      'cluster',
      '--cert-dir',
      path.join(dir, 'pki'),
      '--out',
      out,
    ]);
    expect(again.status).toBe(2);
    expectOneLineError(again, `${out}.key: already exists`, '--force');
  });

  it('extension-apiserver --json lists the certificate, key, CA and APIService files', () => {
    const out = path.join(dir, 'metrics');
    const result = kpki([
      'cert',
      'extension-apiserver',
      '--service',
      'metrics-server',
      '--namespace',
      'kube-system',
      '--out',
      out,
      '--json',
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).files.sort()).toEqual(
      [`${out}-apiservice.yaml`, `${out}-ca.crt`, `${out}-ca.key`, `${out}.crt`, `${out}.key`].sort(),
    );
  });

  it.each([
    [['cert', 'issue', '--profile', 'server', '--cn', 'x'], '--out: is required'],
    [['cert', 'sign', '--out', 'x'], 'cert: unknown subcommand "sign": use issue or extension-apiserver'],
    [['cert', 'bogus'], 'cert: unknown subcommand "bogus"'],
    [
      ['cert', 'extension-apiserver', '--service', 's', '--namespace', 'n', '--ca', 'etcd', '--out', 'x'],
      '--ca: "etcd" is not new or cluster',
    ],
    [['cert', 'issue', '--profile', 'bogus', '--cn', 'x', '--out', 'x'], '--profile'],
  ])('%j exits 2 with one line', (args, fragment) => {
    const result = kpki(args, { cwd: tempDir() });
    expect(result.status).toBe(2);
    expectOneLineError(result, fragment);
  });
});

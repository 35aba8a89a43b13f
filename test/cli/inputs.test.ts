import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { initPki } from '../../src/commands/init.js';
import { expectOneLineError, kpki } from '../support/cli.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

/** Two separate clusters, both called `kubernetes` as every kubeadm cluster is. */
async function twoClusters() {
  const dir = tempDir();
  const make = async (name: string, address: string) => {
    const root = path.join(dir, name);
    await initPki({
      nodeName: name,
      advertiseAddress: address,
      keyType: 'ecdsa-p256',
      certDir: path.join(root, 'pki'),
      kubeconfigDir: root,
    });
    return { root, pki: path.join(root, 'pki') };
  };
  return { dir, a: await make('a', '10.0.0.1'), b: await make('b', '10.0.0.2') };
}

type Kubeconfig = {
  clusters: { name: string; cluster: { server: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  users: { name: string }[];
};

describe('--merge-into follows kubectl: nothing existing is rewritten', () => {
  it("a user of cluster A merged into a file holding cluster B never repoints B's entries", async () => {
    const { dir, a, b } = await twoClusters();
    const target = path.join(dir, 'config');
    cpSync(path.join(b.root, 'admin.conf'), target);
    const original = readFileSync(target, 'utf8');
    const merge = (...extra: string[]) =>
      kpki(['kubeconfig', 'user', '--client-name', 'alice', '--cert-dir', a.pki, '--merge-into', target, ...extra]);

    const clash = merge();
    expect(clash.status).toBe(1);
    expectOneLineError(clash, 'clusters[kubernetes]', 'different contents', '--cluster-name');
    expect(readFileSync(target, 'utf8')).toBe(original);

    const named = merge('--cluster-name', 'a');
    expect(named.status, named.stderr).toBe(0);
    const merged = parseYaml(readFileSync(target, 'utf8')) as Kubeconfig;
    expect(merged.clusters.map((c) => [c.name, c.cluster.server])).toEqual([
      ['kubernetes', 'https://10.0.0.2:6443'],
      ['a', 'https://10.0.0.1:6443'],
    ]);
    expect(merged.contexts.find((c) => c.name === 'alice@a')?.context).toEqual({ cluster: 'a', user: 'alice' });
    expect(readFileSync(target, 'utf8').startsWith(original.slice(0, original.indexOf('contexts:')))).toBe(true);

    // A second alice has a new key: her entry is refused too, and --user-name picks another.
    const again = merge('--cluster-name', 'a');
    expect(again.status).toBe(1);
    expectOneLineError(again, 'users[alice]', '--user-name');
    expect(merge('--cluster-name', 'a', '--user-name', 'alice-2', '--context-name', 'alice-2@a').status).toBe(0);
    expect((parseYaml(readFileSync(target, 'utf8')) as Kubeconfig).users.map((u) => u.name)).toEqual([
      'kubernetes-admin',
      'alice',
      'alice-2',
    ]);
  });
});

describe('signing needs a CA certificate and its own key', () => {
  it.each([
    [
      'cert issue: key of another CA',
      (a: string, b: string) => ['cert', 'issue', '--profile', 'server', '--cn', 'x', '--ca', `${a}/ca.crt`, '--ca-key', `${b}/ca.key`],
      ['--ca-key', 'the key does not belong to the certificate'],
    ],
    [
      'cert issue: a leaf as CA',
      (a: string) => ['cert', 'issue', '--profile', 'server', '--cn', 'x', '--ca', `${a}/apiserver.crt`, '--ca-key', `${a}/apiserver.key`],
      ['--ca', 'is not a CA'],
    ],
    [
      'kubeconfig user: key of another CA',
      (a: string, b: string) => [
        'kubeconfig',
        'user',
        '--client-name',
        'x',
        '--server',
        'https://10.0.0.1:6443',
        '--ca-cert',
        `${a}/ca.crt`,
        '--ca-key',
        `${b}/ca.key`,
      ],
      ['--ca-key', 'the key does not belong'],
    ],
    [
      'kubeconfig user: a leaf as CA',
      (a: string) => [
        'kubeconfig',
        'user',
        '--client-name',
        'x',
        '--server',
        'https://10.0.0.1:6443',
        '--ca-cert',
        `${a}/apiserver.crt`,
        '--ca-key',
        `${a}/apiserver.key`,
      ],
      ['--ca-cert', 'is not a CA'],
    ],
  ] as const)('%s: exit 2, nothing written', async (_, args, fragments) => {
    const { dir, a, b } = await twoClusters();
    const out = path.join(dir, 'out');
    const result = kpki([...args(a.pki, b.pki), '--out', out]);
    expect(result.status).toBe(2);
    expectOneLineError(result, ...fragments);
    for (const file of [out, `${out}.crt`, `${out}.key`]) expect(existsSync(file), file).toBe(false);
  });
});

describe('empty and malformed values are refused, naming their flag or config field', () => {
  const init = ['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
  it.each([
    [['kubeconfig', 'node', '--node-name', '', '--server', 'https://10.0.0.1:6443'], '--node-name: is empty'],
    [['kubeconfig', 'user', '--client-name', ''], '--client-name: is empty'],
    [['kubeconfig', 'user', '--client-name', 'alice', '--org', ''], '--org: is empty'],
    [['kubeconfig', 'user', '--client-name=', '--org', 'x'], '--client-name: is empty'],
    [
      ['kubeconfig', 'node', '--node-name', 'Bad_Node!', '--server', 'https://10.0.0.1:6443'],
      '--node-name: "Bad_Node!" is not a valid node name',
    ],
    [
      ['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '0.0.0.0'],
      '--advertise-address: "0.0.0.0" is the unspecified address',
    ],
    [['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '::'], '--advertise-address: "::" is the unspecified address'],
    [[...init, '--apiserver-cert-extra-sans', '10.0.0.300'], '--apiserver-cert-extra-sans: "10.0.0.300" is not a valid IP address'],
    [
      ['init', '--dry-run', '--node-name', 'Bad_Node!', '--advertise-address', '10.0.0.11'],
      '--node-name: "Bad_Node!" is not a valid node name',
    ],
    [['init', '--dry-run', '--control-plane-nodes', 'cp1=0.0.0.0'], '--control-plane-nodes: "cp1=0.0.0.0" is not NAME=IP'],
    [['node', 'add', 'Bad_Node!', '--address', '10.0.0.5'], 'NAME: "Bad_Node!" is not a valid node name'],
  ])('%j', (args, fragment) => {
    const dir = tempDir();
    const result = kpki(args, { cwd: dir });
    expect(result.status).toBe(2);
    expectOneLineError(result, fragment);
  });

  it.each([
    [
      'localAPIEndpoint:\n  advertiseAddress: 0.0.0.0\n',
      'localAPIEndpoint.advertiseAddress (InitConfiguration, line 4): "0.0.0.0" is the unspecified address',
    ],
    ['nodeRegistration:\n  name: Bad_Node!\n', 'nodeRegistration.name (InitConfiguration, line 4): "Bad_Node!" is not a valid node name'],
  ])('a kubeadm config field: %j', (body, fragment) => {
    const dir = tempDir();
    const config = path.join(dir, 'kubeadm.yaml');
    writeFileSync(config, `apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n${body}`);
    const result = kpki([
      'init',
      '--dry-run',
      '--config',
      config,
      ...(body.includes('name:') ? ['--advertise-address', '10.0.0.1'] : ['--node-name', 'cp1']),
    ]);
    expect(result.status).toBe(2);
    expectOneLineError(result, `${config}: ${fragment}`);
  });

  it('a SAN from the config file is reported at its field, not as a flag', () => {
    const dir = tempDir();
    const config = path.join(dir, 'kubeadm.yaml');
    writeFileSync(config, 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  certSANs: [10.0.0.300]\n');
    const fromFile = kpki(['init', '--dry-run', '--config', config, '--node-name', 'cp1', '--advertise-address', '10.0.0.1']);
    expectOneLineError(fromFile, `${config}: apiServer.certSANs (ClusterConfiguration, line 4): "10.0.0.300" is not a valid IP address`);
  });

  it('values that look like numbers stay as typed: --client-name 007 is CN 007', () => {
    const { pki } = { pki: path.join(tempDir(), 'pki') };
    expect(
      kpki(['init', '--cert-dir', pki, '--node-name', 'cp1', '--advertise-address', '10.0.0.1', '--key-type', 'ecdsa-p256']).status,
    ).toBe(0);
    const result = kpki(['kubeconfig', 'user', '--client-name', '007', '--org', '0123', '--cert-dir', pki, '--json']);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ clientName: '007', organizations: ['0123'] });
  });
});

describe('unusable inputs: exit 2 with one line saying what is wrong', () => {
  it('check-expiration on a missing or mistyped --cert-dir', () => {
    const dir = tempDir();
    expectOneLineError(kpki(['check-expiration', '--cert-dir', path.join(dir, 'nope')]), 'nope: no such directory', '--cert-dir');
    expect(kpki(['check-expiration', '--cert-dir', path.join(dir, 'nope')]).status).toBe(2);
    writeFileSync(path.join(dir, 'file'), '');
    const file = kpki(['check-expiration', '--cert-dir', path.join(dir, 'file')]);
    expect(file.status).toBe(2);
    expectOneLineError(file, 'is not a directory');
  });

  it('check-expiration says what expired, in words that read', async () => {
    const dir = tempDir();
    const now = new Date(Date.now() - 3 * 86400_000);
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.1',
      keyType: 'ecdsa-p256',
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      certValidity: '1d',
      now,
    });
    const result = kpki(['check-expiration', '--cert-dir', path.join(dir, 'pki'), '--warn-within', '30d']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^kpki: apiserver \(.*apiserver\.crt\) expired 2d ago, within 30d$/m);
    expect(result.stderr).not.toContain('expires has expired');
  });

  it('--profile with an existing file that is not a built-in name reads that file', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'junk.bin'), Buffer.from([0, 1, 2, 3, 0xff, 0xfe]));
    const result = kpki(['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '10.0.0.1', '--profile', 'junk.bin'], {
      cwd: dir,
    });
    expect(result.status).toBe(2);
    expectOneLineError(result, 'junk.bin: is binary data, not a YAML profile');
    const missing = kpki(['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '10.0.0.1', '--profile', 'nothere'], {
      cwd: dir,
    });
    expectOneLineError(missing, '"nothere" is neither a built-in profile nor a file');
  });

  it('inspect on files and directories the user cannot read (run as an unprivileged user)', async () => {
    // A copy of the built CLI that any user can run, wherever the repository is checked out.
    const root = tempDir();
    chmodSync(root, 0o755);
    const cli = path.join(root, 'cli');
    for (const part of ['bin', 'dist/cli/kpki.cjs', 'profiles', 'package.json'])
      cpSync(path.join(REPO_ROOT, part), path.join(cli, part), { recursive: true });
    const data = path.join(root, 'data');
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.1',
      keyType: 'ecdsa-p256',
      certDir: path.join(data, 'pki'),
      kubeconfigDir: data,
    });
    chmodSync(data, 0o755);
    chmodSync(path.join(data, 'pki'), 0o755);
    chmodSync(path.join(data, 'pki/ca.crt'), 0o000);
    mkdirSync(path.join(data, 'closed'), { mode: 0o700 });
    chmodSync(path.join(data, 'closed'), 0o000);
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(cli, 'bin/kpki.js'), ...args], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
        ...asUser,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    for (const target of [path.join(data, 'pki/ca.crt'), path.join(data, 'closed')]) {
      const result = run('inspect', target);
      expect(result.status, result.stderr).toBe(2);
      expectOneLineError(result, target, 'permission denied');
    }
    // Below a named directory, an unreadable file is reported as a problem; the rest is inspected.
    const tree = run('inspect', path.join(data, 'pki'), '--json');
    expect(tree.status, tree.stderr).toBe(0);
    expect(JSON.parse(tree.stdout).problems).toContainEqual({
      file: path.join(data, 'pki/ca.crt'),
      message: 'cannot be read (permission denied)',
    });
  });
});

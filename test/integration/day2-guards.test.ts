/**
 * Day 2 as a new user meets it: commands that would mislead or damage refuse with one line naming
 * the file or flag (issue 18, items 1–9 and 11), and what they do report is what happened.
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import { issueKubeconfig } from '../../src/commands/kubeconfig.js';
import { rotateCa } from '../../src/commands/rotate.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { expectOneLineError, kpki, kpkiAsync, nobodyKpki } from '../support/cli.js';
import { junk, snapshot, tempDir } from '../support/tmp.js';
import { useGoverify } from '../interop/goverify.js';
import { requireTool, Resources, runOk } from '../interop/helpers.js';
import { makeCluster, trustFailures, trustFile } from './day2-support.js';

const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);

/** A single-node PKI (ECDSA: fast) in a directory of its own: pki/ and the kubeconfigs beside it. */
async function singlePki(): Promise<string> {
  const dir = tempDir();
  await initPki({
    certDir: path.join(dir, 'pki'),
    kubeconfigDir: dir,
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    keyType: 'ecdsa-p256',
  });
  return dir;
}

const on = (dir: string) => ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];
const layout = (dir: string) => ({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir });

/** The exit status and the one `kpki:` line of a refusal. */
function refused(result: ReturnType<typeof kpki>, status: number, ...fragments: string[]) {
  expect(result.status, result.stderr).toBe(status);
  expectOneLineError(result, ...fragments);
  expect(result.stderr).not.toContain('internal error');
}

/** openssl's SHA-256 fingerprint of a certificate file (colon-separated upper-case hex). */
async function fingerprint(file: string): Promise<string> {
  const out = (await runOk(requireTool('openssl'), ['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).stdout;
  return out.trim().split('=')[1]!;
}

describe('1: a kubeconfig of another PKI is never re-signed', () => {
  it('renew --kubeconfig refuses (exit 2) a kubeconfig trusting another CA, or holding a client certificate another CA signed, naming the file and that CA', async () => {
    const dir = await singlePki();
    const other = await singlePki();
    const foreign = path.join(other, 'admin.conf');
    const before = snapshot(dir);
    const otherBefore = snapshot(other);
    const otherFingerprint = await fingerprint(path.join(other, 'pki/ca.crt'));
    refused(
      kpki(['renew', 'admin.conf', '--kubeconfig', foreign, ...on(dir)]),
      2,
      foreign,
      'CN=kubernetes',
      otherFingerprint,
      await fingerprint(path.join(dir, 'pki/ca.crt')),
    );

    // This PKI's CA data around another PKI's client certificate: the credential still belongs elsewhere.
    const mixed = path.join(tempDir(), 'mixed.conf');
    const ownCa = readFileSync(path.join(dir, 'pki/ca.crt')).toString('base64');
    writeFileSync(mixed, readFileSync(foreign, 'utf8').replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${ownCa}`), {
      mode: 0o600,
    });
    const mixedBefore = readFileSync(mixed, 'utf8');
    const ownFingerprint = await fingerprint(path.join(dir, 'pki/ca.crt'));
    refused(kpki(['ca', 'renew', 'ca', '--kubeconfig', mixed, ...on(dir)]), 2, mixed, 'client certificate', ownFingerprint);
    refused(kpki(['renew', '--all', '--kubeconfig', mixed, ...on(dir)]), 2, mixed, 'client certificate', ownFingerprint);
    expect(readFileSync(mixed, 'utf8')).toBe(mixedBefore);
    expect(snapshot(dir)).toEqual(before);
    expect(snapshot(other)).toEqual(otherBefore);

    // A user kubeconfig this PKI made is renewed with it.
    const alice = path.join(tempDir(), 'alice.conf');
    await issueKubeconfig({ kind: 'user', clientName: 'alice', certDir: path.join(dir, 'pki'), kubeconfigDir: dir, out: alice });
    const ok = kpki(['renew', 'admin.conf', '--kubeconfig', alice, ...on(dir), '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { items: { name: string }[] }).items.map((i) => i.name).sort()).toEqual(['admin.conf', alice].sort());
  });
});

describe('2: ca renew never shortens a CA below its leaves', () => {
  it('refuses (exit 2) a validity shorter than the CA has left or than a leaf it signed, naming the leaf and its expiry; --force renews and says what breaks when; the real expiry is printed', async () => {
    const dir = await singlePki();
    const before = snapshot(dir);
    const apiserver = parseCertificate(readFileSync(path.join(dir, 'pki/apiserver.crt')), 'apiserver.crt');
    refused(
      kpki(['ca', 'renew', 'ca', '--validity', '1h', ...on(dir)]),
      2,
      '--validity',
      path.join(dir, 'pki/apiserver.crt'),
      apiserver.notAfter.toISOString(),
    );
    const ca = parseCertificate(readFileSync(path.join(dir, 'pki/ca.crt')), 'ca.crt');
    // Longer than every leaf, shorter than the CA has left.
    refused(kpki(['ca', 'renew', 'ca', '--validity', '5y', ...on(dir)]), 2, '--validity', ca.notAfter.toISOString());
    refused(kpki(['ca', 'renew', 'ca', '--validity', '1h', '--dry-run', ...on(dir)]), 2, '--validity');
    expect(snapshot(dir)).toEqual(before);

    const dry = kpki(['ca', 'renew', 'ca', '--validity', '20y', '--dry-run', ...on(dir)]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/valid until 20[0-9]{2}-/);
    expect(snapshot(dir)).toEqual(before);

    const forced = kpki(['ca', 'renew', 'ca', '--validity', '1h', '--force', ...on(dir)]);
    expect(forced.status, forced.stderr).toBe(0);
    const renewed = parseCertificate(readFileSync(path.join(dir, 'pki/ca.crt')), 'ca.crt');
    expect(renewed.notAfter.getTime() - Date.now()).toBeLessThan(3_700_000);
    expect(forced.stdout).toContain(`valid until ${renewed.notAfter.toISOString()}`);
    expect(forced.stdout).toContain(path.join(dir, 'pki/apiserver.crt'));
    expect(forced.stdout).toMatch(/stop(s)? verifying/);
  });
});

describe('3: renew that finds nothing to renew says so (exit 2)', () => {
  it('a missing or mistyped --cert-dir, an empty working directory, an empty cert dir, a named entry whose file is missing or a dangling symlink', async () => {
    const dir = await singlePki();
    const before = snapshot(dir);
    // Mistyped beside the real kubeconfigs: not "external CA".
    const mistyped = path.join(dir, 'pkii');
    refused(kpki(['renew', '--all', '--cert-dir', mistyped, '--kubeconfig-dir', dir]), 2, mistyped, 'no such directory');
    refused(kpki(['renew', 'admin.conf', '--cert-dir', mistyped]), 2, mistyped, 'no such directory');
    refused(kpki(['renew', '--all'], { cwd: tempDir() }), 2, 'pki', 'no such directory');
    const empty = tempDir();
    mkdirSync(path.join(empty, 'pki'));
    refused(kpki(['renew', '--all', ...on(empty)]), 2, 'nothing to renew', path.join(empty, 'pki'));
    expect(snapshot(dir)).toEqual(before);

    rmSync(path.join(dir, 'pki/apiserver.crt'));
    refused(kpki(['renew', 'apiserver', ...on(dir)]), 2, path.join(dir, 'pki/apiserver.crt'));
    const peer = path.join(dir, 'pki/etcd/peer.crt');
    rmSync(peer);
    symlinkSync(path.join(dir, 'gone/peer.crt'), peer);
    refused(kpki(['renew', 'etcd-peer', ...on(dir)]), 2, peer, 'dangling symlink');
    refused(kpki(['renew', '--all', ...on(dir)]), 2, peer, 'dangling symlink');
  });

  it('in a cluster, a named entry missing on one node where its role holds it is named, and nothing is renewed', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const missing = path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.crt');
    rmSync(missing);
    const before = snapshot(dir);
    refused(kpki(['renew', 'apiserver', ...on(dir)]), 2, missing);
    expect(snapshot(dir)).toEqual(before);
    // A worker holds no apiserver certificate, the shared set no kubelet.conf: renewing them is not refused for that.
    rmSync(path.join(dir, 'kubelet.conf'), { force: true });
    expect(kpki(['renew', 'kubelet.conf', ...on(dir)]).status).toBe(0);
  });

  it('renew --all renews what is there and warns of each entry missing where it belongs, by its file, and of nothing else', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const missing = [path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.crt'), path.join(dir, 'nodes/w1/etc/kubernetes/kubelet.conf')];
    for (const file of missing) rmSync(file);
    const before = readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/apiserver.crt'), 'utf8');
    const renewed = kpki(['renew', '--all', ...on(dir)]);
    expect(renewed.status, renewed.stderr).toBe(0);
    const warnings = renewed.stderr.split('\n').filter((line) => line.startsWith('kpki: warning:'));
    expect(warnings).toEqual(
      missing.map((file) =>
        expect.stringContaining(
          `kpki: warning: ${file}: no such file, so ${path.basename(file) === 'kubelet.conf' ? 'kubelet.conf' : 'apiserver'} was not renewed`,
        ),
      ),
    );
    expect(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/apiserver.crt'), 'utf8')).not.toBe(before);
    // The dry run says so as well, in its JSON's warnings.
    const dry = JSON.parse(kpki(['renew', '--all', '--dry-run', '--json', ...on(dir)]).stdout) as { warnings: string[] };
    expect(dry.warnings).toEqual(missing.map((file) => expect.stringContaining(`${file}: no such file`)));
  });
});

describe('4: a node added during a CA rotation joins its phase', () => {
  it('node add in phase begun and in phase reissued: every file where the phase wants it; reissue and finish go on', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir, { workers: undefined, controlPlaneNodes: 'cp1=10.0.0.11' });
    await rotateCa({ ...layout(dir), step: 'begin', serviceAccount: true });
    const cp2 = kpki(['node', 'add', 'cp2', '--address', '10.0.0.12', '--role', 'control-plane', '--kubeconfig-dir', dir]);
    expect(cp2.status, cp2.stderr).toBe(0);
    const begun = await rotateCa({ ...layout(dir), step: 'status' });
    expect(begun.status!.filter((f) => f.state !== f.expected)).toEqual([]);
    expect(begun.status!.some((f) => f.node === 'cp2')).toBe(true);
    expect(trustFile(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca-signer.crt'))).toHaveLength(1);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);

    await rotateCa({ ...layout(dir), step: 'reissue' });
    const w1 = kpki(['node', 'add', 'w1', '--address', '10.0.0.21', '--role', 'worker', '--kubeconfig-dir', dir]);
    expect(w1.status, w1.stderr).toBe(0);
    const reissued = await rotateCa({ ...layout(dir), step: 'status' });
    expect(reissued.status!.filter((f) => f.state !== f.expected)).toEqual([]);
    expect(trustFile(path.join(dir, 'nodes/w1/etc/kubernetes/pki/ca.crt'))).toHaveLength(2);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    await rotateCa({ ...layout(dir), step: 'finish' });
    expect(trustFile(path.join(dir, 'nodes/w1/etc/kubernetes/pki/ca.crt'))).toHaveLength(1);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });

  it('node add at the same moment as begin: one waits for or refuses the other, never a node behind the phase (3 trials)', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const dir = tempDir();
      await makeCluster(dir, { workers: undefined, controlPlaneNodes: 'cp1=10.0.0.11' });
      const [begin, add] = await Promise.all([
        kpkiAsync(['ca', 'rotate', 'begin', '--offline', ...on(dir)]),
        kpkiAsync(['node', 'add', 'cp2', '--address', '10.0.0.12', '--role', 'control-plane', '--kubeconfig-dir', dir]),
      ]);
      for (const r of [begin, add]) if (r.status !== 0) refused(r, 1, 'locked by another kpki run');
      expect(begin.status === 0 || add.status === 0).toBe(true);
      const status = await rotateCa({ ...layout(dir), step: 'status' });
      expect(
        status.status!.filter((f) => f.state !== f.expected),
        `trial ${trial}`,
      ).toEqual([]);
    }
  });
});

describe('5: trust files holding two CAs without a rotation record', () => {
  it('status is an error naming the way out; abort --recover after begin and finish --recover after reissue end the overlap', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir, { workers: undefined });
    const oldCa = readFileSync(path.join(dir, 'pki/ca.crt'), 'utf8');
    await rotateCa({ ...layout(dir), step: 'begin' });
    unlinkSync(path.join(dir, 'pki/kpki-rotation.json'));
    const status = kpki(['ca', 'rotate', 'status', ...on(dir)]);
    refused(status, 1, path.join(dir, 'pki/kpki-rotation.json'), 'two CAs', 'phase begun', '--recover');
    refused(kpki(['ca', 'rotate', 'begin', '--offline', ...on(dir)]), 1, '--recover');
    refused(kpki(['ca', 'rotate', 'abort', '--offline', ...on(dir)]), 1, '--recover');
    const aborted = kpki(['ca', 'rotate', 'abort', '--offline', '--recover', ...on(dir)]);
    expect(aborted.status, aborted.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'pki/ca.crt'), 'utf8')).toBe(oldCa);
    expect(readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.crt'), 'utf8')).toBe(oldCa);
    expect(kpki(['ca', 'rotate', 'status', ...on(dir)]).stdout).toContain('No CA rotation is under way');
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);

    // After reissue, with the record and the rotation's material gone: finish keeps the new CA.
    await rotateCa({ ...layout(dir), step: 'begin', serviceAccount: true });
    await rotateCa({ ...layout(dir), step: 'reissue' });
    const newCa = trustFile(path.join(dir, 'pki/ca.crt'))[0]!;
    unlinkSync(path.join(dir, 'pki/kpki-rotation.json'));
    rmSync(path.join(dir, 'pki/rotation'), { recursive: true });
    refused(kpki(['ca', 'rotate', 'status', ...on(dir)]), 1, 'phase reissued', 'finish --recover');
    refused(kpki(['ca', 'rotate', 'abort', '--offline', '--recover', ...on(dir)]), 2, 'rotation', 'old');
    const finished = kpki(['ca', 'rotate', 'finish', '--offline', '--recover', ...on(dir)]);
    expect(finished.status, finished.stderr).toBe(0);
    for (const file of ['pki/ca.crt', 'nodes/cp1/etc/kubernetes/pki/ca.crt']) {
      const bundle = trustFile(path.join(dir, file));
      expect(
        bundle.map((c) => c.serialNumber),
        file,
      ).toEqual([newCa.serialNumber]);
    }
    expect(readFileSync(path.join(dir, 'pki/sa.pub'), 'utf8').match(/BEGIN PUBLIC KEY/g)).toHaveLength(1);
    expect(kpki(['ca', 'rotate', 'status', ...on(dir)]).status).toBe(0);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });
});

describe('6: the restart plan names files as the node sees them', () => {
  it("--cluster-signing-cert-file is the node's /etc/kubernetes/pki/ca-signer.crt; for a single PKI given as a relative --cert-dir, an absolute path", async () => {
    const dir = tempDir();
    await makeCluster(dir, { workers: undefined });
    const begun = JSON.parse(kpki(['ca', 'rotate', 'begin', '--offline', '--json', ...on(dir)], { cwd: dir }).stdout) as {
      restart: { node: string; component: string; flags?: Record<string, string> }[];
    };
    const signers = begun.restart.filter((r) => r.component === 'kube-controller-manager');
    expect(signers.map((r) => [r.node, r.flags])).toEqual([
      ['cp1', { 'cluster-signing-cert-file': '/etc/kubernetes/pki/ca-signer.crt' }],
      ['cp2', { 'cluster-signing-cert-file': '/etc/kubernetes/pki/ca-signer.crt' }],
    ]);

    const single = await singlePki();
    const local = kpki(['ca', 'rotate', 'begin', '--offline', '--json', '--cert-dir', 'pki', '--kubeconfig-dir', '.'], { cwd: single });
    expect(local.status, local.stderr).toBe(0);
    const restart = (JSON.parse(local.stdout) as typeof begun).restart.find((r) => r.component === 'kube-controller-manager');
    expect(restart?.flags).toEqual({ 'cluster-signing-cert-file': path.join(single, 'pki/ca-signer.crt') });
  });
});

describe('7: finish, refused for a leaf still signed by the old CA, names the command that works', () => {
  it('the hint is kpki renew NAME, and running it lets finish go on', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir, { workers: undefined });
    const apiserver = path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver');
    copyFileSync(`${apiserver}.crt`, path.join(scratch, 'old.crt'));
    copyFileSync(`${apiserver}.key`, path.join(scratch, 'old.key'));
    await rotateCa({ ...layout(dir), step: 'begin' });
    await rotateCa({ ...layout(dir), step: 'reissue' });
    // A backup put back: the old-CA leaf again.
    copyFileSync(path.join(scratch, 'old.crt'), `${apiserver}.crt`);
    copyFileSync(path.join(scratch, 'old.key'), `${apiserver}.key`);
    const finish = kpki(['ca', 'rotate', 'finish', '--offline', ...on(dir)]);
    refused(finish, 1, `${apiserver}.crt`, 'kpki renew apiserver');
    expect(finish.stderr).not.toContain('reissue again');
    const renewed = kpki(['renew', 'apiserver', ...on(dir)]);
    expect(renewed.status, renewed.stderr).toBe(0);
    expect(kpki(['ca', 'rotate', 'finish', '--offline', ...on(dir)]).status).toBe(0);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });
});

describe('8: --csr-only, as the external-CA refusal says', () => {
  it('renew admin.conf --csr-only and renew --all --csr-only write a key and a CSR for each leaf of the external CA', async () => {
    const dir = await singlePki();
    renameSync(path.join(dir, 'pki/ca.key'), path.join(dir, 'ca.key.offline'));
    const refusal = kpki(['renew', 'admin.conf', ...on(dir)]);
    refused(refusal, 1, '--csr-only');
    const one = kpki(['renew', 'admin.conf', '--csr-only', ...on(dir)]);
    expect(one.status, one.stderr).toBe(0);
    const text = (
      await runOk(requireTool('openssl'), ['req', '-in', path.join(dir, 'csr/admin.conf.csr'), '-noout', '-subject', '-verify'])
    ).stdout;
    expect(text).toMatch(/CN\s*=\s*kubernetes-admin/);
    const all = kpki(['renew', '--all', '--csr-only', ...on(dir), '--json']);
    expect(all.status, all.stderr).toBe(0);
    const items = (JSON.parse(all.stdout) as { items: { name: string; action: string }[] }).items;
    expect(items.filter((i) => i.action === 'csr').map((i) => i.name)).toEqual(
      expect.arrayContaining(['apiserver', 'kubelet.conf', 'admin.conf']),
    );
    await runOk(requireTool('openssl'), ['req', '-in', path.join(dir, 'csr/kubelet.conf.csr'), '-noout', '-verify']);
  });
});

describe('9: a cert dir the user cannot write', () => {
  it('renew --all, ca rotate begin, ca renew ca and init are one-line errors naming the directory, writing nothing', async () => {
    const dir = await singlePki();
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    const before = snapshot(dir);
    const asNobody = nobodyKpki();
    for (const args of [
      ['renew', '--all'],
      ['ca', 'rotate', 'begin', '--offline'],
      ['ca', 'renew', 'ca'],
      ['init', '--node-name', 'cp1', '--advertise-address', '10.0.0.11'],
    ]) {
      refused(asNobody([...args, ...on(dir)]), 1, path.join(dir, 'pki'), 'permission denied');
    }
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('11: bounded reads in every command that reads certificates', () => {
  it('a 50 MB file is refused unread by inspect, check-expiration, renew and ca renew', async () => {
    const dir = await singlePki();
    const big = path.join(tempDir(), 'junk.crt');
    junk(big);
    refused(kpki(['inspect', big]), 2, big, 'is 50.0 MB');
    junk(path.join(dir, 'pki/apiserver.crt'));
    const file = path.join(dir, 'pki/apiserver.crt');
    refused(kpki(['check-expiration', '--cert-dir', path.join(dir, 'pki')]), 2, file, 'is 50.0 MB');
    refused(kpki(['renew', '--all', ...on(dir)]), 2, file, 'is 50.0 MB');
    refused(kpki(['ca', 'renew', 'ca', ...on(dir)]), 2, file, 'is 50.0 MB');
    refused(kpki(['ca', 'rotate', 'status', ...on(dir)]), 2, file, 'is 50.0 MB');
  });

  it('a symlink loop stops the walk or the read with a message naming it', async () => {
    const dir = await singlePki();
    const pki = path.join(dir, 'pki');
    symlinkSync('.', path.join(pki, 'self'));
    const walked = kpki(['inspect', pki, '--json']);
    expect(walked.status, walked.stderr).toBe(0);
    const result = JSON.parse(walked.stdout) as { items: { kind: string; file: string }[]; problems: { file: string; message: string }[] };
    expect(result.problems).toEqual([{ file: path.join(pki, 'self'), message: expect.stringContaining(`symlink loop (back to ${pki})`) }]);
    expect(result.items.filter((i) => i.kind === 'certificate' && !i.file.includes(': '))).toHaveLength(10);

    const frontProxyCa = path.join(pki, 'front-proxy-ca.crt');
    rmSync(frontProxyCa);
    symlinkSync(frontProxyCa, frontProxyCa);
    for (const args of [
      ['check-expiration', '--cert-dir', pki],
      ['renew', '--all', ...on(dir)],
      ['ca', 'renew', 'ca', ...on(dir)],
      ['inspect', frontProxyCa],
    ]) {
      refused(kpki(args), 2, frontProxyCa, 'symlink loop');
    }
    const loop = path.join(dir, 'loop');
    symlinkSync(loop, loop);
    refused(kpki(['renew', '--all', '--cert-dir', loop, '--kubeconfig-dir', dir]), 2, loop, 'symlink loop');
  });
});

/**
 * `kpki ca rotate begin --key-type`: a cluster (and a single-node PKI) moved from one key
 * algorithm to another through the CLI, offline; what each phase says, what it refuses, and that
 * later init, node add and renew follow the new algorithm.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeCluster } from '../integration/day2-support.js';
import { kpki } from '../support/cli.js';
import { snapshot, tempDir } from '../support/tmp.js';

interface Inspected {
  kind: string;
  file: string;
  key?: string;
}

/** The algorithm of every key, certificate and kubeconfig credential under `paths`, retired keys (the archive) aside. */
function keysIn(...paths: string[]): Map<string, string[]> {
  const r = kpki(['inspect', '--json', ...paths]);
  expect(r.status, r.stderr).toBe(0);
  const byKey = new Map<string, string[]>();
  for (const item of (JSON.parse(r.stdout) as { items: Inspected[] }).items)
    if (item.key && !item.file.includes('rotation-archive')) byKey.set(item.key, [...(byKey.get(item.key) ?? []), item.file]);
  return byKey;
}

describe('kpki ca rotate --key-type on a cluster', () => {
  it('RSA-2048 → ECDSA P-384: begin, status, reissue, finish; the record remembers it and init, node add and renew follow', async () => {
    const dir = tempDir();
    await makeCluster(dir, { keyType: 'rsa-2048' });
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];
    const rotate = (...args: string[]) => kpki(['ca', 'rotate', ...args, '--offline', ...at]);
    expect([...keysIn(dir).keys()]).toEqual(['rsa 2048']);

    const begun = rotate('begin', '--service-account', '--key-type', 'ecdsa-p384', '--json');
    expect(begun.status, begun.stderr).toBe(0);
    expect(JSON.parse(begun.stdout)).toMatchObject({ phase: 'begun', keyType: 'ecdsa-p384', serviceAccount: true });
    const status = kpki(['ca', 'rotate', 'status', ...at]);
    expect(status.stdout.split('\n')[0]).toBe(
      'Rotation of ca, front-proxy-ca, etcd-ca, service-account key: phase begun; every key moves to ecdsa-p384',
    );
    expect(JSON.parse(kpki(['ca', 'rotate', 'status', '--json', ...at]).stdout)).toMatchObject({ keyType: 'ecdsa-p384' });

    const reissued = rotate('reissue');
    expect(reissued.status, reissued.stderr).toBe(0);
    // Every key in use is P-384 now; trust files (and kubeconfigs' CA data) still hold the RSA CAs second.
    const inUse = keysIn(path.join(dir, 'nodes'), path.join(dir, 'admin.conf'));
    expect(inUse.get('rsa 2048')!.filter((f) => !f.endsWith('#2'))).toEqual([]);

    const finished = rotate('finish');
    expect(finished.status, finished.stderr).toBe(0);
    expect(finished.stdout).toContain('kpki-cluster.json now names ecdsa-p384: later kpki init, node add and renew make ecdsa-p384 keys');
    const record = JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')) as { settings: { keyType: string } };
    expect(record.settings.keyType).toBe('ecdsa-p384');
    expect([...keysIn(dir).keys()]).toEqual(['ec secp384r1']);
    const verified = kpki(['verify', ...at]);
    expect(verified.status, verified.stdout).toBe(0);

    // Later runs follow: renew --all keeps every (P-384) key, init again without --key-type changes nothing.
    const before = snapshot(dir);
    const renewed = kpki(['renew', '--all', '--json', ...at]);
    expect(renewed.status, renewed.stderr).toBe(0);
    expect([...keysIn(dir).keys()]).toEqual(['ec secp384r1']);
    const renewedKeys = [...snapshot(dir)].filter(([file, data]) => file.endsWith('.key') && before.get(file) !== data);
    expect(renewedKeys).toEqual([]);
    const settled = snapshot(dir);
    await makeCluster(dir, { keyType: undefined });
    expect(snapshot(dir)).toEqual(settled);
    const added = kpki(['node', 'add', 'w9', '--address', '10.0.0.29', '--kubeconfig-dir', dir]);
    expect(added.status, added.stderr).toBe(0);
    expect([...keysIn(path.join(dir, 'nodes', 'w9')).keys()]).toEqual(['ec secp384r1']);
  }, 300_000);

  it('a node added once the new CAs sign (reissued) gets keys of the new algorithm, so finish leaves none of the old', async () => {
    const dir = tempDir();
    await makeCluster(dir, { keyType: 'rsa-2048' });
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];
    for (const step of [['begin', '--service-account', '--key-type', 'ecdsa-p384'], ['reissue']])
      expect(kpki(['ca', 'rotate', ...step, '--offline', ...at]).status).toBe(0);
    const added = kpki(['node', 'add', 'w8', '--address', '10.0.0.28', '--kubeconfig-dir', dir]);
    expect(added.status, added.stderr).toBe(0);
    // Its trust files hold both CAs (new first); every key it uses is P-384.
    expect(
      keysIn(path.join(dir, 'nodes', 'w8'))
        .get('rsa 2048')!
        .every((f) => f.endsWith('#2')),
    ).toBe(true);
    const finished = kpki(['ca', 'rotate', 'finish', '--offline', ...at]);
    expect(finished.status, finished.stderr).toBe(0);
    expect(finished.stdout).not.toContain('still not ecdsa-p384');
    expect([...keysIn(path.join(dir, 'nodes')).keys()]).toEqual(['ec secp384r1']);
  }, 300_000);

  it('abort after a type-changing begin leaves every file as it was (the controller manager keeps its signer file)', async () => {
    const dir = tempDir();
    await makeCluster(dir, { keyType: 'rsa-2048' });
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];
    const before = snapshot(dir);
    expect(kpki(['ca', 'rotate', 'begin', '--service-account', '--key-type', 'ecdsa-p256', '--offline', ...at]).status).toBe(0);
    const aborted = kpki(['ca', 'rotate', 'abort', '--offline', ...at]);
    expect(aborted.status, aborted.stderr).toBe(0);
    const after = snapshot(dir);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (f) => before.get(f) !== after.get(f) && !/(^|\/)ca-signer\.crt$|kpki-rotation\.json$/.test(f),
    );
    expect(changed).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')).settings.keyType).toBe('rsa-2048');
  }, 300_000);

  it('refuses a bad algorithm, --key-type outside begin and --key-type with some CAs left out: exit 2, one line, nothing written', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir, '--offline'];
    const before = snapshot(dir);
    const cases: [string[], string][] = [
      [['begin', '--key-type', 'ecdsa-p521'], 'kpki: --key-type: "ecdsa-p521" is not supported'],
      [['reissue', '--key-type', 'ecdsa-p384'], 'kpki: --key-type: is for kpki ca rotate begin only'],
      [
        ['begin', '--ca', 'cluster', '--key-type', 'ecdsa-p384'],
        "kpki: --key-type: changes every key's algorithm, so it rotates every CA (ca, front-proxy-ca, etcd-ca)",
      ],
    ];
    for (const [args, message] of cases) {
      const r = kpki(['ca', 'rotate', ...args, ...at]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    expect(snapshot(dir)).toEqual(before);
  }, 300_000);
});

describe('kpki ca rotate --key-type on a single-node PKI', () => {
  it('RSA-2048 → ECDSA P-256: kpki-settings.json remembers it, so init again without --key-type keeps every key', async () => {
    const dir = tempDir();
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];
    const init = ['init', ...at, '--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
    expect(kpki(init).status).toBe(0);
    for (const step of [['begin', '--service-account', '--key-type', 'ecdsa-p256'], ['reissue'], ['finish']]) {
      const r = kpki(['ca', 'rotate', ...step, '--offline', ...at]);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(JSON.parse(readFileSync(path.join(dir, 'kpki-settings.json'), 'utf8'))).toEqual({ keyType: 'ecdsa-p256' });
    expect([...keysIn(path.join(dir, 'pki'), path.join(dir, 'admin.conf')).keys()]).toEqual(['ec prime256v1']);
    const settled = snapshot(dir);
    const again = kpki([...init, '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(snapshot(dir)).toEqual(settled);
  }, 300_000);
});

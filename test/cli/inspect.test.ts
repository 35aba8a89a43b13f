import { cpSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initArgs, kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

let dir: string;

beforeAll(() => {
  dir = tempDir();
  expect(kpki(initArgs(dir)).status).toBe(0);
});

describe('kpki inspect and check-expiration (rendering and exit codes)', () => {
  it('inspect prints one block per item; --json the same items', () => {
    const human = kpki(['inspect', path.join(dir, 'pki/apiserver.crt'), path.join(dir, 'pki/apiserver.key')]);
    expect(human.status).toBe(0);
    expect(human.stdout).toContain('  certificate  CN=kube-apiserver\n');
    expect(human.stdout).toContain(`matching key ${path.join(dir, 'pki/apiserver.key')}`);
    const json = JSON.parse(kpki(['inspect', '--json', path.join(dir, 'pki')]).stdout);
    expect(json.items.filter((i: { kind: string }) => i.kind === 'certificate')).toHaveLength(10);
  });

  it('inspect of garbage, a missing path or nothing exits 2 with one line', () => {
    const junk = path.join(dir, 'junk.crt');
    writeFileSync(junk, Buffer.from([1, 2, 3, 4]));
    for (const args of [['inspect', junk], ['inspect', path.join(dir, 'missing')], ['inspect']]) {
      const result = kpki(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^kpki: /);
    }
  });

  it("check-expiration prints kubeadm's tables and exits by --warn-within", () => {
    const ok = kpki(['check-expiration', '--cert-dir', path.join(dir, 'pki'), '--warn-within', '30d']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^CERTIFICATE\s+EXPIRES\s+RESIDUAL TIME\s+CERTIFICATE AUTHORITY\s+EXTERNALLY MANAGED\n/);
    expect(ok.stdout).toMatch(/\napiserver\s+\w{3} \d\d, \d{4} \d\d:\d\d UTC\s+364d\s+ca\s+no\n/);
    expect(ok.stdout).toMatch(/\nCERTIFICATE AUTHORITY\s+EXPIRES\s+RESIDUAL TIME\s+EXTERNALLY MANAGED\nca\s+.*\s+9y\s+no\n/);
    const soon = kpki(['check-expiration', '--cert-dir', path.join(dir, 'pki'), '--warn-within', '400d']);
    expect(soon.status).toBe(1);
    expect(soon.stderr).toContain('kpki: apiserver (');
    expect(soon.stderr).not.toContain('kpki: ca (');
    expect(kpki(['check-expiration', '--cert-dir', path.join(dir, 'pki'), '--warn-within', 'soon']).status).toBe(2);
  });

  it('check-expiration marks missing files and refuses broken ones', () => {
    const copy = tempDir();
    cpSync(dir, copy, { recursive: true });
    rmSync(path.join(copy, 'pki/etcd/peer.crt'));
    const missing = kpki(['check-expiration', '--cert-dir', path.join(copy, 'pki')]);
    expect(missing.status).toBe(0);
    expect(missing.stdout).toContain('\n!MISSING! etcd-peer\n');
    writeFileSync(path.join(copy, 'pki/etcd/peer.crt'), '');
    const broken = kpki(['check-expiration', '--cert-dir', path.join(copy, 'pki')]);
    expect(broken.status).toBe(2);
    expect(broken.stderr).toContain('peer.crt');
  });
});

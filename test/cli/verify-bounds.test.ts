import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/commands/verify.js';
import { kpki, nobodyKpki } from '../support/cli.js';
import { junk, tempDir } from '../support/tmp.js';
import { base, copy } from '../support/verify-pki.js';

function expectOneLineError(result: ReturnType<typeof kpki>, fragment: string) {
  expect(result.status, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^kpki: /);
  expect(result.stderr).toContain(fragment);
  expect(result.stderr).not.toContain('internal error');
}

describe('verify: bounded cost', () => {
  it('a 50 MB file where apiserver.crt belongs is a finding, refused by size before it is read', async () => {
    const dir = copy();
    junk(path.join(dir, 'pki/apiserver.crt'));
    const result = await verify(base(dir));
    const invalid = result.findings.filter((f) => f.code === 'FILE_INVALID');
    expect(invalid.map((f) => f.files)).toEqual([[path.join(dir, 'pki/apiserver.crt')]]);
    expect(invalid[0]!.symptom).toMatch(/is 50\.0 MB, far larger than any certificate/);
  });

  it('a 50 MB --apiserver-args file and a symlink loop as --cert-dir are one-line errors', () => {
    const dir = tempDir();
    junk(path.join(dir, 'args'));
    expectOneLineError(kpki(['verify', '--apiserver-args', path.join(dir, 'args')]), 'is 50.0 MB');
    symlinkSync(path.join(dir, 'loop'), path.join(dir, 'loop'));
    expectOneLineError(kpki(['verify', '--cert-dir', path.join(dir, 'loop')]), 'symlink loop');
  });
});

describe('verify: unusable paths are one-line errors (exit 2), never an internal error', () => {
  it.each(['--cert-dir', '--root', '--manifests-dir'])('%s naming a file', (flag) => {
    const dir = copy();
    expectOneLineError(kpki(['verify', flag, path.join(dir, 'pki/ca.crt')]), `is a file, not a directory (${flag})`);
  });

  describe('as an unprivileged user (nobody)', () => {
    let tree: string;
    beforeAll(() => {
      tree = copy();
      spawnSync('chmod', ['-R', 'a+rX', tree]);
    });
    const asNobody = nobodyKpki();

    it('an unreadable --cert-dir', () => {
      const locked = path.join(tree, 'locked');
      mkdirSync(locked, { mode: 0o700 });
      writeFileSync(path.join(locked, 'ca.crt'), 'x');
      expectOneLineError(asNobody(['verify', '--cert-dir', locked]), 'permission denied');
    });

    it('an unreadable key named by a flag is a FILE_INVALID finding, the rest still checked', () => {
      chmodSync(path.join(tree, 'pki/apiserver.key'), 0o600);
      const result = asNobody(['verify', '--cert-dir', path.join(tree, 'pki'), '--json']);
      expect(result.status, result.stderr).toBe(1);
      const findings = JSON.parse(result.stdout).findings as { code: string; subject: string; symptom: string }[];
      const unreadable = findings.filter((f) => f.symptom.includes('permission denied'));
      expect(unreadable.map((f) => f.code)).toContain('FILE_INVALID');
      expect(unreadable.map((f) => f.subject)).toContain('kube-apiserver --tls-private-key-file');
    });
  });
});

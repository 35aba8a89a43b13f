import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { KPKI_BIN } from './cli.js';
import { tempDir } from './tmp.js';

/** A directory of command shims put first on PATH: `kpki` runs this checkout; more shims may be added. */
export function shimDir(shims: Record<string, string> = {}): string {
  const dir = path.join(tempDir('kpki-shims-'), 'bin');
  mkdirSync(dir);
  for (const [name, script] of Object.entries({ kpki: `exec node ${KPKI_BIN} "$@"`, ...shims })) {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${script}\n`);
    chmodSync(path.join(dir, name), 0o755);
  }
  return dir;
}

/** Runs a finding's fix exactly as printed, in a shell, and expects it to succeed. */
export function applyFix(fix: string, cwd: string, shims = shimDir()): void {
  const result = spawnSync('sh', ['-c', fix], { cwd, encoding: 'utf8', env: { ...process.env, PATH: `${shims}:${process.env.PATH}` } });
  expect(result.status, `${fix}\n${result.stdout}${result.stderr}`).toBe(0);
}

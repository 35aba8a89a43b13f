import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT, tempDir } from './tmp.js';

export const KPKI_BIN = path.join(REPO_ROOT, 'bin/kpki.js');

/**
 * Where the CLI runs unless a test says otherwise: an empty directory of the test file's own, so
 * defaults such as ./pki never pick up a PKI a developer made in the repo (the README's `kpki init`).
 */
const DEFAULT_CWD = tempDir('kpki-cwd-');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`npm test` builds dist/ first) with no TTY, as scripts and CI do. */
export function kpki(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const result = spawnSync(process.execPath, [KPKI_BIN, ...args], {
    cwd: options.cwd ?? DEFAULT_CWD,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the CLI and sends `signal` once stderr or the file system shows it is mid-run. */
export function kpkiInterrupted(
  args: string[],
  signal: NodeJS.Signals,
  when: () => boolean,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KPKI_BIN, ...args], { cwd: DEFAULT_CWD, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const poll = setInterval(() => {
      if (when()) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 2);
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, sig) => {
      clearInterval(poll);
      clearTimeout(deadline);
      resolve({ status, signal: sig, stdout, stderr });
    });
  });
}

/** One line on stderr starting `kpki: `, nothing on stdout, no stack trace. */
export function expectOneLineError(result: { stdout: string; stderr: string }, ...fragments: string[]) {
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^kpki: /);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  for (const fragment of fragments) expect(lines[0]).toContain(fragment);
}

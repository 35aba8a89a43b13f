import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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

/** `kpki init` of one ECDSA node (quick to generate) into DIR: DIR/pki and the kubeconfigs in DIR. */
export const initArgs = (dir: string, ...extra: string[]) => [
  'init',
  '--cert-dir',
  path.join(dir, 'pki'),
  '--kubeconfig-dir',
  dir,
  '--node-name',
  'cp1',
  '--advertise-address',
  '10.0.0.11',
  '--key-type',
  'ecdsa-p256',
  ...extra,
];

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

/** Starts the CLI without waiting for it, so that a test can race several runs or kill one. */
export function startKpki(
  args: string[],
  options: { cwd?: string; barrier?: string } = {},
): { child: ChildProcess; result: Promise<CliResult> } {
  // A barrier file holds the run (see barrier.mjs) until the test creates it.
  const barrier = options.barrier ? ['--import', pathToFileURL(path.join(import.meta.dirname, 'barrier.mjs')).href] : [];
  const child = spawn(process.execPath, [...barrier, KPKI_BIN, ...args], {
    cwd: options.cwd ?? DEFAULT_CWD,
    env: { ...process.env, NO_COLOR: '1', KPKI_TEST_BARRIER: options.barrier ?? '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const deadline = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(deadline);
      resolve({ status, signal, stdout, stderr });
    });
  });
  return { child, result };
}

export const kpkiAsync = (args: string[], options: { cwd?: string; barrier?: string } = {}): Promise<CliResult> =>
  startKpki(args, options).result;

/** Starts the CLI and sends `signal` once stderr or the file system shows it is mid-run. */
export function kpkiInterrupted(args: string[], signal: NodeJS.Signals, when: () => boolean): Promise<CliResult> {
  const { child, result } = startKpki(args);
  const poll = setInterval(() => {
    if (when()) {
      clearInterval(poll);
      child.kill(signal);
    }
  }, 2);
  return result.finally(() => clearInterval(poll));
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

/**
 * Runs the CLI as nobody (uid/gid 65534, no groups), as a non-root operator would: from a copy of
 * the CLI that nobody can read wherever the checkout lives. Made once per test file; the trees it
 * reads must be made readable (chmod -R a+rX) by the test.
 */
export function nobodyKpki(): (args: string[], options?: { cwd?: string }) => CliResult {
  let app: string | undefined;
  return (args, options = {}) => {
    if (!app) {
      app = tempDir('kpki-app-');
      for (const part of ['bin', 'dist/cli', 'package.json', 'profiles'])
        cpSync(path.join(REPO_ROOT, part), path.join(app, part), { recursive: true });
      spawnSync('chmod', ['-R', 'a+rX', app]);
    }
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(app, 'bin/kpki.js'), ...args],
      {
        encoding: 'utf8',
        cwd: options.cwd ?? '/',
        env: { ...process.env, NO_COLOR: '1' },
        timeout: 120_000,
      },
    );
    if (r.error) throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };
}

/**
 * The modes kpki gives its files do not depend on the umask it runs under: keys and kubeconfigs
 * 0600, certificates 0644, directories 0755, whether the shell's umask is 022 or a group-sharing
 * 002. One representative day (cluster init, node add, renew, a CA rotation, a user kubeconfig, an
 * extension apiserver's certificate) runs under each, in child processes, and the trees compare.
 * This is the cheap check of both umasks; the suites themselves run under whatever umask CI has.
 */
import { spawn } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KPKI_BIN } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const DAY: string[][] = [
  ['init', '--key-type', 'ecdsa-p256', '--control-plane-nodes', 'cp1=10.0.0.11', '--workers', 'w1=10.0.0.21', '--kubelet-serving-certs'],
  ['node', 'add', 'w2', '--address', '10.0.0.22'],
  ['renew', '--all'],
  // One CA and the service-account key: new keys, so directories switch generations.
  ['ca', 'rotate', 'begin', '--ca', 'front-proxy', '--service-account', '--offline'],
  ['ca', 'rotate', 'reissue', '--offline'],
  ['ca', 'rotate', 'finish', '--offline'],
  ['kubeconfig', 'user', '--client-name', 'alice', '--out', 'alice.conf'],
  ['kubeconfig', 'user', '--client-name', 'bob', '--out', 'bob/bob.conf', '--no-embed'],
  [
    'cert',
    'extension-apiserver',
    '--service',
    'api',
    '--namespace',
    'wardle',
    '--ca',
    'new',
    '--out',
    'wardle/api',
    '--api-group',
    'wardle.example.com',
  ],
];

/** `kpki ARGS` in `dir` under `umask`, set by the shell the way a login or a cron job sets it; its exit code and stderr. */
function kpkiUnder(umask: string, dir: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn('sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, KPKI_BIN, ...args], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** Runs the day in a new directory under `umask`; every path below it (generation and archive stamps made alike) → its kind and mode. */
async function dayUnder(umask: string): Promise<Map<string, string>> {
  const dir = tempDir(`kpki-umask-${umask}-`);
  for (const args of DAY) {
    const r = await kpkiUnder(umask, dir, args);
    expect(r.status, `umask ${umask}: kpki ${args.join(' ')}\n${r.stderr}`).toBe(0);
  }
  const modes = new Map<string, string>();
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.join(sub, name);
      const stat = lstatSync(path.join(dir, rel));
      const kind = stat.isSymbolicLink() ? 'link' : stat.isDirectory() ? 'dir' : 'file';
      modes.set(
        rel
          .replace(/\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[0-9a-f]{8}/g, '..GENERATION')
          .replace(/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z/g, 'STAMP'),
        `${kind} ${kind === 'link' ? '' : (stat.mode & 0o7777).toString(8)}`,
      );
      if (kind === 'dir') walk(rel);
    }
  };
  walk('.');
  return modes;
}

describe('file modes under umask 022 and 002', () => {
  it('are the same, keys 0600 and nothing group- or world-writable', async () => {
    const [usual, shared] = await Promise.all([dayUnder('022'), dayUnder('002')]);
    expect(Object.fromEntries(shared)).toEqual(Object.fromEntries(usual));
    const keys = [...shared].filter(([file, mode]) => /\.key$/.test(file) && !mode.startsWith('link'));
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter(([, mode]) => mode !== 'file 600')).toEqual([]);
    expect([...shared].filter(([file, mode]) => /\.conf$/.test(file) && mode.startsWith('file') && mode !== 'file 600')).toEqual([]);
    expect([...shared].filter(([, mode]) => !mode.startsWith('link') && (parseInt(mode.split(' ')[1]!, 8) & 0o022) !== 0)).toEqual([]);
  });
});

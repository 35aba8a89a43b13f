import { spawn, spawnSync } from 'node:child_process';
import { watch, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificate, parseKey } from '../../src/pki/pem.js';
import { initArgs, kpki, kpkiAsync, startKpki, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

function pairMatches(dir: string, name: string): boolean {
  const crt = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  return sameKeyPair(parseKey(readFileSync(key), key), publicKeyObject(parseCertificate(readFileSync(crt), crt)));
}

const leftovers = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.includes('.kpki'));

/** What pair-reader.mjs saw: pairs read, mismatches (by files), reads torn by a switch's one rename, distinct apiserver.crt seen. */
interface ReaderSummary {
  reads: number;
  mismatches: string[];
  torn: number;
  distinct: number;
}

const PAIR_READER = path.join(import.meta.dirname, '../support/pair-reader.mjs');

/** Reads every pair under `root` once, now: what is on disk. */
function pairsOnDisk(root: string): ReaderSummary {
  const result = spawnSync(process.execPath, [PAIR_READER, '--once', root], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ReaderSummary;
}

/** A process reading every pair under `root` over and over, until stopped. */
function startPairReader(root: string): { stop: () => Promise<ReaderSummary> } {
  const stopFile = path.join(tempDir(), 'stop');
  const child = spawn(process.execPath, [PAIR_READER, '--until', stopFile, root]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    async stop() {
      writeFileSync(stopFile, '');
      expect(await done, stderr).toBe(0);
      return JSON.parse(stdout) as ReaderSummary;
    },
  };
}

/** A new single-node PKI (ECDSA: fast), and the flags that point day-2 commands at it. */
function initialised() {
  const dir = tempDir();
  const pki = path.join(dir, 'pki');
  expect(kpki(initArgs(dir)).status).toBe(0);
  return { dir, pki, day2: ['--cert-dir', pki, '--kubeconfig-dir', dir] };
}

/** Runs kpki to completion, failing the test on a non-zero exit. */
async function run(args: string[]): Promise<void> {
  const result = await kpkiAsync(args);
  expect(result.status, `kpki ${args.join(' ')}: ${result.stderr}`).toBe(0);
}

describe('crashes and concurrent runs', () => {
  it('four kpki init started together on a lock left by a dead run: exactly one writes (6 trials)', async () => {
    for (let trial = 0; trial < 6; trial++) {
      const dir = tempDir();
      mkdirSync(path.join(dir, 'pki'));
      writeFileSync(path.join(dir, 'pki/.kpki.lock'), '999999\n');
      const barrier = path.join(dir, 'go');
      const running = Array.from({ length: 4 }, () => kpkiAsync(initArgs(dir, '--json'), { barrier }));
      // Let every process load and wait at the barrier, then release them together.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      writeFileSync(barrier, '');
      const runs = await Promise.all(running);
      // A run that reached the lock after the winner finished finds a complete set and writes nothing.
      const changed = (r: CliResult) => r.status === 0 && (JSON.parse(r.stdout) as { changed: boolean }).changed;
      const writers = runs.filter(changed);
      expect(writers, `trial ${trial}: ${runs.map((r) => r.stderr).join('')}`).toHaveLength(1);
      for (const other of runs.filter((r) => !changed(r))) {
        if (other.status === 0) continue;
        expect(other.status).toBe(1);
        expect(other.stderr).toMatch(/^kpki: .* is (locked by|being taken over by) another kpki run/);
      }
      expect(pairMatches(path.join(dir, 'pki'), 'ca')).toBe(true);
      const rerun = JSON.parse(kpki(initArgs(dir, '--json')).stdout) as { items: { action: string }[] };
      expect(new Set(rerun.items.map((i) => i.action))).toEqual(new Set(['reuse']));
      expect(leftovers(dir)).toEqual([]);
    }
  });

  it('kill -9 during init --renew apiserver: the pair always matches, or plain kpki init completes it (10 trials)', async () => {
    const dir = tempDir();
    const pki = path.join(dir, 'pki');
    expect(kpki(initArgs(dir)).status).toBe(0);
    for (let trial = 0; trial < 10; trial++) {
      const before = readFileSync(path.join(pki, 'apiserver.crt'), 'utf8');
      const { child, result } = startKpki(initArgs(dir, '--renew', 'apiserver'));
      // Even trials kill the moment the new certificate lands (the key is kept: the one file that
      // changes); odd ones at a random instant of the run.
      const watcher = watch(pki, (_, name) => {
        if (trial % 2 === 0 && name === 'apiserver.crt') child.kill('SIGKILL');
      });
      const timer = trial % 2 ? setTimeout(() => child.kill('SIGKILL'), 150 + Math.random() * 600) : undefined;
      await result;
      watcher.close();
      clearTimeout(timer);
      const pending = readdirSync(pki).some((f) => f.startsWith('.kpki.journal-'));
      if (!pending) expect(pairMatches(pki, 'apiserver'), `trial ${trial}: key and certificate on disk after the kill`).toBe(true);
      const rerun = kpki(initArgs(dir, '--json'));
      expect(rerun.status, `trial ${trial}: ${rerun.stderr}`).toBe(0);
      expect(pairMatches(pki, 'apiserver'), `trial ${trial}`).toBe(true);
      expect(leftovers(dir), `trial ${trial}`).toEqual([]);
      if (pending) expect(readFileSync(path.join(pki, 'apiserver.crt'), 'utf8')).not.toBe(before);
    }
  });

  it('a reader opening certificate then key sees no mismatch during 24 kpki renew and 8 init --renew (keys are kept)', async () => {
    const { dir, pki, day2 } = initialised();
    const reader = startPairReader(dir);
    for (let i = 0; i < 24; i++) await run(['renew', ...(i % 2 ? ['--all'] : ['apiserver', 'etcd-peer', 'admin.conf']), ...day2]);
    for (let i = 0; i < 8; i++) await run(initArgs(dir, '--renew', 'apiserver,front-proxy-client,etcd-server,kubelet.conf'));
    const seen = await reader.stop();
    expect(seen.mismatches).toEqual([]);
    // Only certificates changed: no directory was switched, so no read can have straddled a switch.
    expect(seen.torn).toBe(0);
    expect(seen.distinct, 'the reader read while the renewals wrote').toBeGreaterThan(1);
    expect(readdirSync(pki).filter((f) => f.startsWith('..'))).toEqual([]);
  }, 600_000);

  it('during rotation phases and --new-key renewals every pair read matches, but for reads across the one rename of a switch', async () => {
    const { dir, pki, day2 } = initialised();
    const reader = startPairReader(dir);
    for (const phase of ['begin', 'reissue', 'finish'])
      await run(['ca', 'rotate', phase, '--offline', ...day2, ...(phase === 'begin' ? ['--service-account'] : [])]);
    for (const phase of ['begin', 'reissue', 'abort', 'abort'])
      await run(['ca', 'rotate', phase, '--offline', ...day2, ...(phase === 'begin' ? ['--ca', 'etcd'] : [])]);
    for (let i = 0; i < 4; i++) await run(['renew', '--all', '--new-key', ...day2]);
    const seen = await reader.stop();
    expect(seen.mismatches).toEqual([]);
    expect(seen.reads).toBeGreaterThan(0);
    // The switched directories are whole: names link through ..data, and the set on disk agrees.
    expect(readdirSync(pki)).toEqual(expect.arrayContaining(['..data', 'ca.key', 'apiserver.key']));
    expect(pairsOnDisk(dir)).toMatchObject({ mismatches: [], torn: 0 });
    expect(kpki(['verify', ...day2]).status).toBe(0);
  }, 600_000);

  it('kill -9 at random instants of renewals, key changes and init --renew: every pair on disk matches after each kill, with no rerun (16 trials)', async () => {
    const { dir, pki, day2 } = initialised();
    const init = (keyType: string, ...extra: string[]) => [
      ...initArgs(dir).filter((a, i, all) => a !== '--key-type' && all[i - 1] !== '--key-type'),
      '--key-type',
      keyType,
      ...extra,
    ];
    // Each kind: a new key for every pair, every leaf key replaced (a new key type), keys kept, and a mix.
    const commands = (keyType: string) => [
      ['renew', '--all', '--new-key', ...day2],
      init(keyType, '--force'),
      ['renew', '--all', ...day2],
      init(keyType, '--force', '--renew', 'apiserver,sa'),
    ];
    /** Runs `args`, killing it at the `killAt.change`-th change in the tree or after `killAt.ms`; returns the changes seen and the time taken. */
    const watched = async (args: string[], killAt: { change?: number; ms?: number } = {}) => {
      const started = Date.now();
      const { child, result } = startKpki(args);
      let changes = 0;
      // Not { recursive: true }: Node's recursive watch on Linux throws when a watched folder goes (a replaced generation).
      const watchers = [dir, pki, path.join(pki, 'etcd')].map((d) => watch(d, () => ++changes === killAt.change && child.kill('SIGKILL')));
      const timer = killAt.ms === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAt.ms);
      const { status } = await result;
      for (const watcher of watchers) watcher.close();
      clearTimeout(timer);
      return { changes, ms: Date.now() - started, status };
    };
    // Uninterrupted once each (p384 replaces the p256 keys), to spread the kills over a whole run.
    const whole = [];
    for (const args of commands('ecdsa-p384')) whole.push(await watched(args));
    expect(whole.map((w) => w.status)).toEqual([0, 0, 0, 0]);
    for (let trial = 0; trial < 16; trial++) {
      const kind = trial % 4;
      // The key type flips every four trials, so init --force replaces every leaf key.
      const args = commands(Math.floor(trial / 4) % 2 ? 'ecdsa-p384' : 'ecdsa-p256')[kind]!;
      // Even trials kill at a random change of the tree (the write phase), odd ones at a random instant of the run.
      const killAt = trial % 2 ? { ms: Math.random() * whole[kind]!.ms } : { change: 1 + Math.floor(Math.random() * whole[kind]!.changes) };
      await watched(args, killAt);
      expect(
        pairsOnDisk(dir),
        `trial ${trial} (kpki ${args.join(' ')}, killed at ${JSON.stringify(killAt)}): pairs on disk after the kill`,
      ).toMatchObject({ mismatches: [], torn: 0 });
    }
    await run(['renew', '--all', '--new-key', ...day2]);
    expect(pairsOnDisk(dir)).toMatchObject({ mismatches: [], torn: 0 });
    // A switch leaves one generation per directory: the ones killed runs staged are gone.
    for (const sub of [pki, path.join(pki, 'etcd')])
      expect(readdirSync(sub).filter((f) => f.startsWith('..') && f !== '..data')).toHaveLength(1);
    expect(leftovers(dir)).toEqual([]);
  }, 600_000);

  it('a pending replacement is completed by the next write command, here kpki kubeconfig admin', async () => {
    const dir = tempDir();
    const pki = path.join(dir, 'pki');
    expect(kpki(initArgs(dir)).status).toBe(0);
    // Killed as the first renamed file lands: the journal is committed, the rest not yet renamed.
    for (let attempt = 0; attempt < 5 && !readdirSync(pki).some((f) => f.startsWith('.kpki.journal-')); attempt++) {
      const { child, result } = startKpki(initArgs(dir, '--renew', 'apiserver,front-proxy-client'));
      const watcher = watch(pki, (_, name) => name === 'apiserver.crt' && child.kill('SIGKILL'));
      await result;
      watcher.close();
    }
    expect(
      readdirSync(pki).some((f) => f.startsWith('.kpki.journal-')),
      'a kill landed after the commit',
    ).toBe(true);
    // A dry run writes nothing, so it leaves the replacement pending and says so.
    expect(kpki([...initArgs(dir), '--dry-run']).stderr).toMatch(
      /kpki: warning: .*\.kpki\.journal-.*a killed run's replacement is pending/,
    );
    const result = kpki(['kubeconfig', 'admin', '--cert-dir', pki, '--kubeconfig-dir', dir]);
    expect(result.status, result.stderr).toBe(0);
    expect(leftovers(dir)).toEqual([]);
    expect(pairMatches(pki, 'apiserver')).toBe(true);
    expect(pairMatches(pki, 'front-proxy-client')).toBe(true);
  });

  it('concurrent kpki node add: every node ends up in kpki-cluster.json (2 trials of 3 runs)', async () => {
    for (let trial = 0; trial < 2; trial++) {
      const dir = tempDir();
      const made = kpki([...initArgs(dir), '--control-plane-nodes', 'cp1=10.0.0.11']);
      expect(made.status, made.stderr).toBe(0);
      const names = ['w1', 'w2', 'w3'];
      const runs = await Promise.all(
        names.map((n, i) => kpkiAsync(['node', 'add', n, '--address', `10.0.0.2${i}`, '--kubeconfig-dir', dir])),
      );
      for (const run of runs) expect(run.status, run.stderr).toBe(0);
      const record = JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')) as { nodes: { name: string }[] };
      expect(record.nodes.map((n) => n.name).sort()).toEqual(['cp1', ...names]);
      for (const n of names) expect(existsSync(path.join(dir, 'nodes', n, 'etc/kubernetes/kubelet.conf'))).toBe(true);
    }
  });
});

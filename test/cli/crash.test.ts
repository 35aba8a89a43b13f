import { watch, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificate, parseKey } from '../../src/pki/pem.js';
import { kpki, kpkiAsync, startKpki, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const initArgs = (dir: string, ...extra: string[]) => [
  'init', '--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir, '--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--key-type', 'ecdsa-p256', ...extra,
];

function pairMatches(dir: string, name: string): boolean {
  const crt = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  return sameKeyPair(parseKey(readFileSync(key), key), publicKeyObject(parseCertificate(readFileSync(crt), crt)));
}

const leftovers = (dir: string) => readdirSync(dir, { recursive: true }).map(String).filter((f) => f.includes('.kpki'));

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
      // Even trials kill the moment the new key lands (the window between key and certificate);
      // odd ones at a random instant of the run.
      const watcher = watch(pki, (_, name) => {
        if (trial % 2 === 0 && name === 'apiserver.key') child.kill('SIGKILL');
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

  it('a pending replacement is completed by the next write command, here kpki kubeconfig admin', async () => {
    const dir = tempDir();
    const pki = path.join(dir, 'pki');
    expect(kpki(initArgs(dir)).status).toBe(0);
    // Killed as the first renamed file lands: the journal is committed, the rest not yet renamed.
    for (let attempt = 0; attempt < 5 && !readdirSync(pki).some((f) => f.startsWith('.kpki.journal-')); attempt++) {
      const { child, result } = startKpki(initArgs(dir, '--renew', 'apiserver,front-proxy-client'));
      const watcher = watch(pki, (_, name) => name === 'apiserver.key' && child.kill('SIGKILL'));
      await result;
      watcher.close();
    }
    expect(readdirSync(pki).some((f) => f.startsWith('.kpki.journal-')), 'a kill landed after the commit').toBe(true);
    // A dry run writes nothing, so it leaves the replacement pending and says so.
    expect(kpki([...initArgs(dir), '--dry-run']).stderr).toMatch(/kpki: warning: .*\.kpki\.journal-.*a killed run's replacement is pending/);
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
      const runs = await Promise.all(names.map((n, i) => kpkiAsync(['node', 'add', n, '--address', `10.0.0.2${i}`, '--kubeconfig-dir', dir])));
      for (const run of runs) expect(run.status, run.stderr).toBe(0);
      const record = JSON.parse(readFileSync(path.join(dir, 'kpki-cluster.json'), 'utf8')) as { nodes: { name: string }[] };
      expect(record.nodes.map((n) => n.name).sort()).toEqual(['cp1', ...names]);
      for (const n of names) expect(existsSync(path.join(dir, 'nodes', n, 'etc/kubernetes/kubelet.conf'))).toBe(true);
    }
  });
});

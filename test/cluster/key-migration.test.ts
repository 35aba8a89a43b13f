/**
 * A key-algorithm migration on a running cluster, which kubeadm says cannot be done: a cluster
 * made with RSA-2048 keys moves every key — the three CAs, the service-account key, every leaf and
 * kubeconfig — to ECDSA P-384 through `kpki ca rotate begin --key-type ecdsa-p384 --service-account`,
 * reissue, finish, then `kpki renew --all`, under the client loop of day2-loop.ts (with a real
 * kubelet on the worker), with the restarts each step prints.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { day2OnCluster, type Day2Step } from './day2-loop.js';
import { startCluster } from './harness.js';

const KEY_MIGRATION: Day2Step[] = [
  { phase: 'renew --all --add-san', args: ['renew', '--all', '--add-san', 'k8s-api-alias.example.test'] },
  { phase: 'rotate begin --key-type ecdsa-p384', args: ['ca', 'rotate', 'begin', '--service-account', '--key-type', 'ecdsa-p384'] },
  { phase: 'rotate reissue (new P-384 keys)', args: ['ca', 'rotate', 'reissue'] },
  { phase: 'rotate finish', args: ['ca', 'rotate', 'finish'] },
  { phase: 'renew --all (after the migration)', args: ['renew', '--all'] },
];

interface Inspected {
  kind: string;
  file: string;
  key?: string;
}

describe('key algorithm migration on a running cluster', () => {
  it('RSA-2048 → ECDSA P-384 with no failed routable request; afterwards every key kpki manages is P-384', async () => {
    const c = await startCluster({ keyType: 'rsa-2048', kubelet: 'offline' });
    try {
      const before = await c.kpki(['inspect', '--json', c.certDir]);
      const keysBefore = (JSON.parse(before.stdout) as { items: Inspected[] }).items.filter((i) => i.key).map((i) => i.key);
      expect(new Set(keysBefore)).toEqual(new Set(['rsa 2048']));

      await day2OnCluster(c, KEY_MIGRATION);

      // The shared set, every node's directory (control planes and the worker's kubelet pki), the
      // top-level kubeconfigs and the user kubeconfig; the archive of retired keys is not in use.
      const r = await c.kpki(['inspect', '--json', c.certDir, path.join(c.root, 'nodes'), c.admin, c.superAdmin, c.wardle.kubeconfig]);
      expect(r.code, r.stderr).toBe(0);
      const { items, problems } = JSON.parse(r.stdout) as { items: Inspected[]; problems: unknown[] };
      expect(problems).toEqual([]);
      const keys = items.filter((i) => i.key && !i.file.includes(`${path.sep}rotation-archive${path.sep}`));
      // Every CA, leaf, kubeconfig credential, private key and sa.pub: dozens of them, all P-384.
      expect(keys.length).toBeGreaterThan(40);
      expect(keys.filter((i) => i.key !== 'ec secp384r1').map((i) => `${i.file} (${i.kind}): ${i.key}`)).toEqual([]);
      // The cluster remembers the algorithm: a node added afterwards gets P-384 keys (kpki-cluster.json says so).
      const added = await c.kpki(['node', 'add', 'w2', '--address', c.worker.address.replace(/\.\d+$/, '.22'), '--kubeconfig-dir', c.root]);
      expect(added.code, added.stderr).toBe(0);
      const w2 = await c.kpki(['inspect', '--json', path.join(c.root, 'nodes', 'w2')]);
      const w2Keys = (JSON.parse(w2.stdout) as { items: Inspected[] }).items.filter((i) => i.key);
      expect(w2Keys.length).toBeGreaterThan(3);
      expect(w2Keys.filter((i) => i.key !== 'ec secp384r1').map((i) => `${i.file}: ${i.key}`)).toEqual([]);
    } finally {
      await c.stop();
    }
  }, 3_000_000);
});

#!/usr/bin/env node
// `npm run build && node bench/gate-bench.mjs` (part of `npm run bench`): how long each live gate of
// `kpki ca rotate` takes on the real test cluster (test/cluster/rotation-gates.test.ts: the stacked
// shape, two apiservers, one etcd member), per step it ran for — refused steps included, whose
// controller-manager gate waits out its bound. Needs what the cluster suite needs (scripts/k8s-binaries.sh).
// It is a report: exit 0 with the table, 1 when the cluster test fails.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kpki-gate-bench-')), 'timings.jsonl');
const run = spawnSync('npx', ['vitest', 'run', 'test/cluster/rotation-gates.test.ts'], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, KPKI_GATE_TIMINGS: out },
});
if (run.status !== 0 || !fs.existsSync(out)) {
  console.error(
    `gate-bench: the cluster test failed (exit ${run.status}); run npx vitest run test/cluster/rotation-gates.test.ts for details`,
  );
  process.exit(1);
}
const rows = fs
  .readFileSync(out, 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));
const gates = [...new Set(rows.flatMap((r) => Object.keys(r.timings)))].filter((g) => g !== 'total');
const header = ['step', ...gates, 'total'];
const table = rows.map((r) => [
  `${r.step}${r.refused ? ' (refused)' : ''}`,
  ...gates.map((g) => (r.timings[g] === undefined ? '-' : `${r.timings[g]} ms`)),
  `${r.timings.total} ms`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log('kpki ca rotate live gates on the test cluster (wall clock per gate; after the admin kubeconfig the gates run in parallel)');
console.log(line(header));
for (const row of table) console.log(line(row));
fs.rmSync(path.dirname(out), { recursive: true, force: true });

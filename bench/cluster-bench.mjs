#!/usr/bin/env node
// `npm run build && node bench/cluster-bench.mjs` (part of `npm run bench`): times `kpki init` and
// `kpki verify` for a whole cluster — 3 control planes, 3 external etcd members and 50 workers with
// kpki-issued kubelet serving certificates — next to the same two commands for a single node, in one
// run, whole processes, wall clock. verify runs where kpki-cluster.json is, so it checks the shared
// set and every node directory. It is a report: exit 0 with the table, 1 when a command fails.
//
// Environment:
//   BENCH_RUNS=N           runs per measurement (default 3)
//   BENCH_KEY_TYPES=a,b    key types (default rsa-2048,ecdsa-p256)
//   BENCH_WORKERS=N        workers in the cluster (default 50)
//   BENCH_TMPDIR=DIR       where the per-run temp dirs go (default os.tmpdir())
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KPKI = path.join(ROOT, 'bin', 'kpki.js');
const RUNS = Number.parseInt(process.env.BENCH_RUNS ?? '3', 10);
const WORKERS = Number.parseInt(process.env.BENCH_WORKERS ?? '50', 10);
const KEY_TYPES = (process.env.BENCH_KEY_TYPES ?? 'rsa-2048,ecdsa-p256')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const TMP = process.env.BENCH_TMPDIR ?? os.tmpdir();

function fail(message) {
  console.error(`cluster-bench: ${message}`);
  process.exit(1);
}
if (!(RUNS >= 1) || !(WORKERS >= 1)) fail('BENCH_RUNS and BENCH_WORKERS must be positive integers');
if (!fs.existsSync(path.join(ROOT, 'dist'))) fail('no build: run npm run build first');

const work = fs.mkdtempSync(path.join(TMP, 'kpki-cluster-bench-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));

/** Runs kpki in DIR; wall milliseconds. A failing command ends the report. */
function kpki(dir, args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [KPKI, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error || result.status !== 0)
    fail(
      `kpki ${args[0]} in ${dir} failed (exit ${result.status}): ${result.error?.message ?? result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  return ms;
}

const addresses = (prefix, count, base) => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}=${base}${i + 1}`).join(',');
const SHAPES = {
  'single node': () => ['init', '--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--control-plane-endpoint', '10.0.0.10:6443'],
  [`3 control planes, 3 etcd, ${WORKERS} workers`]: () => [
    'init',
    '--control-plane-nodes',
    addresses('cp', 3, '10.0.0.1'),
    '--control-plane-endpoint',
    '10.0.0.10:6443',
    '--etcd-members',
    addresses('e', 3, '10.0.0.3'),
    '--workers',
    addresses('w', WORKERS, '10.0.1.'),
    '--kubelet-serving-certs',
  ],
};

let fresh = 0;
const rows = [];
for (const keyType of KEY_TYPES) {
  for (const [shape, initArgs] of Object.entries(SHAPES)) {
    const init = [];
    const verify = [];
    // One untimed warm-up, then RUNS rounds; each round is a fresh directory.
    for (let round = 0; round <= RUNS; round++) {
      const dir = path.join(work, String(fresh++));
      fs.mkdirSync(dir);
      const initMs = kpki(dir, [...initArgs(), '--key-type', keyType]);
      const verifyMs = kpki(dir, ['verify']);
      if (round > 0) {
        init.push(initMs);
        verify.push(verifyMs);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    rows.push([keyType, shape, init, verify]);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
console.log(
  `#### cluster: ${RUNS} runs each, wall clock of the whole process, median (min–max) (${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'})\n`,
);
console.log('| key type | shape | kpki init | kpki verify (where kpki-cluster.json is) |\n|---|---|---:|---:|');
for (const [keyType, shape, init, verify] of rows) console.log(`| ${keyType} | ${shape} | ${fmt(init)} | ${fmt(verify)} |`);

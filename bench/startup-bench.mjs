#!/usr/bin/env node
// `npm run build && node bench/startup-bench.mjs`: the short commands against Node's own start-up,
// side by side in one run. Each round runs `node -e 0` and then every command once, so each
// command's time is divided by the `node -e 0` of its own round (a pair sees the same machine
// load); the medians of those ratios are held against the targets:
//   kpki verify --cert-dir (kubeadm tree)        ≤ 1.8x `node -e 0`
//   kpki check-expiration --cert-dir (same tree) ≤ 1.8x
//   kpki init --key-type ecdsa-p256 (empty dir)  ≤ 2.5x
// Whole processes, wall clock (and the children's CPU time, user+sys, from /proc/self/stat on
// Linux), stdout and stderr read through pipes as a script would. It is a report: it exits 0
// when a target is missed, 1 when a command fails, 2 on a setup problem.
//
// Environment:
//   BENCH_RUNS=N      rounds (default 25)
//   BENCH_TMPDIR=DIR  where the temp trees go (default os.tmpdir())
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The command as installed: package.json's "bin".
const KPKI = path.join(ROOT, JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).bin.kpki);
const RUNS = Number.parseInt(process.env.BENCH_RUNS ?? '25', 10);
const TMP = process.env.BENCH_TMPDIR ?? os.tmpdir();
const CLK_TCK = 100;

function fail(status, message) {
  console.error(`startup-bench: ${message}`);
  process.exit(status);
}

if (!fs.existsSync(path.join(ROOT, 'dist/cli/kpki.cjs'))) fail(2, 'no build: run npm run build first');

/** The children's CPU time so far (ms), or NaN where /proc is not there. */
function childrenCpuMs() {
  try {
    const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** One whole process: wall and CPU ms; fails the bench on a non-zero exit. */
function run(name, args) {
  const cpu = childrenCpuMs();
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error) fail(2, `${name}: ${result.error.message}`);
  if (result.status !== 0) fail(1, `${name} exited ${result.status}: ${result.stderr}`);
  return { ms, cpu: childrenCpuMs() - cpu };
}

const work = fs.mkdtempSync(path.join(TMP, 'kpki-startup-bench-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const tree = path.join(work, 'tree');
const pki = path.join(tree, 'pki');
const NODE = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
run('kpki init (the tree to read)', [KPKI, 'init', '--cert-dir', pki, '--kubeconfig-dir', tree, ...NODE]);

let fresh = 0;
const freshDir = () => path.join(work, `init-${fresh++}`);
const COMMANDS = [
  { name: 'kpki verify --cert-dir (kubeadm tree, RSA-2048)', target: 1.8, args: () => [KPKI, 'verify', '--cert-dir', pki] },
  { name: 'kpki check-expiration --cert-dir (same tree)', target: 1.8, args: () => [KPKI, 'check-expiration', '--cert-dir', pki] },
  {
    name: 'kpki init --key-type ecdsa-p256 (empty dir)',
    target: 2.5,
    args: () => {
      const d = freshDir();
      return [KPKI, 'init', '--cert-dir', path.join(d, 'pki'), '--kubeconfig-dir', d, ...NODE, '--key-type', 'ecdsa-p256'];
    },
  },
];
const BASE = '`node -e 0`';

// One warm-up of each (page cache, code cache files), then interleaved rounds.
run(BASE, ['-e', '0']);
for (const c of COMMANDS) run(c.name, c.args());
const rows = new Map([[BASE, { ms: [], cpu: [] }], ...COMMANDS.map((c) => [c.name, { ms: [], cpu: [], ratio: [], cpuRatio: [] }])]);
for (let round = 0; round < RUNS; round++) {
  const base = run(BASE, ['-e', '0']);
  rows.get(BASE).ms.push(base.ms);
  rows.get(BASE).cpu.push(base.cpu);
  for (const c of COMMANDS) {
    const r = run(c.name, c.args());
    const row = rows.get(c.name);
    row.ms.push(r.ms);
    row.cpu.push(r.cpu);
    row.ratio.push(r.ms / base.ms);
    row.cpuRatio.push(base.cpu > 0 ? r.cpu / base.cpu : Number.NaN);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0)}`;
const x = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');
const load = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
console.log(
  `#### start-up: ${RUNS} rounds, whole processes (${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average ${load} at the end)\n`,
);
console.log(
  '| command | wall ms median (min–max) | ratio to `node -e 0` of its round, median (min–max) | CPU ms median | CPU ratio, median |',
);
console.log('|:--|--:|--:|--:|--:|');
for (const [name, row] of rows) {
  const ratio = row.ratio ? `${x(median(row.ratio))} (${x(Math.min(...row.ratio))}–${x(Math.max(...row.ratio))})` : '1x';
  const cpuRatio = row.cpuRatio ? x(median(row.cpuRatio)) : '1x';
  console.log(
    `| ${name} | ${ms(median(row.ms))} (${ms(Math.min(...row.ms))}–${ms(Math.max(...row.ms))}) | ${ratio} | ${ms(median(row.cpu))} | ${cpuRatio} |`,
  );
}
console.log('\n#### Targets (median of the paired wall-clock ratios)\n');
for (const c of COMMANDS) {
  const ratio = median(rows.get(c.name).ratio);
  console.log(`- ${ratio <= c.target ? 'PASS' : 'MISS'} ${c.name}: ${x(ratio)} \`node -e 0\`; target ≤ ${c.target}x`);
}

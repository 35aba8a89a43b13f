#!/usr/bin/env node
// `npm run build && node bench/verify-bench.mjs`: times `kpki verify` (whole processes, wall clock)
// on a kubeadm tree next to its peers over the same files — `openssl verify` of every leaf against
// its CA, and `kubeadm certs check-expiration` when the v1.20.2 binary is built — and measures
// the cost of a 50 MB junk file where a certificate belongs (wall clock and peak RSS).
// It is a report: it exits 0 when a target is missed, 1 when a run fails, 2 on a setup problem.
//
// Environment:
//   BENCH_RUNS=N      runs per measurement (default 10)
//   BENCH_TMPDIR=DIR  where the temp trees go (default os.tmpdir())
//   KUBEADM=PATH      kubeadm binary (default /var/cache/kpki/k8s-v1.20.2/bin/kubeadm, if present)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KPKI = path.join(ROOT, 'bin', 'kpki.js');
const FIXTURE_CONFIG = path.join(ROOT, 'test/fixtures/kubeadm-v1.20.2/kubeadm-config.yaml');
const RUNS = Number.parseInt(process.env.BENCH_RUNS ?? '10', 10);
const TMP = process.env.BENCH_TMPDIR ?? os.tmpdir();
const KUBEADM = process.env.KUBEADM ?? '/var/cache/kpki/k8s-v1.20.2/bin/kubeadm';
const TARGET_VERIFY_MS = 150;
const TARGET_JUNK = { ms: 3000, mb: 300 };

function fail(status, message) {
  console.error(`verify-bench: ${message}`);
  process.exit(status);
}

for (const tool of ['openssl', '/usr/bin/time']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) fail(2, `${tool} is not available`);
}
if (!fs.existsSync(path.join(ROOT, 'dist/cli/kpki-verify.cjs'))) fail(2, 'no build: run npm run build first');

/** Runs a command; returns wall milliseconds, exit status and output. */
function run(command, args, options = {}) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error) fail(2, `${command}: ${result.error.message}`);
  return { ms, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const work = fs.mkdtempSync(path.join(TMP, 'kpki-verify-bench-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const tree = path.join(work, 'tree');
const pki = path.join(tree, 'pki');
const init = run(process.execPath, [
  KPKI,
  'init',
  '--cert-dir',
  pki,
  '--kubeconfig-dir',
  tree,
  '--node-name',
  'cp1',
  '--advertise-address',
  '10.0.0.11',
]);
if (init.status !== 0) fail(1, `kpki init failed: ${init.stderr}`);

// Each leaf with the CA that must verify it, as openssl verify's peers of kpki's chain checks.
const CHAINS = [
  ['ca.crt', ['apiserver.crt', 'apiserver-kubelet-client.crt']],
  ['front-proxy-ca.crt', ['front-proxy-client.crt']],
  ['etcd/ca.crt', ['etcd/server.crt', 'etcd/peer.crt', 'etcd/healthcheck-client.crt', 'apiserver-etcd-client.crt']],
];

const measurements = [
  ['`node -e 0`', () => run(process.execPath, ['-e', '0'])],
  ['kpki verify --cert-dir (kubeadm tree, kubeadm wiring)', () => run(process.execPath, [KPKI, 'verify', '--cert-dir', pki])],
  [
    'openssl verify, one process per CA (7 leaves)',
    () => {
      const runs = CHAINS.map(([ca, leaves]) =>
        run('openssl', ['verify', '-CAfile', path.join(pki, ca), ...leaves.map((l) => path.join(pki, l))]),
      );
      return {
        ms: runs.reduce((sum, r) => sum + r.ms, 0),
        status: runs.find((r) => r.status !== 0)?.status ?? 0,
        stderr: runs.map((r) => r.stderr).join(''),
      };
    },
  ],
];
if (fs.existsSync(KUBEADM)) {
  measurements.push([
    'kubeadm v1.20.2 certs check-expiration',
    () => run(KUBEADM, ['certs', 'check-expiration', '--config', FIXTURE_CONFIG, '--cert-dir', pki]),
  ]);
}

const times = new Map(measurements.map(([name]) => [name, []]));
for (const [name, measure] of measurements) {
  const warm = measure();
  if (warm.status !== 0) fail(1, `${name} failed (exit ${warm.status}): ${warm.stderr}`);
}
// Interleaved rounds: drifting load from other work hits every tool alike.
for (let round = 0; round < RUNS; round++) {
  for (const [name, measure] of measurements) times.get(name).push(measure().ms);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;
console.log(
  `#### verify: ${RUNS} runs each, wall clock of the whole process (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'})\n`,
);
console.log('| what | median | min | max |\n|---|---:|---:|---:|');
for (const [name, xs] of times) console.log(`| ${name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} |`);

// A 50 MB junk file where apiserver.crt belongs: refused by size, never parsed.
const junkTree = path.join(work, 'junk');
fs.cpSync(tree, junkTree, { recursive: true });
fs.truncateSync(path.join(junkTree, 'pki/apiserver.crt'), 50 * 1024 * 1024);
const junk = run('/usr/bin/time', ['-f', '%M', process.execPath, KPKI, 'verify', '--cert-dir', path.join(junkTree, 'pki'), '--json']);
const peakMb = Number(junk.stderr.trim().split('\n').at(-1)) / 1024;
const junkCodes = junk.status === 1 ? JSON.parse(junk.stdout).findings.map((f) => f.code) : [];
if (!junkCodes.includes('FILE_INVALID')) fail(1, `the junk apiserver.crt was not reported (exit ${junk.status}): ${junk.stderr}`);
console.log(
  `\n| 50 MB junk apiserver.crt | wall | peak RSS |\n|---|---:|---:|\n| kpki verify (FILE_INVALID) | ${fmt(junk.ms)} | ${peakMb.toFixed(0)} MB |`,
);

const verifyMs = median(times.get('kpki verify --cert-dir (kubeadm tree, kubeadm wiring)'));
const nodeMs = median(times.get('`node -e 0`'));
const verdict = (ok) => (ok ? 'MET' : 'MISSED');
console.log('\n#### Targets\n');
console.log(
  `- kpki verify on a kubeadm tree ≤ ${TARGET_VERIFY_MS} ms: ${fmt(verifyMs)} (node -e 0: ${fmt(nodeMs)}) — ${verdict(verifyMs <= TARGET_VERIFY_MS)}`,
);
console.log(
  `- 50 MB junk < ${TARGET_JUNK.ms} ms and < ${TARGET_JUNK.mb} MB: ${fmt(junk.ms)}, ${peakMb.toFixed(0)} MB — ${verdict(junk.ms < TARGET_JUNK.ms && peakMb < TARGET_JUNK.mb)}`,
);

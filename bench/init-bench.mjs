// `npm run bench`: kpki init against an openssl-CLI script and a cfssl script producing the same
// certificate set, whole processes, side by side in one run. A report: exits 0 even on a MISS.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 0);
const cores = availableParallelism();
const KPKI = [process.execPath, path.join(repo, 'bin/kpki.js')];
const NODE_ARGS = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--control-plane-endpoint', 'lb.example.com:6443'];

/** Wall time of one process in ms; the work dir is fresh unless `reuse` names one. */
function timed(cmd, args, dir) {
  const start = process.hrtime.bigint();
  const result = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return ms;
}

function series(n, make) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpki-bench-'));
    try {
      samples.push(make(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples.at(-1) };
}

const kpkiInit = (keyType) => (dir) => timed(KPKI[0], [KPKI[1], 'init', '--cert-dir', `${dir}/pki`, '--kubeconfig-dir', dir, '--key-type', keyType, ...NODE_ARGS], dir);
const kpkiRerun = (keyType) => (dir) => {
  kpkiInit(keyType)(dir);
  return kpkiInit(keyType)(dir);
};
const script = (name, keyType) => (dir) => timed('bash', [path.join(repo, 'bench', name), dir, keyType], dir);
/** CPU cost of generating the 16 keys kpki makes, one after another, spread over the cores. */
const keygenPerCore = (keyType) => (dir) => {
  const args = keyType === 'rsa-2048' ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  let total = 0;
  for (let i = 0; i < 16; i++) total += timed('openssl', ['genpkey', ...args, '-out', `${dir}/k${i}.pem`], dir);
  return total / cores;
};

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch {
    return 'not installed';
  }
};

console.log(`machine: ${cores} cores, ${cpus()[0]?.model ?? 'unknown CPU'}; node ${process.version}; ${version('openssl', ['version'])}; cfssl ${version('cfssl', ['version']).replace('Version: ', '')}`);
const nodeStart = series(10, (dir) => timed(process.execPath, ['-e', '0'], dir));
console.log(`node -e 0: median ${nodeStart.median.toFixed(0)} ms\n`);

const fmt = (s) => `${s.median.toFixed(0).padStart(6)} ${s.min.toFixed(0).padStart(6)} ${s.max.toFixed(0).padStart(6)}`;
const verdicts = [];
for (const [keyType, n] of [['rsa-2048', runs || 5], ['ecdsa-p256', runs || 10]]) {
  const rows = {
    'kpki init (fresh)': series(n, kpkiInit(keyType)),
    'kpki init (rerun, all reused)': series(n, kpkiRerun(keyType)),
    'openssl CLI script': series(n, script('openssl-pki.sh', keyType)),
    'cfssl script': series(n, script('cfssl-pki.sh', keyType)),
    [`16 keys with openssl genpkey / ${cores} cores`]: series(Math.min(n, 3), keygenPerCore(keyType)),
  };
  console.log(`${keyType} (${n} runs; ms)        median    min    max`);
  for (const [name, s] of Object.entries(rows)) console.log(`  ${name.padEnd(36)}${fmt(s)}`);
  const kpki = rows['kpki init (fresh)'].median;
  console.log(`  kpki / openssl: ${(kpki / rows['openssl CLI script'].median).toFixed(2)}x   kpki / cfssl: ${(kpki / rows['cfssl script'].median).toFixed(2)}x`);
  if (keyType === 'rsa-2048') {
    const bound = Object.values(rows).at(-1).median;
    const ratio = kpki / bound;
    console.log(`  kpki / (keygen CPU / cores): ${ratio.toFixed(2)}x`);
    verdicts.push(`${ratio <= 1.5 ? 'PASS' : 'MISS'} rsa-2048 within 1.5x of key generation CPU / cores (${ratio.toFixed(2)}x)`);
  } else {
    verdicts.push(`${kpki < 250 ? 'PASS' : 'MISS'} ecdsa-p256 full set under 250 ms including node start (${kpki.toFixed(0)} ms)`);
  }
  console.log();
}
console.log(verdicts.join('\n'));

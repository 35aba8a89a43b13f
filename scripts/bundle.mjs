// Bundles the CLI into one file (resolving ~150 small modules costs Node more start-up time than
// parsing them) and records V8's code cache for it after running typical commands, so a command
// run from a script neither resolves modules nor compiles the functions it uses. The read-only
// commands (`verify`, `flags`, `check-expiration`) get a bundle of their own: most of their wall
// time is start-up, and without the issuing commands it evaluates neither @peculiar/x509 nor its
// ASN.1 schemas (a `verify --live` loads them from the same bundle when it needs them).
import { deepStrictEqual } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { parse as parseYaml } from 'yaml';
import { BUNDLES, loadCli } from '../bin/load-cli.js';

/** The built-in profiles parsed now, by their text (src/model/profile.ts looks them up). */
function parsedProfiles() {
  const parsed = {};
  for (const name of readdirSync('profiles').filter((f) => f.endsWith('.yaml'))) {
    const text = readFileSync(path.join('profiles', name), 'utf8');
    parsed[text] = parseYaml(text);
    // Only what JSON carries survives the define: a profile using more is parsed at run time.
    if (!isJsonData(parsed[text])) delete parsed[text];
  }
  return JSON.stringify(parsed);
}

function isJsonData(value) {
  try {
    deepStrictEqual(JSON.parse(JSON.stringify(value)), value);
    return true;
  } catch {
    return false;
  }
}

const PARSED_PROFILES = parsedProfiles();

async function bundle(entryPoint, outfile) {
  await build({
    entryPoints: [entryPoint],
    // Same depth as dist/cli/main.js, so relative URLs to package.json and profiles/ still resolve.
    outfile,
    bundle: true,
    platform: 'node',
    mainFields: ['module', 'main'],
    // CommonJS, because only a vm.Script (not an ES module) can be given a code cache in Node 20.
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'import.meta.url': '__kpkiBundleUrl', KPKI_PARSED_PROFILES: PARSED_PROFILES },
    // The Kubernetes client (~450 ms to load) stays out of the bundle: only the commands that talk
    // to the API load it. A vm.Script cannot import(), so dynamic imports become require() calls
    // (Node 20.19+ requires ES modules).
    external: ['@kubernetes/client-node', 'node-webcrypto-p11'],
    supported: { 'dynamic-import': false },
    banner: { js: "const __kpkiBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
}

/** Runs `workload` with the bundle, then writes V8's code cache: functions compiled meanwhile are in it too. */
async function recordCodeCache(file, workload) {
  const cache = `${file}.cache`;
  rmSync(cache, { force: true });
  const { main, script } = loadCli(file);
  let errors = '';
  const quiet = { stdout: () => {}, stderr: (text) => (errors += text), interactive: false };
  for (const argv of workload) {
    const status = await main(argv, quiet);
    if (status !== 0) throw new Error(`build: kpki ${argv.join(' ')} exited ${status}: ${errors}`);
  }
  writeFileSync(cache, script.createCachedData());
}

await bundle('dist/cli/main.js', BUNDLES.all);
await bundle('dist/cli/verify-main.js', BUNDLES.verify);

const dir = mkdtempSync(path.join(tmpdir(), 'kpki-build-'));
try {
  const pki = path.join(dir, 'pki');
  const node = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
  // Each bundle's cache holds what its own commands run (bin/kpki.js sends verify and flags to theirs).
  await recordCodeCache(BUNDLES.all, [
    ['init', '--cert-dir', pki, ...node, '--key-type', 'ecdsa-p256'],
    ['init', '--cert-dir', pki, ...node, '--key-type', 'ecdsa-p256', '--json'],
    ['init', '--cert-dir', path.join(dir, 'planned/pki'), '--kubeconfig-dir', path.join(dir, 'planned'), ...node, '--dry-run'],
    ['inspect', dir],
    ['kubeconfig', 'user', '--client-name', 'alice', '--cert-dir', pki],
  ]);
  await recordCodeCache(BUNDLES.verify, [
    ['verify', '--cert-dir', pki],
    ['flags', 'apiserver', '--cert-dir', pki],
    ['check-expiration', '--cert-dir', pki],
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

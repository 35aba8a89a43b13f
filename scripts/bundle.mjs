// Bundles the CLI into one file (resolving ~150 small modules costs Node more start-up time than
// parsing them) and records V8's code cache for it after running typical commands, so a command
// run from a script neither resolves modules nor compiles the functions it uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE, CODE_CACHE, loadCli } from '../bin/load-cli.js';

await build({
  entryPoints: ['dist/cli/main.js'],
  // Same depth as dist/cli/main.js, so relative URLs to package.json and profiles/ still resolve.
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  // CommonJS, because only a vm.Script (not an ES module) can be given a code cache in Node 20.
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'import.meta.url': '__kpkiBundleUrl' },
  // The Kubernetes client (~450 ms to load) stays out of the bundle: only the commands that talk
  // to the API load it. A vm.Script cannot import(), so dynamic imports become require() calls
  // (Node 20.19+ requires ES modules).
  external: ['@kubernetes/client-node'],
  supported: { 'dynamic-import': false },
  banner: { js: "const __kpkiBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// Functions V8 compiled while these ran are in the cache too.
rmSync(CODE_CACHE, { force: true });
const { main, script } = loadCli();
const dir = mkdtempSync(path.join(tmpdir(), 'kpki-build-'));
let errors = '';
const quiet = { stdout: () => {}, stderr: (text) => (errors += text), interactive: false };
try {
  const pki = path.join(dir, 'pki');
  const node = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
  const workload = [
    ['init', '--cert-dir', pki, ...node, '--key-type', 'ecdsa-p256'],
    ['init', '--cert-dir', pki, ...node, '--key-type', 'ecdsa-p256', '--json'],
    ['init', '--cert-dir', path.join(dir, 'planned/pki'), '--kubeconfig-dir', path.join(dir, 'planned'), ...node, '--dry-run'],
    ['verify', '--cert-dir', pki],
    ['inspect', dir],
    ['kubeconfig', 'user', '--client-name', 'alice', '--cert-dir', pki],
  ];
  for (const argv of workload) {
    const status = await main(argv, quiet);
    if (status !== 0) throw new Error(`build: kpki ${argv.join(' ')} exited ${status}: ${errors}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(CODE_CACHE, script.createCachedData());

// Loads a CLI bundle (dist/cli/*.cjs) with V8's code cache (`<bundle>.cache`, made by
// `npm run build`): compiling 600 kB of JavaScript is most of a short command's start-up time.
// A cache from another Node version is rejected by V8 and the bundle compiles as usual.
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const bundlePath = (name) => fileURLToPath(new URL(`../dist/cli/${name}`, import.meta.url));

/** Every command, and the smaller bundle of the read-only commands (see scripts/bundle.mjs). */
export const BUNDLES = { all: bundlePath('kpki.cjs'), verify: bundlePath('kpki-verify.cjs') };

/** The bundle that runs a command line: by its first word. */
export const bundleFor = (argv) => (READ_COMMANDS.has(argv[0]) ? BUNDLES.verify : BUNDLES.all);

/** The commands of src/cli/verify-main.ts (test/cli/startup.test.ts holds the two lists together). */
export const READ_COMMANDS = new Set(['verify', 'flags', 'check-expiration']);

/**
 * Sizes libuv's thread pool before anything uses it: key generation runs there, one prime search
 * per core, with threads to spare for the file writes and signatures that overlap it.
 */
export function sizeThreadPool() {
  process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);
}

/** The bundle's exports ({ main }) and its compiled script, for the build to take a cache from. */
export function loadCli(bundle = BUNDLES.all) {
  let cachedData;
  try {
    cachedData = readFileSync(`${bundle}.cache`);
  } catch {
    // No cache (a build without one, or a read-only copy): compile normally.
  }
  const script = new vm.Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
  return { main: module.exports.main, script };
}

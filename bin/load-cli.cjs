// Loads a CLI bundle (dist/cli/*.cjs) with V8's code cache (`<bundle>.cache`, made by
// `npm run build`): compiling 600 kB of JavaScript is most of a short command's start-up time.
// A cache from another Node version is rejected by V8 and the bundle compiles as usual.
// CommonJS, as the entry that requires it (bin/kpki.cjs): Node's ES module loader alone costs a
// short command about a tenth of its own CPU time. bin/load-cli.js offers the same to ES modules.
'use strict';
const { readFileSync } = require('node:fs');
const { availableParallelism } = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const bundlePath = (name) => path.join(__dirname, '..', 'dist', 'cli', name);

/** Every command, and the smaller bundle of the read-only commands (see scripts/bundle.mjs). */
const BUNDLES = { all: bundlePath('kpki.cjs'), verify: bundlePath('kpki-verify.cjs') };

/** The commands of src/cli/verify-main.ts (test/cli/startup.test.ts holds the two lists together). */
const READ_COMMANDS = new Set(['verify', 'flags', 'check-expiration']);

/** The bundle that runs a command line: by its first word. */
const bundleFor = (argv) => (READ_COMMANDS.has(argv[0]) ? BUNDLES.verify : BUNDLES.all);

/**
 * Sizes libuv's thread pool before anything uses it: key generation runs there, one prime search
 * per core, with threads to spare for the file writes and signatures that overlap it.
 */
function sizeThreadPool() {
  process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);
}

/** The bundle's exports ({ main }) and its compiled script, for the build to take a cache from. */
function loadCli(bundle = BUNDLES.all) {
  let cachedData;
  try {
    cachedData = readFileSync(`${bundle}.cache`);
  } catch {
    // No cache (a build without one, or a read-only copy): compile normally.
  }
  // The CommonJS wrapper by hand: `node:module` (Module.wrap, createRequire) loads Node's ES module
  // loader, a few ms of a short command. The bundle requires builtins and the optional packages,
  // which this file's own require finds in the same package.
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(bundle, 'utf8')}\n});`;
  const script = new vm.Script(source, { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, bundle, path.dirname(bundle));
  return { main: module.exports.main, script };
}

module.exports = { BUNDLES, READ_COMMANDS, bundleFor, sizeThreadPool, loadCli };

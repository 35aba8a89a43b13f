// Loads the CLI bundle (dist/cli/kpki.cjs) with V8's code cache (dist/cli/kpki.cjs.cache, made by
// `npm run build`): compiling 600 kB of JavaScript is most of a short command's start-up time.
// A cache from another Node version is rejected by V8 and the bundle compiles as usual.
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

export const BUNDLE = fileURLToPath(new URL('../dist/cli/kpki.cjs', import.meta.url));
export const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * Sizes libuv's thread pool before anything uses it: key generation runs there, one prime search
 * per core, with threads to spare for the file writes and signatures that overlap it.
 */
export function sizeThreadPool() {
  process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism() + 2);
}

/** The bundle's exports ({ main }) and its compiled script, for the build to take a cache from. */
export function loadCli() {
  let cachedData;
  try {
    cachedData = readFileSync(CODE_CACHE);
  } catch {
    // No cache (a build without one, or a read-only copy): compile normally.
  }
  const script = new vm.Script(Module.wrap(readFileSync(BUNDLE, 'utf8')), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
  return { main: module.exports.main, script };
}

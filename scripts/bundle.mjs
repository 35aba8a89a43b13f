// Bundles the CLI into one file: resolving ~150 small modules costs Node more start-up time
// than parsing them, and a fast start matters for a command run from scripts.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli/main.js'],
  // Same depth as dist/cli/main.js, so relative URLs to package.json and profiles/ still resolve.
  outfile: 'dist/cli/kpki.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies call require() for Node built-ins.
  banner: { js: "import { createRequire as __kpkiRequire } from 'node:module'; const require = __kpkiRequire(import.meta.url);" },
});

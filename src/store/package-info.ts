import { readFileSync } from 'node:fs';

/** kpki's version, from its package.json (two levels above this module, in src/ and in the bundle alike). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

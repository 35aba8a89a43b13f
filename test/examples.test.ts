import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from './support/tmp.js';

/** The examples are documentation that must keep working: run them as a user would. */
describe('examples', () => {
  it('bootstrap.sh builds a PKI, two user kubeconfigs and verifies them', () => {
    const work = tempDir();
    const out = execFileSync('bash', [path.join(REPO_ROOT, 'examples/bootstrap.sh'), work], { encoding: 'utf8' });
    expect(out).toContain(`bootstrap: PKI and kubeconfigs in ${work} verified`);
    expect(JSON.parse(readFileSync(path.join(work, 'verify.json'), 'utf8')).counts.error).toBe(0);
    expect(readFileSync(path.join(work, 'alice.conf'), 'utf8')).toContain('name: alice@kubernetes');
  });

  it('bootstrap.ts does the same through the library API (import from "kpki")', () => {
    const work = tempDir();
    const compiled = path.join(REPO_ROOT, 'examples/.bootstrap.mjs');
    // Node 20 cannot run TypeScript: strip the types, keeping `import … from 'kpki'` (a self-reference).
    buildSync({ entryPoints: [path.join(REPO_ROOT, 'examples/bootstrap.ts')], outfile: compiled, logLevel: 'warning' });
    const out = execFileSync(process.execPath, [compiled, work], { encoding: 'utf8' });
    expect(out).toContain('kubeconfig: alice@kubernetes until');
    expect(out).toContain(`bootstrap: PKI and kubeconfigs in ${work} verified`);
    expect(JSON.parse(readFileSync(path.join(work, 'verify.json'), 'utf8')).counts.error).toBe(0);
  });
});

import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpki } from '../support/cli.js';
import { REPO_ROOT } from '../support/tmp.js';

describe('kpki start-up', () => {
  it('--version and -v, answered before the CLI bundle loads, print the line the CLI itself prints', () => {
    const loader = pathToFileURL(path.join(REPO_ROOT, 'bin/load-cli.js')).href;
    const fromBundle = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import { loadCli } from '${loader}'; process.exitCode = await loadCli().main(['--version']);`],
      { encoding: 'utf8' },
    );
    expect(fromBundle.status, fromBundle.stderr).toBe(0);
    expect(fromBundle.stdout).toMatch(/^kpki\/\d+\.\d+\.\d+\S* /);
    for (const flag of ['--version', '-v']) {
      const fast = kpki([flag]);
      expect(fast.status).toBe(0);
      expect(fast.stderr).toBe('');
      expect(fast.stdout).toBe(fromBundle.stdout);
    }
  });
});

import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpki } from '../support/cli.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

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

describe('the read-only bundle', () => {
  it('holds exactly the commands bin/load-cli.js sends to it', async () => {
    const { READ_COMMANDS: sent } = (await import(pathToFileURL(path.join(REPO_ROOT, 'bin/load-cli.js')).href)) as {
      READ_COMMANDS: Set<string>;
    };
    const { READ_COMMANDS: held } = await import('../../src/cli/verify-main.js');
    expect([...sent].sort()).toEqual(held.map((c) => c.usage.split(' ')[0]).sort());
  });

  it('runs verify and check-expiration without evaluating @peculiar/x509 (whose reflect-metadata defines Reflect.getMetadata)', () => {
    const dir = tempDir();
    const pki = path.join(dir, 'pki');
    expect(
      kpki(['init', '--cert-dir', pki, '--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--key-type', 'ecdsa-p256']).status,
    ).toBe(0);
    const loader = pathToFileURL(path.join(REPO_ROOT, 'bin/load-cli.js')).href;
    const script = `import { BUNDLES, bundleFor, loadCli } from '${loader}';
      const quiet = { stdout: () => {}, stderr: () => {}, interactive: false };
      const statuses = [];
      for (const argv of [['verify', '--cert-dir', ${JSON.stringify(pki)}], ['check-expiration', '--cert-dir', ${JSON.stringify(pki)}]]) {
        if (bundleFor(argv) !== BUNDLES.verify) throw new Error(argv[0] + ' is not sent to the read-only bundle');
        statuses.push(await loadCli(BUNDLES.verify).main(argv, quiet));
      }
      console.log(JSON.stringify({ statuses, getMetadata: typeof Reflect.getMetadata }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ statuses: [0, 0], getMetadata: 'undefined' });
    // The same check sees the library where it is evaluated: the full bundle's init.
    const full = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { loadCli } from '${loader}'; await loadCli().main(['init', '--cert-dir', ${JSON.stringify(pki)}, '--node-name', 'cp1', '--advertise-address', '10.0.0.11'], { stdout: () => {}, stderr: () => {}, interactive: false }); console.log(typeof Reflect.getMetadata);`,
      ],
      { encoding: 'utf8' },
    );
    expect(full.stdout.trim()).toBe('function');
  });
});

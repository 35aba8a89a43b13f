import { readFileSync } from 'node:fs';
import { cac } from 'cac';
import { registerCert } from './cert.js';
import { registerInit, registerNode } from './init.js';
import { registerInspect } from './inspect.js';
import { registerKubeconfig } from './kubeconfig.js';
import { registerRenew } from './renew.js';
import { registerCa } from './ca.js';
import { registerVerify } from './verify.js';
import { processOutput, reportError, type Output } from './output.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `--flag -` (stdin) reads as a bare dash to cac's parser; `--flag=-` does not. */
function joinDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    const previous = out.at(-1);
    if (arg === '-' && previous?.startsWith('--') && !previous.includes('=')) out[out.length - 1] = `${previous}=-`;
    else out.push(arg);
  }
  return out;
}

/** Runs the CLI and resolves to the exit status; never throws. */
export async function main(argv: string[], output: Output = processOutput): Promise<number> {
  let exitCode = 0;
  const run = async (json: boolean, action: () => Promise<number>) => {
    try {
      exitCode = await action();
    } catch (error) {
      exitCode = reportError(error, output, json);
    }
  };
  const cli = cac('kpki');
  registerInit(cli, output, run);
  registerNode(cli, output, run);
  registerVerify(cli, output, run);
  registerKubeconfig(cli, output, run);
  registerInspect(cli, output, run);
  registerCert(cli, output, run);
  registerRenew(cli, output, run);
  registerCa(cli, output, run);
  cli.command('[...args]', '').action((args: string[]) => {
    exitCode = reportError(
      Object.assign(new Error(args.length ? `unknown command "${args[0]}"` : 'no command given'), { name: 'CACError' }),
      output,
      false,
    );
  });
  cli.help();
  cli.version(packageVersion());
  try {
    cli.parse(['node', 'kpki', ...joinDashValues(argv)], { run: false });
    await cli.runMatchedCommand();
  } catch (error) {
    exitCode = reportError(error, output, argv.includes('--json'));
  }
  return exitCode;
}

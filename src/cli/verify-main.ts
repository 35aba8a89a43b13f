import type { Output } from './output.js';
import { runCli } from './run.js';
import { flagsCommand, verifyCommand } from './verify.js';

/**
 * The CLI with only `verify` and `flags`, bundled on its own (dist/cli/kpki-verify.cjs): verify's
 * wall time is mostly start-up, and this entry loads neither issuing nor @peculiar/x509.
 */
export function main(argv: string[], output?: Output): Promise<number> {
  return runCli(argv, [verifyCommand, flagsCommand], output);
}

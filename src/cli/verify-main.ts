import { checkExpirationCommand } from './check-expiration.js';
import type { Output } from './output.js';
import { runCli } from './run.js';
import { flagsCommand, verifyCommand } from './verify.js';

/** The commands of the read-only bundle (bin/load-cli.js sends them there). */
export const READ_COMMANDS = [verifyCommand, flagsCommand, checkExpirationCommand];

/**
 * The CLI with only the commands that read a PKI (`verify`, `flags`, `check-expiration`), bundled on
 * its own (dist/cli/kpki-verify.cjs): their wall time is mostly start-up, and this entry evaluates
 * neither issuing nor @peculiar/x509 (which a `verify --live` loads when it needs it).
 */
export function main(argv: string[], output?: Output): Promise<number> {
  return runCli(argv, READ_COMMANDS, output);
}

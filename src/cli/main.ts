import { approveCommand } from './approve.js';
import { signerCommand } from './signer.js';
import { caCommand } from './ca.js';
import { certCommand } from './cert.js';
import type { Command } from './command.js';
import { initCommand, nodeCommand } from './init.js';
import { checkExpirationCommand } from './check-expiration.js';
import { inspectCommand } from './inspect.js';
import { kubeconfigCommand } from './kubeconfig.js';
import { renewCommand } from './renew.js';
import { flagsCommand, verifyCommand } from './verify.js';
import type { Output } from './output.js';
import { runCli } from './run.js';

/** Every command, in the order `kpki --help` lists them. */
export const COMMANDS: readonly Command[] = [
  initCommand,
  nodeCommand,
  verifyCommand,
  flagsCommand,
  kubeconfigCommand,
  inspectCommand,
  checkExpirationCommand,
  certCommand,
  approveCommand,
  signerCommand,
  renewCommand,
  caCommand,
];

/** Runs the CLI and resolves to the exit status; never throws. */
export function main(argv: string[], output?: Output): Promise<number> {
  return runCli(argv, COMMANDS, output);
}

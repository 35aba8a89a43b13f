import { cac } from 'cac';
import { registerCommand, type Command } from './command.js';
import { cacKey } from './flags.js';
import { badFlag } from '../errors.js';
import { packageVersion } from '../store/package-info.js';
import { processOutput, reportError, type Output } from './output.js';

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

/**
 * Every `--flag value` as typed. cac reads `--client-name 007` as 7 and `--node-name ""` as 0,
 * so a value that looks like a number is taken from here, and an empty one (an unset shell
 * variable in a script) is refused rather than becoming a certificate name.
 */
function typedValues(argv: string[]): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const [i, arg] of argv.entries()) {
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match) continue;
    const next = argv[i + 1];
    const value = match[2] ?? (next !== undefined && !next.startsWith('--') ? next : undefined);
    if (value === undefined) continue;
    if (!value.trim()) throw badFlag(`--${match[1]}`, 'is empty', 'give a value; in a script, check the variable it came from is set');
    const key = cacKey(match[1]!);
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  return values;
}

/** Puts back the text of values cac turned into numbers. */
function restoreText(options: Record<string, unknown>, typed: Map<string, string[]>): void {
  for (const [key, texts] of typed) {
    const value = options[key];
    if (typeof value === 'number') options[key] = texts.at(-1);
    else if (Array.isArray(value) && value.some((v) => typeof v === 'number')) options[key] = texts;
  }
}

/** Runs a CLI of the given commands and resolves to the exit status; never throws. */
export async function runCli(argv: string[], commands: readonly Command[], output: Output = processOutput): Promise<number> {
  let exitCode = 0;
  const run = async (json: boolean, action: () => Promise<number>) => {
    try {
      exitCode = await action();
    } catch (error) {
      exitCode = reportError(error, output, json);
    }
  };
  const cli = cac('kpki');
  // Declaring a command's flags to cac costs start-up time: a command line that names a verb
  // declares that verb alone (its --help is its own); any other gets the whole list.
  const named = commands.filter((command) => command.usage.split(' ')[0] === argv[0]);
  for (const command of named.length ? named : commands) registerCommand(cli, command, output, run);
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
    const args = joinDashValues(argv);
    const typed = typedValues(args);
    cli.parse(['node', 'kpki', ...args], { run: false });
    restoreText(cli.options, typed);
    await cli.runMatchedCommand();
  } catch (error) {
    exitCode = reportError(error, output, argv.includes('--json'));
  }
  return exitCode;
}

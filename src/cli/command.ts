import type { CAC } from 'cac';
import { FLAGS, helpLine, optionSyntax, parseFlags, type FlagId, type FlagValues } from './flags.js';
import type { Output, Runner } from './output.js';

/** One verb of the CLI: its syntax, the flags it takes (from FLAGS, by key) and what it does. */
export interface CommandSpec<I extends FlagId> {
  /** Name and positional arguments, as cac reads them: `node <action> <name>`. */
  usage: string;
  description: string;
  flags: readonly I[];
  examples: readonly string[];
  /** Parsed input → the library → rendered output; resolves to the exit status. */
  run: (args: string[], flags: FlagValues<I>, output: Output) => Promise<number>;
}

/** A command with its flags' types erased, so that commands of any flags can be listed together. */
export interface Command {
  usage: string;
  description: string;
  flags: readonly FlagId[];
  examples: readonly string[];
  run: (args: string[], given: Record<string, unknown>, output: Output) => Promise<number>;
}

export function defineCommand<const I extends FlagId>(spec: CommandSpec<I>): Command {
  return { ...spec, run: (args, given, output) => spec.run(args, parseFlags(spec.flags, given), output) };
}

/** Declares a command to cac: its options and help come from the flag table. */
export function registerCommand(cli: CAC, command: Command, output: Output, run: Runner): void {
  const declared = cli.command(command.usage, command.description);
  for (const id of command.flags) {
    declared.option(optionSyntax(FLAGS[id]), helpLine(FLAGS[id]));
    // cac gives a --no-x switch the default true and prints it; the table's help says what the default is.
    declared.options.at(-1)!.config.default = undefined;
  }
  for (const example of command.examples) declared.example(example);
  declared.action(async (...values: unknown[]) => {
    const given = values.pop() as Record<string, unknown>;
    // Positional arguments in order, a variadic one spread; an absent optional one left out.
    const args = values
      .flat()
      .filter((a) => a !== undefined)
      .map(String);
    await run(Boolean(given.json), () => command.run(args, given, output));
  });
}

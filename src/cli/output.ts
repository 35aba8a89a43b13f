import { exitCodeFor, KpkiError } from '../errors.js';
import { PLAIN, type Styles } from '../render/styles.js';
import { isCharacterDevice, standardStream } from '../store/standard-streams.js';

/** Where commands write: results to stdout, progress and errors to stderr. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stderr is a terminal: progress may be drawn there. */
  interactive: boolean;
}

/** Runs one command's action and records its exit status (errors rendered, never thrown). */
export type Runner = (json: boolean, action: () => Promise<number>) => Promise<void>;

export const processOutput: Output = {
  stdout: standardStream(1, () => process.stdout),
  stderr: standardStream(2, () => process.stderr),
  get interactive() {
    return isCharacterDevice(2) && Boolean(process.stderr.isTTY);
  },
};

/**
 * kleur's styles where it may colour, plain text otherwise. kleur asks process.stdout whether it
 * is a terminal when it loads, which builds the pipe's net.Socket `standardStream` avoids; stdout
 * that is no character device is no terminal, and without FORCE_COLOR kleur would not colour it.
 */
export async function textStyles(): Promise<Styles> {
  if (process.env.FORCE_COLOR === undefined && !isCharacterDevice(1)) return PLAIN;
  return (await import('kleur')).default;
}

/** Turns any failure into one `kpki: …` line and an exit status; never a stack trace. */
export function reportError(error: unknown, output: Output, json: boolean): number {
  if (error instanceof KpkiError) {
    if (json) output.stdout(`${JSON.stringify({ error: error.toJSON() }, null, 2)}\n`);
    output.stderr(`kpki: ${error.message}${error.hint ? `; ${error.hint}` : ''}\n`);
    return exitCodeFor[error.code];
  }
  if (error instanceof Error && error.name === 'CACError') {
    // cac reports options camelCased; users typed them kebab-cased.
    const message = error.message.replace(
      /`--([A-Za-z]+)`/g,
      (_, name: string) => `\`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}\``,
    );
    output.stderr(`kpki: ${message}; see kpki --help\n`);
    return 2;
  }
  // A bug: still one line, with the detail available on request.
  const detail = process.env.KPKI_DEBUG ? `\n${(error as Error)?.stack}` : '; set KPKI_DEBUG=1 for details and report it';
  output.stderr(`kpki: internal error: ${(error as Error)?.message ?? String(error)}${detail}\n`);
  return 1;
}

import { exitCodeFor, KpkiError } from '../errors.js';

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
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
};

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

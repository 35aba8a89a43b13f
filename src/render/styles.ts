/** The text styles kpki's renderers use. kleur's functions are these where colour is on (cli/output.ts). */
export interface Styles {
  red(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
  green(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const plain = (text: string) => text;

/** No colour: what a pipe, a file and the tests get. */
export const PLAIN: Styles = { red: plain, yellow: plain, blue: plain, green: plain, cyan: plain, dim: plain, bold: plain };

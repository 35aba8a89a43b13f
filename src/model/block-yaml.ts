/**
 * The block-style YAML that kubeconfigs are written in (kubectl, kubeadm, kpki): nested maps and
 * sequences, one `key: value` a line, plain scalars. Read here in one pass, because the general
 * parser costs a short command (`verify`, `check-expiration`) about as much as Node's own start-up.
 * Anything outside this subset — quotes, comments, flow collections other than `{}` and `[]`,
 * anchors, tags, multi-line scalars, values YAML would read as numbers, booleans or null, repeated
 * keys — gives undefined, and the caller hands the text to the `yaml` package as before, so every
 * answer is the one `parseDocument(text).toJS()` gives.
 */

interface Line {
  indent: number;
  dash: boolean;
  text: string;
}

class OutsideSubset extends Error {}

const KEY_VALUE = /^([A-Za-z_][A-Za-z0-9_./-]*):(?: (.*))?$/;
// Printable ASCII without spaces, starting with a letter, `_`, `/` or a flag's dashes (`--cluster=dev`);
// no `#` (a comment after a space).
const PLAIN_STRING = /^(?:[A-Za-z_/]|--?[A-Za-z])[!-~]*$/;
// The plain scalars starting with a letter that YAML 1.2's core schema reads as null or a boolean.
const NOT_STRINGS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE']);

function scalar(text: string): unknown {
  if (text === '{}') return {};
  if (text === '[]') return [];
  if (!PLAIN_STRING.test(text) || text.includes('#') || text.endsWith(':') || NOT_STRINGS.has(text)) throw new OutsideSubset();
  return text;
}

function splitLines(text: string): Line[] {
  if (/[\r\t\uFEFF]/.test(text)) throw new OutsideSubset();
  const lines: Line[] = [];
  for (const raw of text.split('\n')) {
    if (/^ *$/.test(raw)) continue;
    const match = /^( *)(- )?(.*)$/.exec(raw)!;
    const body = match[3]!;
    // A nested sequence (`- - a`) or a document marker (`---`) is outside the subset.
    if (!body || /^-(?: |$)/.test(body) || body.startsWith('---') || body.endsWith(' ')) throw new OutsideSubset();
    lines.push({ indent: match[1]!.length, dash: match[2] !== undefined, text: body });
  }
  return lines;
}

class BlockReader {
  private pos = 0;

  constructor(private readonly lines: Line[]) {}

  document(): unknown {
    if (!this.lines.length || this.lines[0]!.indent !== 0) throw new OutsideSubset();
    const value = this.node(0);
    if (this.pos !== this.lines.length) throw new OutsideSubset();
    return value;
  }

  private node(indent: number): unknown {
    const line = this.lines[this.pos]!;
    if (line.dash) return this.sequence(indent);
    if (KEY_VALUE.test(line.text)) return this.map(indent);
    throw new OutsideSubset();
  }

  private sequence(indent: number): unknown[] {
    const items: unknown[] = [];
    for (let line = this.lines[this.pos]; line?.indent === indent && line.dash; line = this.lines[this.pos]) {
      if (KEY_VALUE.test(line.text)) {
        // `- key: value`: a map whose keys sit two columns in.
        this.lines[this.pos] = { indent: indent + 2, dash: false, text: line.text };
        items.push(this.map(indent + 2));
      } else {
        items.push(scalar(line.text));
        this.pos++;
      }
    }
    this.endOfBlock(indent);
    return items;
  }

  private map(indent: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (let line = this.lines[this.pos]; line?.indent === indent && !line.dash; line = this.lines[this.pos]) {
      const [, key, rest] = KEY_VALUE.exec(line.text) ?? [];
      if (key === undefined || key === '__proto__' || Object.hasOwn(map, key) || NOT_STRINGS.has(key) || rest === '') throw new OutsideSubset();
      this.pos++;
      if (rest !== undefined) {
        map[key] = scalar(rest);
        continue;
      }
      const next = this.lines[this.pos];
      if (next && next.indent > indent) map[key] = this.node(next.indent);
      else if (next?.indent === indent && next.dash) map[key] = this.sequence(indent);
      else map[key] = null;
    }
    this.endOfBlock(indent);
    return map;
  }

  /** A block ends at a line indented less; one indented more than its entries is not in the subset. */
  private endOfBlock(indent: number): void {
    const next = this.lines[this.pos];
    if (next && next.indent > indent) throw new OutsideSubset();
  }
}

/** What `yaml`'s `parseDocument(text).toJS()` gives for block-style YAML, or undefined outside that subset. */
export function parseBlockYaml(text: string): unknown {
  try {
    return new BlockReader(splitLines(text)).document();
  } catch (error) {
    if (error instanceof OutsideSubset) return undefined;
    throw error;
  }
}

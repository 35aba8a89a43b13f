import { readYamlDocument, yamlText, type YamlData } from '../model/yaml.js';

/**
 * A base64 `*-data` value that YAML reads and writes as a plain string: a letter, then that
 * alphabet (no number, boolean or null is 64 characters of it).
 */
const DATA = '[A-Za-z][A-Za-z0-9+/=]{63,}';
/** A `NAME-data: <base64>` line of a block mapping. */
const DATA_LINE = new RegExp(`^([ \\t]*[\\w.-]+-data:[ \\t]+)(${DATA})(?=[ \\t]*$)`, 'gm');
const DATA_VALUE = new RegExp(`^${DATA}$`);

/** A stand-in for set-aside values, spelled nowhere in `text`: followed by its value's index. */
function standInFor(text: string): string {
  let standIn = 'kpkidata';
  while (text.includes(standIn)) standIn += 'x';
  return standIn;
}

/** Set when a stand-in turns up anywhere but as a whole value. */
const STRAYED = Symbol('strayed');

/** `value` with each whole-string stand-in put back; STRAYED when one is part of a longer string or a key. */
function putBack(value: unknown, standIn: string, originals: string[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes(standIn)) return value;
    const index = value.slice(standIn.length);
    return value.startsWith(standIn) && /^\d+$/.test(index) && Number(index) < originals.length ? originals[Number(index)] : STRAYED;
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => putBack(item, standIn, originals));
    return items.includes(STRAYED) ? STRAYED : items;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([key, item]) => [key, putBack(item, standIn, originals)] as const);
    return entries.some(([key, item]) => key.includes(standIn) || item === STRAYED) ? STRAYED : Object.fromEntries(entries);
  }
  return value;
}

/**
 * A kubeconfig's YAML as plain data. The `*-data` values (base64 certificates and keys, most of a
 * kubeconfig's bytes) are set aside first and put back after: a YAML lexer goes through a plain
 * scalar one character at a time. The structure is still the parser's to read. Text with an escape
 * (which could spell a stand-in), a stand-in found anywhere but as a whole value (a block scalar
 * holding such a line), and any error send the original text through unchanged.
 */
export function readYamlData(text: string): YamlData {
  if (text.includes('\\')) return readYamlDocument(text);
  const standIn = standInFor(text);
  const originals: string[] = [];
  const shorter = text.replace(DATA_LINE, (_, head: string, value: string) => `${head}${standIn}${originals.push(value) - 1}`);
  if (!originals.length) return readYamlDocument(text);
  const parsed = readYamlDocument(shorter);
  const value = parsed.ok ? putBack(parsed.value, standIn, originals) : STRAYED;
  return value === STRAYED ? readYamlDocument(text) : { ok: true, value };
}

/** `value` with each long `*-data` string replaced by the stand-in and its index in `originals`. */
function setAside(value: unknown, standIn: string, originals: string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => setAside(item, standIn, originals));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      key.endsWith('-data') && typeof item === 'string' && DATA_VALUE.test(item)
        ? `${standIn}${originals.push(item) - 1}`
        : setAside(item, standIn, originals),
    ]),
  );
}

/**
 * A kubeconfig as YAML text (model/yaml.ts yamlText), its `*-data` values set aside while the text
 * is made and put in after: the writer goes through each string a character at a time to choose
 * its style, and a base64 value is always written plain, as it is.
 */
export function kubeconfigText(value: unknown): string {
  const standIn = standInFor(JSON.stringify(value));
  const originals: string[] = [];
  const text = yamlText(setAside(value, standIn, originals));
  return text.replace(new RegExp(`${standIn}(\\d+)`, 'g'), (_, index: string) => originals[Number(index)]!);
}

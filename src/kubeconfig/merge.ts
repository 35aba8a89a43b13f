import { isMap, parse, parseDocument, stringify } from 'yaml';
import { badInput } from '../errors.js';

const LISTS = ['clusters', 'contexts', 'users'] as const;
type Entry = { name?: unknown };

/**
 * Adds the clusters, contexts and users of `addition` to `target` (a kubeconfig's text),
 * replacing same-named entries. It edits the text itself, so every other entry, comment and
 * blank line stays byte for byte; the target's current-context is kept when it has one.
 */
export function mergeKubeconfig(target: string, addition: string, targetFile: string): string {
  if (!target.trim()) return addition;
  const doc = parseDocument(target);
  if (doc.errors.length) throw badInput(targetFile, `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, 'fix it first; kpki does not overwrite a broken kubeconfig');
  if (!isMap(doc.contents) || doc.get('kind') !== 'Config') {
    throw badInput(targetFile, 'is not a kubeconfig (kind: Config)', 'choose a kubeconfig file to merge into');
  }
  const incoming = parse(addition) as Record<string, Entry[] | string>;
  let lines = target.replace(/\n?$/, '\n').split('\n').slice(0, -1);
  for (const list of LISTS) lines = mergeList(lines, list, incoming[list] as Entry[], targetFile);
  if (!doc.get('current-context')) {
    lines = lines.filter((l) => !/^current-context:/.test(l));
    lines.push(`current-context: ${String(incoming['current-context'])}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The lines of a top-level block list: `key:` then items until the next top-level key. */
function listBlock(lines: string[], key: string): { header: number; end: number } | undefined {
  const header = lines.findIndex((l) => new RegExp(`^${key}:\\s*(#.*)?$`).test(l));
  if (header < 0) return undefined;
  let end = header + 1;
  while (end < lines.length && (/^(\s|-\s|-$|#)/.test(lines[end]!) || lines[end] === '')) end++;
  return { header, end };
}

function mergeList(lines: string[], key: string, entries: Entry[] | undefined, file: string): string[] {
  if (!entries?.length) return lines;
  const block = listBlock(lines, key);
  if (!block) {
    // No such block list (absent, or written in flow style): append a fresh one.
    const others = lines.filter((l) => !new RegExp(`^${key}:`).test(l));
    return [...others, ...stringify({ [key]: entries }, { indentSeq: false, lineWidth: 0 }).trimEnd().split('\n')];
  }
  const body = lines.slice(block.header + 1, block.end);
  const itemIndent = /^(\s*)-(\s|$)/.exec(body.find((l) => /^\s*-(\s|$)/.test(l)) ?? '- ')![1]!;
  // Split the body into items, each starting at a `- ` line at the list's indentation.
  const items: string[][] = [];
  const lead: string[] = [];
  for (const line of body) {
    if (line.startsWith(`${itemIndent}-`) && /^-(\s|$)/.test(line.slice(itemIndent.length))) items.push([line]);
    else if (items.length) items.at(-1)!.push(line);
    else lead.push(line);
  }
  const nameOf = (item: string[]) => {
    try {
      const value = parse(item.map((l) => l.slice(itemIndent.length)).join('\n')) as Entry[];
      return value?.[0]?.name;
    } catch {
      throw badInput(file, `${key} has an entry kpki cannot read`, 'fix the kubeconfig first');
    }
  };
  for (const entry of entries) {
    const text = stringify([entry], { indentSeq: false, lineWidth: 0 }).trimEnd().split('\n').map((l) => `${itemIndent}${l}`);
    const index = items.findIndex((item) => nameOf(item) === entry.name);
    if (index >= 0) {
      // Keep blank lines and comments that trail the replaced entry.
      const trailing = items[index]!.slice(items[index]!.findLastIndex((l) => l.trim() && !l.trim().startsWith('#')) + 1);
      items[index] = [...text, ...trailing];
    } else {
      const last = items.at(-1);
      const trailingStart = last ? last.findLastIndex((l) => l.trim() && !l.trim().startsWith('#')) + 1 : 0;
      const trailing = last ? last.splice(trailingStart) : [];
      items.push([...text, ...trailing]);
    }
  }
  return [...lines.slice(0, block.header + 1), ...lead, ...items.flat(), ...lines.slice(block.end)];
}

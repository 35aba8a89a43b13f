import { isMap, parse, parseDocument } from 'yaml';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { kubeconfigText } from './yaml-data.js';

const LISTS = ['clusters', 'contexts', 'users'] as const;
type Entry = { name?: unknown };

/** For each list, how the user picks another name for the entry being added (a flag, for the CLI). */
export type RenameHints = Record<(typeof LISTS)[number], string>;

const DEFAULT_HINTS: RenameHints = { clusters: 'another cluster name', contexts: 'another context name', users: 'another user name' };

/**
 * Adds the clusters, contexts and users of `addition` to `target` (a kubeconfig's text) with
 * kubectl's merge semantics: the first definition wins and nothing existing is rewritten. An
 * entry already present with the same contents is left as it is; one with the same name and
 * different contents is refused (NAME_CLASH), since every kubeadm cluster is called `kubernetes`
 * and silently keeping either would point a context at the wrong cluster. It edits the text
 * itself, so every other entry, comment and blank line stays byte for byte; the target's
 * current-context is kept when it has one.
 */
export function mergeKubeconfig(target: string, addition: string, targetFile: string, hints: RenameHints = DEFAULT_HINTS): string {
  if (!target.trim()) return addition;
  const doc = parseDocument(target);
  if (doc.errors.length)
    throw badInput(
      targetFile,
      `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
      'fix it first; kpki does not overwrite a broken kubeconfig',
    );
  if (!isMap(doc.contents) || doc.get('kind') !== 'Config') {
    throw badInput(targetFile, 'is not a kubeconfig (kind: Config)', 'choose a kubeconfig file to merge into');
  }
  const incoming = parse(addition) as Record<string, Entry[] | string>;
  let lines = target.replace(/\n?$/, '\n').split('\n').slice(0, -1);
  const clashes: string[] = [];
  for (const list of LISTS) lines = mergeList(lines, list, incoming[list] as Entry[], targetFile, clashes);
  if (clashes.length) {
    const flags = [...new Set(clashes.map((c) => hints[c.split('[')[0] as keyof RenameHints]))];
    throw new KpkiError(
      ErrorCode.NameClash,
      `${targetFile}: ${clashes.join(', ')} already exist${clashes.length > 1 ? '' : 's'} with different contents`,
      {
        subject: targetFile,
        hint: `nothing was written; kubectl keeps the first definition, so choose ${flags.join(' / ')}`,
      },
    );
  }
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

/** The same content whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function mergeList(lines: string[], key: string, entries: Entry[] | undefined, file: string, clashes: string[]): string[] {
  if (!entries?.length) return lines;
  const block = listBlock(lines, key);
  if (!block) {
    // No such block list (absent, or written in flow style): append a fresh one.
    const others = lines.filter((l) => !new RegExp(`^${key}:`).test(l));
    return [
      ...others,
      ...kubeconfigText({ [key]: entries })
        .trimEnd()
        .split('\n'),
    ];
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
  const existing = items.map((item) => {
    try {
      return (parse(item.map((l) => l.slice(itemIndent.length)).join('\n')) as Entry[])?.[0];
    } catch {
      throw badInput(file, `${key} has an entry kpki cannot read`, 'fix the kubeconfig first');
    }
  });
  for (const entry of entries) {
    const present = existing.find((e) => e?.name === entry.name);
    if (present) {
      if (canonical(present) !== canonical(entry)) clashes.push(`${key}[${String(entry.name)}]`);
      continue;
    }
    const text = kubeconfigText([entry])
      .trimEnd()
      .split('\n')
      .map((l) => `${itemIndent}${l}`);
    // Blank lines and comments that trail the last entry stay at the end of the list.
    const last = items.at(-1);
    const trailing = last ? last.splice(last.findLastIndex((l) => l.trim() && !l.trim().startsWith('#')) + 1) : [];
    items.push([...text, ...trailing]);
  }
  return [...lines.slice(0, block.header + 1), ...lead, ...items.flat(), ...lines.slice(block.end)];
}

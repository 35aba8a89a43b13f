import type { Observed } from '../plan/decide.js';
import { readOptional } from './files.js';

/** Reads the named files at once: what exists of them, for a decision to look at. */
export async function observeFiles(paths: Iterable<string>, into: Map<string, Buffer> = new Map()): Promise<Observed> {
  const wanted = [...new Set(paths)].filter((file) => !into.has(file));
  const read = await Promise.all(wanted.map(readOptional));
  for (const [index, data] of read.entries()) if (data !== undefined) into.set(wanted[index]!, data);
  return into;
}

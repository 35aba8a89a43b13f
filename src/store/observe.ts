import type { Observed } from '../model/files.js';
import path from 'node:path';
import { linkTarget, readOptional } from './files.js';

/** Reads the named files at once: what exists of them, for a decision to look at. */
export async function observeFiles(paths: Iterable<string>, into: Map<string, Buffer> = new Map()): Promise<Observed> {
  const wanted = [...new Set(paths)].filter((file) => !into.has(file));
  const read = await Promise.all(wanted.map(readOptional));
  for (const [index, data] of read.entries()) if (data !== undefined) into.set(wanted[index]!, data);
  return into;
}

/** Of files that do not exist, those that are symlinks to nothing: a file someone meant to be there. */
export function danglingSymlinks(files: Iterable<string>): { file: string; target: string }[] {
  return [...new Set(files)].flatMap((file) => {
    const target = linkTarget(file);
    return target === undefined ? [] : [{ file, target: path.resolve(path.dirname(file), target) }];
  });
}

import type { Observed } from '../model/files.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readOptional } from './files.js';

/** Reads the named files at once: what exists of them, for a decision to look at. */
export async function observeFiles(paths: Iterable<string>, into: Map<string, Buffer> = new Map()): Promise<Observed> {
  const wanted = [...new Set(paths)].filter((file) => !into.has(file));
  const read = await Promise.all(wanted.map(readOptional));
  for (const [index, data] of read.entries()) if (data !== undefined) into.set(wanted[index]!, data);
  return into;
}

/** Of files that do not exist, those that are symlinks to nothing: a file someone meant to be there. */
export async function danglingSymlinks(files: Iterable<string>): Promise<{ file: string; target: string }[]> {
  const found = await Promise.all(
    [...new Set(files)].map(async (file) => {
      const target = await fs.readlink(file).catch(() => undefined);
      return target === undefined ? [] : [{ file, target: path.resolve(path.dirname(file), target) }];
    }),
  );
  return found.flat();
}

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { badInput } from '../errors.js';
import { LOOP_HINT } from './bounded-read.js';

/**
 * Paths inside a copy of a node's file system (--root): absolute paths and symlink targets are
 * resolved inside the copy, as the node would resolve them.
 */

const MAX_SYMLINKS = 40;

/** Where a path named inside an input really is. */
export type PathResolver = (file: string, relativeTo?: string) => Promise<string>;

/**
 * Follows `file` inside `root` as the node would: absolute symlink targets restart at the root,
 * `..` never climbs above it. A path that stops existing is returned as joined so far.
 */
export async function resolveInRoot(root: string, file: string): Promise<string> {
  let pending = file.split('/').filter(Boolean);
  let resolved = root;
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      if (resolved !== root) resolved = path.dirname(resolved);
      continue;
    }
    const next = path.join(resolved, part);
    const stat = await fs.lstat(next).catch(() => undefined);
    if (!stat?.isSymbolicLink()) {
      resolved = next;
      if (!stat) return path.join(resolved, ...pending);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw badInput(file, `is a symlink loop under ${root} (too many levels of symbolic links)`, LOOP_HINT);
    const target = await fs.readlink(next);
    if (path.isAbsolute(target)) resolved = root;
    pending = [...target.split('/').filter(Boolean), ...pending];
  }
  return resolved;
}

/**
 * Paths named inside inputs are read below `root` when absolute; paths the user gave kpki itself
 * (`givenPaths` and what lies under them) are used as given.
 */
export function pathResolver(root: string | undefined, givenPaths: string[]): PathResolver {
  return async (file, relativeTo) => {
    if (!path.isAbsolute(file)) return path.resolve(relativeTo ?? '.', file);
    const given = givenPaths.some((p) => file === p || file.startsWith(`${p}${path.sep}`));
    return root && !given ? resolveInRoot(root, file) : file;
  };
}

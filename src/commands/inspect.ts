import { INSPECT_PATH_HINT, inspectFiles, type InspectResult } from '../inspect/material.js';
import { readOptional } from '../store/files.js';
import { walkFiles, type WalkedFile } from '../store/tree.js';

/** `kpki inspect`: the files read by store, judged by inspect. */

async function* walkAll(paths: string[]): AsyncGenerator<WalkedFile> {
  for (const p of paths) yield* walkFiles(p, INSPECT_PATH_HINT);
}

/**
 * What a set of files really holds: certificates (with the CA in the set that signed each and
 * the key that belongs to it), keys, CSRs and kubeconfigs.
 */
export function inspect(paths: string[], options: { now?: Date } = {}): Promise<InspectResult> {
  const readFile = (file: string) => readOptional(file).catch(() => undefined);
  return inspectFiles(paths, { files: walkAll(paths), readFile }, options.now ?? new Date());
}

export { checkExpiration, type ExpirationOptions } from './check-expiration.js';

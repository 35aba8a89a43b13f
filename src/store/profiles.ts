import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { badFlag } from '../errors.js';
import { parseProfile, type Profile } from '../model/profile.js';
import { readOptional } from './files.js';

/** Profiles shipped with kpki: `<package>/profiles/*.yaml`. */
export const BUILTIN_PROFILE_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));
export const DEFAULT_PROFILE = 'kubeadm';

export function builtinProfileNames(): string[] {
  return readdirSync(BUILTIN_PROFILE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Loads a built-in profile by name, or any profile file by path. */
export async function loadProfile(nameOrPath: string = DEFAULT_PROFILE): Promise<Profile> {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.yaml') || nameOrPath.endsWith('.yml');
  const file = isPath ? nameOrPath : path.join(BUILTIN_PROFILE_DIR, `${nameOrPath}.yaml`);
  const text = await readOptional(file);
  if (text === undefined) {
    throw badFlag('--profile', `"${nameOrPath}" not found`, `use a file path or one of: ${builtinProfileNames().join(', ')}`);
  }
  return parseProfile(text.toString('utf8'), file);
}

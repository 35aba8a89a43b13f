import { DEFAULTS } from '../model/defaults.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { badFlag, badInput } from '../errors.js';
import { parseProfile, type Profile } from '../model/profile.js';
import { isBinaryText } from '../model/text.js';
import { readOptional } from './files.js';

/** Profiles shipped with kpki: `<package>/profiles/*.yaml`. */
export const BUILTIN_PROFILE_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

export function builtinProfileNames(): string[] {
  return readdirSync(BUILTIN_PROFILE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Loads a built-in profile by name, or any profile file by path (a bare name that is no built-in is a file too). */
export async function loadProfile(nameOrPath: string = DEFAULTS.profile): Promise<Profile> {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.yaml') || nameOrPath.endsWith('.yml');
  const builtin = isPath ? undefined : path.join(BUILTIN_PROFILE_DIR, `${nameOrPath}.yaml`);
  const found = (builtin && (await readOptional(builtin)) && builtin) || nameOrPath;
  const data = await readOptional(found);
  if (data === undefined) {
    throw badFlag(
      '--profile',
      `"${nameOrPath}" is neither a built-in profile nor a file`,
      `use a file path or one of: ${builtinProfileNames().join(', ')}`,
    );
  }
  const text = data.toString('utf8');
  if (isBinaryText(text))
    throw badInput(found, 'is binary data, not a YAML profile', `give a profile file, or one of: ${builtinProfileNames().join(', ')}`);
  return parseProfile(text, found);
}

import { badFlag } from '../errors.js';
import { parseDuration } from '../model/duration.js';

/** A positive duration flag (`5s`, `2m`) in milliseconds. */
export function timeoutMs(flagName: string, text: string): number {
  const seconds = parseDuration(text);
  if (!seconds || seconds <= 0) throw badFlag(flagName, `"${text}" is not a positive duration`, 'use e.g. 5s, 2m');
  return seconds * 1000;
}

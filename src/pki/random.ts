import { createHash, randomBytes } from 'node:crypto';

/** `bytes` random bytes as hex: unique temp and journal names. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** The SHA-256 of a text, as hex. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

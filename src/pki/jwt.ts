import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';

/**
 * Which of the given keys signed a JWT (a service-account token): its name, `other` when none
 * did, undefined when the text is not a JWT. RS*, ES* (IEEE P1363 signatures, as JWS has them).
 */
export function jwtSigner<K extends string>(token: string, keys: Record<K, KeyObject>): K | 'other' | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  let alg: string;
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string }).alg ?? '';
  } catch {
    return undefined;
  }
  const hash = `sha${alg.slice(2) || '256'}`;
  const data = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  for (const name of Object.keys(keys) as K[]) {
    try {
      const key = keys[name].type === 'private' ? createPublicKey(keys[name]) : keys[name];
      if (verifySignature(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig)) return name;
    } catch {
      // Another key type than the token's: not this key.
    }
  }
  return 'other';
}

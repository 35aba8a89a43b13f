import { createPublicKey, KeyObject } from 'node:crypto';

/**
 * A private key held by a PKCS#11 token: it signs through the token's WebCrypto provider and never
 * leaves it. Its public half is a KeyObject, so matching and encoding treat it as any other key.
 */
export interface TokenKey {
  kind: 'token';
  /** The token's handle of the private key (not extractable). */
  privateKey: CryptoKey;
  publicKey: KeyObject;
  /** The provider that owns `privateKey`: signing must go through it. */
  crypto: Crypto;
  /** `token k8s, object cluster-ca`: how messages name it. */
  label: string;
}

/** What a CA signs with: a key in memory (from a file) or a key in a token. */
export type SigningKey = KeyObject | TokenKey;

export const isTokenKey = (key: SigningKey): key is TokenKey => !(key instanceof KeyObject);

/** The public half of any signing key. */
export function publicHalf(key: SigningKey): KeyObject {
  if (isTokenKey(key)) return key.publicKey;
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** The key algorithms kpki generates, named as its flags and profiles name them. */
export const KEY_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ecdsa-p256', 'ecdsa-p384'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

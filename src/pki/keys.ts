import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import type { KeyType } from './key-types.js';
import { subtle } from './crypto.js';

type Algorithm = RsaHashedImportParams | EcKeyImportParams;

function algorithmFor(keyType: KeyType): Algorithm & { modulusLength?: number; publicExponent?: Uint8Array } {
  switch (keyType) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        hash: 'SHA-256',
        modulusLength: Number(keyType.slice(4)),
        publicExponent: new Uint8Array([1, 0, 1]),
      };
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ecdsa-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
  }
}

/** A key pair in both forms: CryptoKey for signing with @peculiar/x509, KeyObject for encoding. */
export interface KeyPair {
  keyType: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * CryptoKey forms of KeyObjects, so a key is imported into WebCrypto once however often it signs
 * (importing costs more than an ECDSA signature).
 */
const cryptoKeys = new WeakMap<KeyObject, Promise<CryptoKey>>();

function cachedCryptoKey(key: KeyObject, make: () => Promise<CryptoKey>): Promise<CryptoKey> {
  let cached = cryptoKeys.get(key);
  if (!cached) cryptoKeys.set(key, (cached = make()));
  return cached;
}

/** Generates a key off the main thread (WebCrypto jobs run on libuv's thread pool). */
export async function generateKeyPair(keyType: KeyType): Promise<KeyPair> {
  const pair = (await subtle.generateKey(algorithmFor(keyType) as RsaHashedKeyGenParams, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const privateKey = KeyObject.from(pair.privateKey);
  const publicKey = KeyObject.from(pair.publicKey);
  cryptoKeys.set(privateKey, Promise.resolve(pair.privateKey));
  cryptoKeys.set(publicKey, Promise.resolve(pair.publicKey));
  return { keyType, privateKey, publicKey };
}

/** kpki's name for a key's algorithm and size, or undefined for keys Kubernetes cannot use. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const name = `rsa-${details.modulusLength}`;
    return (['rsa-2048', 'rsa-3072', 'rsa-4096'] as const).find((t) => t === name);
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (details.namedCurve === 'secp384r1') return 'ecdsa-p384';
  }
  return undefined;
}

/** A human description of any key: `rsa 1024`, `ec secp521r1`, `ed25519`. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  return [key.asymmetricKeyType, d.modulusLength ?? d.namedCurve].filter(Boolean).join(' ');
}

/** PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, as kubeadm writes them. */
export function privateKeyPem(key: KeyObject): string {
  const type = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : key.asymmetricKeyType === 'ec' ? 'sec1' : 'pkcs8';
  return key.export({ type, format: 'pem' }) as string;
}

/** PKIX `PUBLIC KEY`, as kubeadm writes sa.pub. */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

export function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** True when the two keys (private or public) share the same public half. */
export function sameKeyPair(a: KeyObject, b: KeyObject): boolean {
  const pub = (k: KeyObject) => (k.type === 'private' ? createPublicKey(k) : k);
  return spkiDer(pub(a)).equals(spkiDer(pub(b)));
}

/** Parses PKCS#1, PKCS#8 or SEC1 private keys, PEM or DER; throws Node's error on failure. */
export function parsePrivateKey(data: Buffer): KeyObject {
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN')) return createPrivateKey({ key: text, format: 'pem' });
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return createPrivateKey({ key: data, format: 'der', type });
    } catch {
      // Try the next DER container; the last failure is reported below.
    }
  }
  return createPrivateKey({ key: data, format: 'der', type: 'pkcs8' });
}

/** The CryptoKey @peculiar/x509 signs with. */
export function signingKey(key: KeyObject): Promise<CryptoKey> {
  return cachedCryptoKey(key, async () => {
    const keyType = keyTypeOf(key);
    if (!keyType) throw new Error(`unsupported signing key ${describeKey(key)}`);
    return subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), algorithmFor(keyType), false, ['sign']);
  });
}

/** The CryptoKey @peculiar/x509 embeds as a certificate's public key. */
export function certificatePublicKey(key: KeyObject): Promise<CryptoKey> {
  return cachedCryptoKey(key, async () => {
    const keyType = keyTypeOf(key);
    if (!keyType) throw new Error(`unsupported public key ${describeKey(key)}`);
    return subtle.importKey('spki', spkiDer(key), algorithmFor(keyType), true, ['verify']);
  });
}

/** WebCrypto signature parameters for a signer's key: SHA-384 for P-384, SHA-256 otherwise (as Go). */
export function signatureAlgorithm(signer: KeyObject): RsaHashedImportParams | EcdsaParams {
  if (signer.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const hash = signer.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'SHA-384' : 'SHA-256';
  return { name: 'ECDSA', hash };
}

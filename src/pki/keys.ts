import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCallback,
  generatePrime,
  KeyObject,
  webcrypto,
} from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DerReader, jwkNumber, Tag } from './der.js';
import type { KeyType } from './key-types.js';

type Algorithm = RsaHashedImportParams | EcKeyImportParams;

/** WebCrypto's parameters for a key type: generating (modulus, exponent, curve), importing and signing. */
export function algorithmFor(keyType: KeyType): Algorithm & { modulusLength?: number; publicExponent?: Uint8Array } {
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

/** Keys as every layer above pki/ names them: node:crypto stays inside pki/. */
export type { KeyObject };

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

/**
 * How many prime searches run at once: one per core, and never all of libuv's thread pool. The pool
 * runs jobs in the order they were queued, so searches queued there would hold up the file writes
 * and signatures that overlap key generation; queued here, keys also finish in the order asked for.
 */
const PRIME_SEARCHES = Math.max(1, Math.min(availableParallelism(), (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1));
let primeSearches = 0;
const waitingSearches: (() => void)[] = [];

async function randomPrime(bits: number): Promise<bigint> {
  if (primeSearches >= PRIME_SEARCHES) await new Promise<void>((resolve) => waitingSearches.push(resolve));
  else primeSearches++;
  try {
    return await new Promise<bigint>((resolve, reject) =>
      generatePrime(bits, { bigint: true }, (error, prime) => (error ? reject(error) : resolve(prime))),
    );
  } finally {
    // The slot passes straight to the next search, if any.
    const next = waitingSearches.shift();
    if (next) next();
    else primeSearches--;
  }
}

const RSA_PUBLIC_EXPONENT = 65537n;

/** a⁻¹ mod m (extended Euclid); the callers pass coprime values. */
function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, t0, t1] = [m, a % m, 0n, 1n];
  while (r1 !== 0n) {
    const quotient = r0 / r1;
    [r0, r1, t0, t1] = [r1, r0 - quotient * r1, t1, t0 - quotient * t1];
  }
  if (r0 !== 1n) throw new Error('modInverse: not coprime');
  return t0 < 0n ? t0 + m : t0;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A probable prime of `bits` bits with its top two bits set (≥ √2·2^(bits−1)) and p−1 coprime to e. */
async function rsaPrime(bits: number): Promise<bigint> {
  for (;;) {
    // OpenSSL's prime generator (64 Miller-Rabin rounds at these sizes) sets the top two bits
    // already; checked rather than assumed.
    const prime = await randomPrime(bits);
    if (prime >> BigInt(bits - 2) === 3n && (prime - 1n) % RSA_PUBLIC_EXPONENT !== 0n) return prime;
  }
}

const base64url = (n: bigint) => {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
};

/**
 * An RSA key built from two random probable primes, as FIPS 186-4 B.3.3 and Go's crypto/rsa do.
 * OpenSSL 3's own RSA key generation (SP 800-56B with auxiliary primes) costs about 2.5 times the
 * CPU for keys of the same size and strength, and RSA key generation is nearly all of `kpki init`.
 * Each prime is its own job on libuv's thread pool, so one key can use two cores.
 */
async function generateRsaKey(modulusLength: number): Promise<KeyObject> {
  const half = modulusLength / 2;
  for (;;) {
    const [a, b] = await Promise.all([rsaPrime(half), rsaPrime(half)]);
    const [p, q] = a > b ? [a, b] : [b, a];
    // FIPS 186-4 B.3.3 5.4: primes this close would make n easy to factor (never seen in practice).
    if (p - q <= 1n << BigInt(half - 100)) continue;
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const d = modInverse(RSA_PUBLIC_EXPONENT, lambda);
    // FIPS 186-4 B.3.1: a small private exponent is weak (never happens with e = 65537 in practice).
    if (d <= 1n << BigInt(half)) continue;
    const jwk = { kty: 'RSA', n: p * q, e: RSA_PUBLIC_EXPONENT, d, p, q, dp: d % (p - 1n), dq: d % (q - 1n), qi: modInverse(q, p) };
    const key = Object.fromEntries(
      Object.entries(jwk).map(([name, value]) => [name, typeof value === 'bigint' ? base64url(value) : value]),
    );
    return createPrivateKey({ key, format: 'jwk' });
  }
}

/** Generates a key off the main thread (on libuv's thread pool). */
export async function generateKeyPair(keyType: KeyType): Promise<KeyPair> {
  if (keyType.startsWith('rsa-')) {
    const privateKey = await generateRsaKey(Number(keyType.slice(4)));
    return { keyType, privateKey, publicKey: createPublicKey(privateKey) };
  }
  // OpenSSL's EC key generation on the thread pool, as WebCrypto's, without WebCrypto's layers.
  const { namedCurve } = algorithmFor(keyType) as EcKeyGenParams;
  return new Promise((resolve, reject) =>
    generateKeyPairCallback('ec', { namedCurve }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ keyType, privateKey, publicKey }),
    ),
  );
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
  const [left, right] = [pub(a), pub(b)];
  // Across algorithms (an RSA key beside an ECDSA one mid-migration), Node's equals leaves OpenSSL's
  // "different key types" error queued, and the next key parsed on the thread fails with it.
  if (left.asymmetricKeyType !== right.asymmetricKeyType) return false;
  // OpenSSL compares the public halves (what Go's PublicKey.Equal does); exporting both as SPKI costs 20x more.
  return left.equals(right);
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
    return webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), algorithmFor(keyType), false, ['sign']);
  });
}

/** The CryptoKey @peculiar/x509 embeds as a certificate's public key. */
export function certificatePublicKey(key: KeyObject): Promise<CryptoKey> {
  return cachedCryptoKey(key, async () => {
    const keyType = keyTypeOf(key);
    if (!keyType) throw new Error(`unsupported public key ${describeKey(key)}`);
    return webcrypto.subtle.importKey('spki', spkiDer(key), algorithmFor(keyType), true, ['verify']);
  });
}

/** WebCrypto signature parameters for a signer's key: SHA-384 for P-384, SHA-256 otherwise (as Go). */
export function signatureAlgorithm(signer: KeyObject): RsaHashedImportParams | EcdsaParams {
  if (signer.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const hash = signer.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'SHA-384' : 'SHA-256';
  return { name: 'ECDSA', hash };
}

/** The public half of a private key (a public key stays itself). */
export function publicKeyOf(key: KeyObject): KeyObject {
  return createPublicKey(key);
}

/** A DER SubjectPublicKeyInfo. */
export function publicKeyFromDer(der: Buffer): KeyObject {
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/**
 * A two-prime PKCS#1 key (kubeadm's `RSA PRIVATE KEY`) from its numbers, strictly DER: OpenSSL 3
 * decodes a DER key ten times slower than it takes the same numbers as a JWK, and a read command
 * loads every key of a tree. Undefined for anything else (another version, more primes, a malformed
 * body), which OpenSSL then decodes as before.
 */
function rsaKeyFromNumbers(der: Buffer): KeyObject | undefined {
  const outer = new DerReader(der);
  const body = outer.readNested(Tag.SEQUENCE);
  if (!body || !outer.empty || body.readInteger() !== 0n) return undefined;
  const jwk: Record<string, string> = { kty: 'RSA' };
  for (const name of ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi']) {
    const value = body.readInteger();
    if (value === undefined || value <= 0n) return undefined;
    jwk[name] = jwkNumber(value);
  }
  if (!body.empty) return undefined;
  try {
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** A DER private key in one encoding: PKCS#1 (RSA), PKCS#8 or SEC1 (EC). */
export function privateKeyFromDer(der: Buffer, type: 'pkcs1' | 'pkcs8' | 'sec1'): KeyObject {
  return (type === 'pkcs1' && rsaKeyFromNumbers(der)) || createPrivateKey({ key: der, format: 'der', type });
}

/** A PEM public key (`BEGIN PUBLIC KEY`), as sa.pub holds them. */
export function parsePublicKey(pem: string | Buffer): KeyObject {
  return createPublicKey(pem);
}

import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyTypeOf, parsePrivateKey, privateKeyFromDer, privateKeyPem, sameKeyPair } from '../../src/pki/keys.js';
import type { KeyType } from '../../src/model/settings.js';
import { tempDir } from '../support/tmp.js';

const fromBase64url = (value: string) => BigInt(`0x${Buffer.from(value, 'base64url').toString('hex')}`);
const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

describe('generateKeyPair (RSA from two probable primes)', () => {
  it.each(['rsa-2048', 'rsa-3072'] as KeyType[])('%s: exact size, e = 65537, consistent CRT values, FIPS 186-4 bounds', async (keyType) => {
    const bits = Number(keyType.slice(4));
    const { privateKey, publicKey } = await generateKeyPair(keyType);
    expect(keyTypeOf(privateKey)).toBe(keyType);
    expect(sameKeyPair(privateKey, publicKey)).toBe(true);
    const jwk = privateKey.export({ format: 'jwk' });
    const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map((v) =>
      fromBase64url(v!),
    ) as bigint[];
    expect(e).toBe(65537n);
    expect(p! * q!).toBe(n);
    expect(n!.toString(2)).toHaveLength(bits);
    // Both primes at least √2·2^(bits/2 − 1) (top two bits set), not too close to each other.
    expect(p! >> BigInt(bits / 2 - 2)).toBe(3n);
    expect(q! >> BigInt(bits / 2 - 2)).toBe(3n);
    expect(p! - q! > 1n << BigInt(bits / 2 - 100)).toBe(true);
    const lambda = ((p! - 1n) * (q! - 1n)) / gcd(p! - 1n, q! - 1n);
    expect((e! * d!) % lambda).toBe(1n);
    expect(d! > 1n << BigInt(bits / 2)).toBe(true);
    expect([dp, dq, (qi! * q!) % p!]).toEqual([d! % (p! - 1n), d! % (q! - 1n), 1n]);
    const message = Buffer.from('kpki');
    expect(verify('sha256', message, publicKey, sign('sha256', message, privateKey))).toBe(true);
  });

  it('writes PKCS#1 keys that OpenSSL checks as valid and that parse back to the same key', async () => {
    const dir = tempDir();
    const keys = await Promise.all(Array.from({ length: 4 }, () => generateKeyPair('rsa-2048')));
    const moduli = new Set(keys.map((k) => k.privateKey.export({ format: 'jwk' }).n));
    expect(moduli.size).toBe(keys.length);
    for (const [i, { privateKey }] of keys.entries()) {
      const pem = privateKeyPem(privateKey);
      expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
      const file = path.join(dir, `k${i}.key`);
      writeFileSync(file, pem);
      expect(execFileSync('openssl', ['rsa', '-check', '-noout', '-in', file], { encoding: 'utf8' })).toContain('RSA key ok');
      expect(sameKeyPair(parsePrivateKey(Buffer.from(pem)), privateKey)).toBe(true);
    }
  });
});

describe('privateKeyFromDer (PKCS#1 read from its numbers)', () => {
  const openssl = (der: Buffer) => createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });

  it.each([2048, 3072])('an RSA-%i key is the key OpenSSL decodes', async (bits) => {
    const { privateKey } = await generateKeyPair(`rsa-${bits}` as KeyType);
    const der = privateKey.export({ type: 'pkcs1', format: 'der' });
    const key = privateKeyFromDer(der, 'pkcs1');
    expect(key.export({ type: 'pkcs1', format: 'der' })).toEqual(der);
    expect(key.equals(openssl(der))).toBe(true);
    const message = Buffer.from('kpki');
    expect(verify('sha256', message, privateKey, sign('sha256', message, key))).toBe(true);
  });

  it('a three-prime key (version 1) and a body with trailing bytes are left to OpenSSL, as before', () => {
    const dir = tempDir();
    const file = path.join(dir, 'three.key');
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-pkeyopt',
      'rsa_keygen_primes:3',
      '-out',
      file,
    ]);
    const der = execFileSync('openssl', ['rsa', '-in', file, '-traditional', '-outform', 'DER']);
    expect(der.subarray(4, 7)).toEqual(Buffer.from([0x02, 0x01, 0x01]));
    expect(privateKeyFromDer(der, 'pkcs1').equals(openssl(der))).toBe(true);
    const trailing = Buffer.concat([der, Buffer.from([0])]);
    expect(privateKeyFromDer(trailing, 'pkcs1').equals(openssl(trailing))).toBe(true);
  });
});

describe('sameKeyPair across algorithms (a key migration holds RSA and ECDSA keys side by side)', () => {
  it('says no, and the next key parsed on the thread still parses (Node queues OpenSSL\'s "different key types" otherwise)', async () => {
    const [rsa, ec] = await Promise.all([generateKeyPair('rsa-2048'), generateKeyPair('ecdsa-p384')]);
    // As read from files: keys parsed from PEM.
    const [rsaPem, ecPem] = [rsa, ec].map((pair) => Buffer.from(privateKeyPem(pair.privateKey)));
    const [rsaKey, ecKey] = [parsePrivateKey(rsaPem!), parsePrivateKey(ecPem!)];
    expect(sameKeyPair(rsaKey, ecKey)).toBe(false);
    expect(keyTypeOf(parsePrivateKey(rsaPem!))).toBe('rsa-2048');
    expect(sameKeyPair(ecKey, rsaKey)).toBe(false);
    expect(keyTypeOf(parsePrivateKey(ecPem!))).toBe('ecdsa-p384');
    expect(sameKeyPair(rsaKey, rsa.publicKey)).toBe(true);
  });
});

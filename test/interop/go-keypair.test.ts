/**
 * Go's tls.LoadX509KeyPair (goverify's "keypair" check) against kpki verify's reading of the same
 * cert/key files (src/verify/go-readers.ts): the same verdict and the same message, for the ways
 * files go wrong in practice (DER, switched files, stray blocks, broken keys).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { tlsCertificates, tlsPrivateKey } from '../../src/verify/go-readers.js';
import { useGoverify, type Result } from './goverify.js';
import { Resources } from './helpers.js';

const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);

/** kpki's reading of a cert/key pair, in tls.X509KeyPair's order: certificate, key, then the pair. */
function kpkiKeypair(cert: string, key: string): Result {
  const certs = tlsCertificates(readFileSync(cert));
  if (!certs.ok) return { ok: false, error: certs.error };
  const parsed = tlsPrivateKey(readFileSync(key));
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const pub = publicKeyObject(certs.value[0]!);
  if (parsed.value.asymmetricKeyType !== pub.asymmetricKeyType)
    return { ok: false, error: 'tls: private key type does not match public key type' };
  return sameKeyPair(parsed.value, pub) ? { ok: true, error: '' } : { ok: false, error: 'tls: private key does not match public key' };
}

describe('kpki verify reads cert/key pairs as Go does', () => {
  it('same verdict and message as tls.LoadX509KeyPair on every broken pair', async () => {
    const dir = await res.tempDir('keypair');
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.11',
      keyType: 'rsa-2048',
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
    });
    const pki = (f: string) => path.join(dir, 'pki', f);
    const write = (name: string, data: Buffer | string) => {
      writeFileSync(path.join(dir, name), data);
      return path.join(dir, name);
    };
    const cert = pki('apiserver.crt');
    const key = pki('apiserver.key');
    const pem = (f: string) => readFileSync(f, 'utf8');
    const cases: [string, string, string][] = [
      ['the pair as issued', cert, key],
      ['DER certificate', write('der.crt', execFileSync('openssl', ['x509', '-in', cert, '-outform', 'DER'])), key],
      ['DER key', cert, write('der.key', execFileSync('openssl', ['pkey', '-in', key, '-outform', 'DER']))],
      ['PKCS#8 key', cert, write('pkcs8.key', execFileSync('openssl', ['pkey', '-in', key]))],
      ['switched files', key, cert],
      ['certificate in the key file', cert, cert],
      [
        'a key and a CSR where the certificate belongs',
        write('mixed.crt', `${pem(key)}-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n`),
        key,
      ],
      [
        'a CSR where the key belongs',
        cert,
        write('csr.key', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'),
      ],
      [
        'two stray blocks before the key',
        cert,
        write(
          'stray.key',
          `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n`,
        ),
      ],
      ['a broken key body', cert, write('broken.key', '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n')],
      [
        'an ECDSA key for an RSA certificate',
        cert,
        write('ec.key', execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'])),
      ],
      ['another RSA key', cert, pki('front-proxy-client.key')],
      ['empty files', write('empty.crt', ''), write('empty.key', '')],
      ['a bundle: leaf then CA', write('bundle.crt', pem(cert) + pem(pki('ca.crt'))), key],
    ];
    const go = await goCheck(cases.map(([, c, k]) => ({ kind: 'keypair', cert: c, key: k })));
    const mismatches = cases.flatMap(([name, c, k], i) => {
      const ours = kpkiKeypair(c, k);
      return ours.ok === go[i]!.ok && ours.error === go[i]!.error
        ? []
        : [`${name}: Go ${JSON.stringify(go[i])}, kpki ${JSON.stringify(ours)}`];
    });
    expect(mismatches).toEqual([]);
    expect(go.filter((r) => r.ok)).toHaveLength(3);
  }, 300_000);
});

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verify } from '../../src/commands/verify.js';
import { applyFix } from '../support/fix.js';
import { base, copy } from '../support/verify-pki.js';

const der = (tool: 'x509' | 'pkey', file: string) => execFileSync('openssl', [tool, '-in', file, '-outform', 'DER']);

async function onlyFinding(dir: string) {
  const result = await verify(base(dir));
  expect(result.findings.map((f) => f.code)).toEqual(['FILE_INVALID']);
  return result.findings[0]!;
}

describe('verify: data Kubernetes rejects is rejected, with the message the component prints', () => {
  it.each([
    ['apiserver.crt in DER', 'pki/apiserver.crt', (p: string) => der('x509', p), 'tls: failed to find any PEM data in certificate input'],
    [
      'ca.crt in DER (--client-ca-file)',
      'pki/ca.crt',
      (p: string) => der('x509', p),
      (p: string) => `error loading CA bundle for "client-ca-bundle::${p}": data does not contain any valid RSA or ECDSA certificates`,
    ],
    [
      'front-proxy-ca.crt in DER (--requestheader-client-ca-file)',
      'pki/front-proxy-ca.crt',
      (p: string) => der('x509', p),
      (p: string) => `error loading CA bundle for "request-header::${p}": data does not contain any valid RSA or ECDSA certificates`,
    ],
    [
      'sa.key in DER',
      'pki/sa.key',
      (p: string) => der('pkey', p),
      (p: string) => `error reading private key file ${p}: data does not contain a valid RSA or ECDSA private key`,
    ],
    ['apiserver.key in DER', 'pki/apiserver.key', (p: string) => der('pkey', p), 'tls: failed to find any PEM data in key input'],
  ])('%s: FILE_INVALID, and the openssl fix makes it verify clean, under a group-sharing umask too', async (_, file, make, symptom) => {
    const dir = copy();
    const target = path.join(dir, file);
    writeFileSync(target, make(target));
    const found = await onlyFinding(dir);
    expect(found.symptom).toBe(typeof symptom === 'string' ? symptom : symptom(target));
    expect(found.fix).toMatch(/^openssl (x509|pkey) -inform DER /);
    // openssl makes its output 0664 under umask 002: the fix must leave the mode verify expects.
    applyFix(`umask 002; ${found.fix}`, dir);
    expect((await verify(base(dir))).findings).toEqual([]);
  });

  it.each([
    [
      'a certificate where the key belongs',
      'pki/apiserver.key',
      'pki/apiserver.crt',
      'tls: found a certificate rather than a key in the PEM for the private key',
    ],
    [
      'a key where the certificate belongs',
      'pki/front-proxy-client.crt',
      'pki/front-proxy-client.key',
      'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
    ],
    ['another private key as sa.pub', 'pki/sa.pub', 'pki/apiserver-kubelet-client.key', undefined],
  ])('wrong PEM block type: %s', async (_, file, from, symptom) => {
    const dir = copy();
    cpSync(path.join(dir, from), path.join(dir, file));
    const result = await verify(base(dir));
    if (symptom) {
      expect(result.findings.map((f) => `${f.code} ${f.symptom}`)).toContain(`FILE_INVALID ${symptom}`);
    } else {
      // keyutil takes a private key's public half: readable, but no longer sa.key's, for both signers.
      expect(result.findings.map((f) => f.code)).toEqual(['SA_KEY_MISMATCH', 'SA_KEY_MISMATCH']);
    }
  });

  it("a certificate Go's parser refuses (negative serial number): FILE_INVALID with the parse error the apiserver prints", async () => {
    const dir = copy();
    const crt = path.join(dir, 'pki/apiserver.crt');
    execFileSync('openssl', [
      'req',
      '-x509',
      '-key',
      path.join(dir, 'pki/apiserver.key'),
      '-subj',
      '/CN=kube-apiserver',
      '-set_serial',
      '-5',
      '-days',
      '30',
      '-out',
      crt,
    ]);
    const found = await onlyFinding(dir);
    expect(found.symptom).toBe('x509: negative serial number');
    expect(found.files).toEqual([crt]);
  });

  it("sa.pub without any key: keyutil's message, as kube-apiserver prints it", async () => {
    const dir = copy();
    const pub = path.join(dir, 'pki/sa.pub');
    writeFileSync(pub, '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    const found = await onlyFinding(dir);
    expect(found.symptom).toBe(`error reading public key file ${pub}: data does not contain any valid RSA or ECDSA public keys`);
  });

  it.each([
    ['certificate-authority-data', 'x509', 'unable to load root certificates: unable to parse bytes as PEM block'],
    ['client-certificate-data', 'x509', 'tls: failed to find any PEM data in certificate input'],
    ['client-key-data', 'pkey', 'tls: failed to find any PEM data in key input'],
  ] as const)('DER %s in a kubeconfig: the finding says what kubectl says', async (field, tool, message) => {
    const dir = copy();
    const conf = path.join(dir, 'admin.conf');
    const text = readFileSync(conf, 'utf8');
    const value = new RegExp(`${field}: (\\S+)`).exec(text)![1]!;
    const derValue = execFileSync('openssl', [tool, '-outform', 'DER'], { input: Buffer.from(value, 'base64') }).toString('base64');
    writeFileSync(conf, text.replace(value, derValue));
    const found = await onlyFinding(dir);
    expect(found.symptom).toBe(message);
    expect(found.subject).toBe('admin.conf');
    // kubectl (client-go) refuses the same bytes with the same words, before dialing anything.
    const kubectl = spawnSync(
      'kubectl',
      ['--kubeconfig', conf, '--server', 'https://127.0.0.1:1', '--request-timeout', '2s', 'get', 'ns'],
      { encoding: 'utf8' },
    );
    expect(kubectl.stderr).toContain(message);
  });
});

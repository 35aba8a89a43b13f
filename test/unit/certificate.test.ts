import { createPrivateKey, createPublicKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateFacts, certificatePem, issueCertificate, subjectName } from '../../src/pki/certificate.js';
import { x509 } from '../../src/pki/crypto.js';
import { generateKeyPair, type KeyPair } from '../../src/pki/keys.js';
import { loadCertificate } from '../../src/pki/pem.js';
import { buildPkiSpec, type CertSpec, type PkiSpec } from '../../src/model/spec.js';
import { resolveSettings } from '../../src/model/settings.js';
import { loadProfile } from '../../src/store/profiles.js';
import { tempDir } from '../support/tmp.js';

const GOLDEN = path.join(import.meta.dirname, 'fixtures/golden');
const NOW = new Date('2026-11-22T12:00:00Z');

let spec: PkiSpec;
const cert = (name: string): CertSpec => spec.certificates.find((c) => c.name === name)!;

beforeAll(async () => {
  spec = buildPkiSpec(
    await loadProfile('kubeadm'),
    resolveSettings({ nodeName: 'cp1', advertiseAddress: '10.0.0.11' }, { nodeName: 'x', advertiseAddress: undefined }),
  );
});

async function selfSigned(name: string, pair: KeyPair, now = NOW) {
  return issueCertificate({ spec: cert(name), publicKey: pair.publicKey, issuer: { key: pair.privateKey, certificate: undefined }, now });
}

describe('subject encoding (Go pkix.Name)', () => {
  it('puts several O values in one multi-valued RDN, DER-sorted, before CN', () => {
    // kubeadm kubeconfig user --org dev --org qa yields "O = qa + O = dev" (shorter encodings sort first).
    expect(subjectName('alice', ['dev', 'qa']).toString()).toBe('O=qa+O=dev, CN=alice');
    expect(subjectName('alice', ['system:nodes', 'dev']).toString()).toBe('O=dev+O=system:nodes, CN=alice');
    expect(subjectName('alice', ['zz', 'aa']).toString()).toBe('O=aa+O=zz, CN=alice');
  });

  it('uses PrintableString when it can (":" is allowed) and UTF8String otherwise', () => {
    const der = (cn: string) => Buffer.from(subjectName(cn, []).toArrayBuffer());
    expect(der('system:kube-scheduler').includes(Buffer.from([0x13, 21]))).toBe(true);
    expect(der('ünicode').includes(Buffer.from([0x0c]))).toBe(true);
  });
});

describe('issueCertificate', () => {
  it('is byte-for-byte reproducible for fixed keys, serials and clock (RSA PKCS#1 v1.5 is deterministic)', async () => {
    const caKey = createPrivateKey(readFileSync(path.join(GOLDEN, 'ca.key')));
    const leafKey = createPrivateKey(readFileSync(path.join(GOLDEN, 'apiserver.key')));
    const ca = await issueCertificate({
      spec: cert('ca'),
      publicKey: createPublicKey(caKey),
      issuer: { key: caKey, certificate: undefined },
      now: NOW,
      serialNumber: '01',
    });
    const leaf = await issueCertificate({
      spec: cert('apiserver'),
      publicKey: createPublicKey(leafKey),
      issuer: { key: caKey, certificate: ca },
      now: NOW,
      serialNumber: '2a',
    });
    for (const [name, issued] of [
      ['ca.crt', ca],
      ['apiserver.crt', leaf],
    ] as const) {
      const golden = path.join(GOLDEN, name);
      // Regenerate deliberately with KPKI_UPDATE_GOLDEN=1 after an intended encoding change.
      if (process.env.KPKI_UPDATE_GOLDEN) writeFileSync(golden, certificatePem(issued));
      expect(certificatePem(issued)).toBe(readFileSync(golden, 'utf8'));
    }
  });

  it('backdates NotBefore by the policy and caps a leaf at its CA expiry', async () => {
    const pair = await generateKeyPair('ecdsa-p256');
    const ca = await selfSigned('ca', pair);
    expect(ca.notBefore.toISOString()).toBe('2026-11-22T11:55:00.000Z');
    expect(ca.notAfter.toISOString()).toBe('2036-11-19T12:00:00.000Z');
    const late = new Date('2036-06-01T00:00:00Z');
    const leaf = await issueCertificate({
      spec: cert('front-proxy-client'),
      publicKey: pair.publicKey,
      issuer: { key: pair.privateKey, certificate: ca },
      now: late,
    });
    expect(leaf.notAfter).toEqual(ca.notAfter);
  });

  it('signs P-384 with SHA-384 and P-256 with SHA-256, as Go does', async () => {
    const p384 = await selfSigned('ca', await generateKeyPair('ecdsa-p384'));
    expect(certificateFacts(p384).signatureAlgorithm).toBe('SHA-384 with ECDSA');
    const p256 = await selfSigned('ca', await generateKeyPair('ecdsa-p256'));
    expect(certificateFacts(p256).signatureAlgorithm).toBe('SHA-256 with ECDSA');
  });

  it.each(['ecdsa-p256', 'ecdsa-p384'] as const)(
    'a %s key in the certificate is the SubjectPublicKeyInfo OpenSSL encodes',
    async (keyType) => {
      for (let i = 0; i < 4; i++) {
        const pair = await generateKeyPair(keyType);
        const ca = await selfSigned('ca', pair);
        expect(Buffer.from(ca.publicKey.rawData)).toEqual(pair.publicKey.export({ type: 'spki', format: 'der' }));
      }
    },
  );

  it('draws positive 63-bit serials', async () => {
    const pair = await generateKeyPair('ecdsa-p256');
    const serials = await Promise.all(Array.from({ length: 8 }, async () => (await selfSigned('ca', pair)).serialNumber));
    expect(new Set(serials).size).toBe(8);
    for (const serial of serials) {
      expect(serial.length).toBeLessThanOrEqual(16);
      expect(BigInt(`0x${serial}`) > 0n && BigInt(`0x${serial}`) < 2n ** 63n).toBe(true);
    }
  });

  it('gives CAs a SubjectKeyIdentifier (RFC 5280 method 1) that leaves carry as AuthorityKeyIdentifier', async () => {
    const pair = await generateKeyPair('rsa-2048');
    const ca = await selfSigned('ca', pair);
    const leaf = await issueCertificate({
      spec: cert('apiserver'),
      publicKey: pair.publicKey,
      issuer: { key: pair.privateKey, certificate: ca },
      now: NOW,
    });
    const caFacts = certificateFacts(ca);
    expect(caFacts.subjectKeyId).toBe(
      await new x509.PublicKey(ca.publicKey.rawData).getKeyIdentifier().then((id) => Buffer.from(id).toString('hex')),
    );
    expect(caFacts.authorityKeyId).toBeUndefined();
    expect(certificateFacts(leaf)).toMatchObject({ subjectKeyId: undefined, authorityKeyId: caFacts.subjectKeyId, isCA: false });
  });
});

describe("certificateFacts (Go's parse alone)", () => {
  it('names signature algorithms and serials as @peculiar/x509 does, so inspect prints what it printed', () => {
    const dir = tempDir();
    const key = (name: string, ...args: string[]) => {
      execFileSync('openssl', ['genpkey', ...args, '-out', path.join(dir, name)], { stdio: 'ignore' });
      return path.join(dir, name);
    };
    const rsa = key('rsa.key', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048');
    const ec = key('ec.key', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    const ed = key('ed.key', '-algorithm', 'ed25519');
    const cases: [string, string[]][] = [
      ...['sha1', 'sha256', 'sha384', 'sha512'].flatMap((hash): [string, string[]][] => [
        [rsa, [`-${hash}`]],
        [ec, [`-${hash}`]],
      ]),
      [rsa, ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']],
      [rsa, ['-md5']],
      [ed, []],
    ];
    for (const [i, [keyFile, options]] of cases.entries()) {
      const pem = execFileSync('openssl', [
        'req',
        '-x509',
        '-key',
        keyFile,
        ...options,
        '-subj',
        `/CN=case${i}`,
        '-set_serial',
        String(2 ** (i * 4 + 3)),
        '-days',
        '2',
      ]);
      const reference = new x509.X509Certificate(pem.toString());
      const facts = certificateFacts(loadCertificate(Buffer.from(reference.rawData)));
      const algorithm = reference.signatureAlgorithm as { name: string; hash?: { name: string } };
      expect({ signatureAlgorithm: facts.signatureAlgorithm, serialNumber: facts.serialNumber }, options.join(' ')).toEqual({
        signatureAlgorithm: [algorithm.hash?.name, algorithm.name].filter(Boolean).join(' with '),
        serialNumber: reference.serialNumber,
      });
    }
  });
});

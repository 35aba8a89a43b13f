/**
 * kpki loads certificates the way current Go's crypto/x509 ParseCertificate does: what Go refuses
 * is a KpkiError (BAD_INPUT) whose message is `<file>: <Go's parse error>`, found when the file is
 * loaded, never a raw exception from @peculiar/x509 later on.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { publicKeyObject } from '../../src/pki/certificate-facts.js';
import { x509 } from '../../src/pki/crypto.js';
import { bitStringValue, DerReader, integerValue, oidValue } from '../../src/pki/der.js';
import { formatIp, parseIp } from '../../src/pki/ip.js';
import { certificateFromDer, goCertificate, goQuote, type CertificateParses } from '../../src/pki/parse.js';
import { parseCertificates } from '../../src/pki/pem.js';
import { derToPem, pemToDer, reassemble, tlvChildren, tlvEncode, type Tlv } from './der-edit.js';
import { caExtensions, gn, leafExtensions, makeCert, ncExtension, rawExtension, sanExtension, seq, type TestCert } from './pki-certs.js';

const FILE = '/etc/kubernetes/pki/bad.crt';

function loadError(pem: string | Buffer): KpkiError {
  try {
    parseCertificates(Buffer.from(pem), FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(KpkiError);
    expect((error as KpkiError).code).toBe(ErrorCode.BadInput);
    return error as KpkiError;
  }
  throw new Error('the certificate loaded');
}

const expectRefused = (pem: string | Buffer, goMessage: string) => expect(loadError(pem).message).toBe(`${FILE}: ${goMessage}`);

describe("certificates Go's parser refuses", () => {
  let ca: TestCert;
  let base: TestCert;
  beforeAll(async () => {
    ca = await makeCert({ cn: 'Parse CA', extensions: caExtensions() });
    base = await makeCert({ cn: 'base', issuer: ca, extensions: leafExtensions({ type: 'dns', value: 'a.example.test' }) });
  });

  /** `base` with TBS field `index` replaced (fields: version, serial, signature, issuer, validity, subject, spki, extensions). */
  const withField = (index: number, value: Buffer) =>
    derToPem(reassemble(pemToDer(base.pem), ca.keyPem, (fields) => fields.map((f, i) => (i === index ? value : f.full))));
  /** A leaf whose only extensions are `extensions`. */
  const withExtensions = async (...extensions: ReturnType<typeof rawExtension>[]) =>
    (await makeCert({ cn: 'ext', issuer: ca, extensions })).pem;

  it.each([
    [
      'a negative serial number (refused since Go 1.23)',
      () => withField(1, tlvEncode(0x02, Buffer.from([0xfb]))),
      'x509: negative serial number',
    ],
    [
      'a serial number not minimally encoded',
      () => withField(1, tlvEncode(0x02, Buffer.from([0x00, 0x05]))),
      'x509: malformed serial number',
    ],
    ['version 4', () => withField(0, tlvEncode(0xa0, tlvEncode(0x02, Buffer.from([3])))), 'x509: invalid version'],
    [
      'an UTCTime without seconds',
      () => withField(4, seq(tlvEncode(0x17, Buffer.from('2001011200Z')), tlvEncode(0x17, Buffer.from('491231235959Z')))),
      'x509: malformed UTCTime',
    ],
    [
      'a subject PrintableString with "@"',
      () => withField(5, seq(tlvEncode(0x31, seq(tlvEncode(0x06, Buffer.from('550403', 'hex')), tlvEncode(0x13, Buffer.from('a@b')))))),
      'x509: invalid RDNSequence: invalid attribute value: invalid PrintableString',
    ],
    [
      'a P-192 key',
      () => withField(6, generateKeyPairSync('ec', { namedCurve: 'prime192v1' }).publicKey.export({ type: 'spki', format: 'der' })),
      'x509: unsupported elliptic curve',
    ],
  ])('%s', (_, make, message) => expectRefused(make(), message));

  it.each([
    ['2048 bits, e=65537', 2048, 65537],
    ['1024 bits, e=3', 1024, 3],
    ['3072 bits, e=2^32-1', 3072, 2 ** 32 - 1],
  ])('an RSA key (%s) is the key OpenSSL decodes from the certificate', (_, modulusLength, publicExponent) => {
    const spki = generateKeyPairSync('rsa', { modulusLength, publicExponent }).publicKey.export({ type: 'spki', format: 'der' });
    const [cert] = parseCertificates(Buffer.from(withField(6, spki)), FILE);
    const key = publicKeyObject(cert!);
    expect(key.export({ type: 'spki', format: 'der' })).toEqual(spki);
    expect(key.equals(createPublicKey({ key: spki, format: 'der', type: 'spki' }))).toBe(true);
    expect(key.asymmetricKeyDetails).toEqual({ modulusLength, publicExponent: BigInt(publicExponent) });
  });

  it("one load's parses: a DER read twice is parsed once, and each copy is an object of its own", () => {
    const der = Buffer.from(pemToDer(base.pem));
    const parses: CertificateParses = new Map();
    const first = certificateFromDer(der, parses);
    const copy = certificateFromDer(Buffer.from(der), parses);
    expect(copy).not.toBe(first);
    expect(goCertificate(copy)).toBe(goCertificate(first));
    expect(parses.size).toBe(1);
    expect(goCertificate(certificateFromDer(der))).not.toBe(goCertificate(first));
  });

  it('a duplicated extension, named by its OID', () => {
    const duplicated = derToPem(
      reassemble(pemToDer(base.pem), ca.keyPem, (fields) =>
        fields.map((f: Tlv) => {
          if (f.tag !== 0xa3) return f.full;
          const list = tlvChildren(tlvChildren(f.body)[0]!.body);
          return tlvEncode(0xa3, seq(...list.map((e) => e.full), list[0]!.full));
        }),
      ),
    );
    expectRefused(duplicated, 'x509: certificate contains duplicate extension with OID "2.5.29.19"');
  });

  it('outer and TBS signature algorithms that differ', () => {
    const [tbs, , signature] = tlvChildren(tlvChildren(pemToDer(base.pem))[0]!.body);
    const sha384 = seq(tlvEncode(0x06, Buffer.from('2a8648ce3d040303', 'hex')));
    expectRefused(
      derToPem(tlvEncode(0x30, Buffer.concat([tbs!.full, sha384, signature!.full]))),
      "x509: inner and outer signature algorithm identifiers don't match",
    );
  });

  it('trailing data after the certificate', () =>
    expectRefused(derToPem(Buffer.concat([pemToDer(base.pem), Buffer.from([0])])), 'x509: trailing data'));

  it.each([
    ['an IP SAN of 3 bytes', () => withExtensions(sanExtension(gn.ip([10, 0, 0]))), 'x509: cannot parse IP address of length 3'],
    [
      'an IPv4-mapped IPv6 SAN',
      () => withExtensions(sanExtension(gn.ip([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]))),
      'x509: SAN iPAddress contains IPv4-mapped IPv6 address',
    ],
    ['a dNSName SAN that is not IA5', () => withExtensions(sanExtension(gn.dns(Buffer.from([0xff])))), 'x509: SAN dNSName is malformed'],
    [
      'a URI SAN with an empty label in its host',
      () => withExtensions(sanExtension(gn.uri('spiffe://a..b/x'))),
      'x509: cannot parse URI "spiffe://a..b/x": invalid domain',
    ],
    ['a SAN that is a SET', () => withExtensions(rawExtension('2.5.29.17', false, '3100')), 'x509: invalid subject alternative names'],
    [
      'a critical authority key identifier',
      () => withExtensions(rawExtension('2.5.29.35', true, '3004800201ff')),
      'x509: authority key identifier incorrectly marked critical',
    ],
    [
      'a critical subject key identifier',
      () => withExtensions(rawExtension('2.5.29.14', true, '040201ff')),
      'x509: subject key identifier incorrectly marked critical',
    ],
    [
      'a critical authority info access',
      () => withExtensions(rawExtension('1.3.6.1.5.5.7.1.1', true, '3000')),
      'x509: authority info access incorrectly marked critical',
    ],
    [
      'a malformed authority info access',
      () => withExtensions(rawExtension('1.3.6.1.5.5.7.1.1', false, '3003020100')),
      'x509: invalid authority info access',
    ],
    [
      'a negative pathLenConstraint',
      () => withExtensions(rawExtension('2.5.29.19', true, '30060101ff0201ff')),
      'x509: invalid basic constraints',
    ],
    ['a KeyUsage that is no BIT STRING', () => withExtensions(rawExtension('2.5.29.15', true, '0400')), 'x509: invalid key usage'],
    [
      'an ExtendedKeyUsage of integers',
      () => withExtensions(rawExtension('2.5.29.37', false, '3003020101')),
      'x509: invalid extended key usages',
    ],
    [
      'a malformed CRL distribution point list',
      () => withExtensions(rawExtension('2.5.29.31', false, '3100')),
      'x509: invalid CRL distribution points',
    ],
    [
      'a policy listed twice',
      () => withExtensions(rawExtension('2.5.29.32', false, '300c300406022a03300406022a03')),
      'x509: invalid certificate policies',
    ],
    [
      'name constraints with no subtrees',
      () => withExtensions(rawExtension('2.5.29.30', true, '3000')),
      'x509: empty name constraints extension',
    ],
    [
      'name constraints with an empty permitted sequence',
      () => withExtensions(ncExtension([])),
      'x509: empty name constraints subtree sequence',
    ],
    [
      'an IP constraint with a non-contiguous mask',
      () => withExtensions(ncExtension([gn.ip([10, 0, 0, 0, 0xff, 0, 0xff, 0])])),
      'x509: IP constraint contained invalid mask ff00ff00',
    ],
    [
      'an IP constraint of 5 bytes',
      () => withExtensions(ncExtension([gn.ip([10, 0, 0, 0, 0xff])])),
      'x509: IP constraint contained value of length 5',
    ],
    [
      'an IPv4-mapped IP constraint',
      () => withExtensions(ncExtension([gn.ip([...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 0, ...Array(16).fill(0xff)])])),
      'x509: IP constraint contained IPv4-mapped IPv6 address',
    ],
    [
      'a dnsName constraint with a trailing period',
      () => withExtensions(ncExtension([gn.dns('example.test.')])),
      'x509: failed to parse dnsName constraint "example.test."',
    ],
    [
      'a dnsName constraint that is not IA5',
      () => withExtensions(ncExtension(undefined, [gn.dns(Buffer.from([0xff]))])),
      'x509: invalid constraint value: x509: "\\xff" cannot be encoded as an IA5String',
    ],
    [
      'an rfc822Name constraint with an empty local part',
      () => withExtensions(ncExtension([gn.email('@example.test')])),
      'x509: failed to parse rfc822Name constraint "@example.test"',
    ],
    [
      'a URI constraint that is an IP address',
      () => withExtensions(ncExtension([gn.uri('10.0.0.1')])),
      'x509: failed to parse URI constraint "10.0.0.1": cannot be IP address',
    ],
  ])('%s', async (_, make, message) => expectRefused(await make(), message));

  it('names which certificate of a bundle is refused in the hint', async () => {
    const bad = await withExtensions(sanExtension(gn.ip([10, 0, 0])));
    const error = loadError(base.pem + bad);
    expect(error.message).toBe(`${FILE}: x509: cannot parse IP address of length 3`);
    expect(error.hint).toMatch(/^certificate #2 of the file is refused by Go's x509 parser/);
  });

  it('what Go accepts loads, and its facts read without throwing: empty KeyUsage, SAN of otherName only, unknown extensions', async () => {
    const pem = await withExtensions(
      rawExtension('2.5.29.15', true, '030100'),
      sanExtension(
        tlvEncode(0xa0, Buffer.concat([tlvEncode(0x06, Buffer.from('2a03', 'hex')), tlvEncode(0xa0, tlvEncode(0x0c, Buffer.from('x')))])),
      ),
      rawExtension('1.3.6.1.4.1.55555.1', false, '0500'),
    );
    const [cert] = parseCertificates(Buffer.from(pem), FILE);
    const facts = certificateFacts(cert!);
    // Go treats a KeyUsage without bits as no KeyUsage at all.
    expect(facts.keyUsages).toBeUndefined();
    expect(facts.dnsNames).toEqual([]);
  });
});

describe('DER as cryptobyte reads it', () => {
  it('integers must be minimal; values are two’s complement', () => {
    expect(integerValue(Buffer.from([0x00, 0x05]))).toBeUndefined();
    expect(integerValue(Buffer.from([0xff, 0x80]))).toBeUndefined();
    expect(integerValue(Buffer.from([]))).toBeUndefined();
    expect(integerValue(Buffer.from([0x80]))).toBe(-128n);
    expect(integerValue(Buffer.from([0x00, 0x80]))).toBe(128n);
  });

  it('lengths must be definite and minimal', () => {
    expect(new DerReader(Buffer.from([0x30, 0x80, 0x00, 0x00])).readAny()).toBeUndefined();
    expect(new DerReader(Buffer.from([0x04, 0x81, 0x01, 0xaa])).readAny()).toBeUndefined();
    expect(new DerReader(Buffer.from([0x04, 0x82, 0x00, 0x80, ...Array(128).fill(0)])).readAny()).toBeUndefined();
    expect(new DerReader(Buffer.from([0x04, 0x81, 0x80, ...Array(128).fill(0)])).readAny()?.body.length).toBe(128);
  });

  it('bit strings: padding at most 7 and zero; OIDs: minimal base-128', () => {
    expect(bitStringValue(Buffer.from([0x08, 0xff]))).toBeUndefined();
    expect(bitStringValue(Buffer.from([0x01, 0x01]))).toBeUndefined();
    expect(bitStringValue(Buffer.from([0x00]))).toEqual({ bytes: Buffer.alloc(0), bitLength: 0 });
    expect(oidValue(Buffer.from('2a864886f70d010101', 'hex'))).toBe('1.2.840.113549.1.1.1');
    expect(oidValue(Buffer.from('2a8001', 'hex'))).toBeUndefined();
    expect(oidValue(Buffer.from('8837', 'hex'))).toBe('2.999');
    // An arc of 31 bits or more: Go refuses it in a certificate; an extension's OID may be any size.
    expect(oidValue(Buffer.from('2a87ffffff7f', 'hex'))).toBe('1.2.2147483647');
    expect(oidValue(Buffer.from('2a8880808000', 'hex'))).toBeUndefined();
    expect(oidValue(Buffer.from('2a81808080808080808000', 'hex'))).toBeUndefined();
    expect(oidValue(Buffer.from('2a81808080808080808000', 'hex'), true)).toBe(`1.2.${2n ** 63n}`);
  });
});

describe("Go's printing", () => {
  it('IP addresses as net.IP.String', () => {
    const cases: [string, string][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8::0001', '2001:db8::1'],
      ['::', '::'],
      ['1::', '1::'],
      ['fe80::1:2:3:4:5:6', 'fe80:0:1:2:3:4:5:6'],
    ];
    expect(cases.map(([text]) => formatIp(parseIp(text)!))).toEqual(cases.map(([, printed]) => printed));
    expect(parseIp('010.0.0.1')).toBeUndefined();
    expect(parseIp('fe80::1%eth0')).toBeUndefined();
  });

  it('%q as strconv.Quote', () => {
    expect(goQuote('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
    expect(goQuote(Buffer.from([0x61, 0xff]))).toBe('"a\\xff"');
    expect(goQuote('é')).toBe('"é"');
    expect(goQuote('\u0080')).toBe('"\\u0080"');
  });
});

describe('a certificate object Go would refuse, reached without the loader', () => {
  it("reading its facts is a KpkiError with Go's message, not a crash", async () => {
    const ca = await makeCert({ cn: 'Direct CA', extensions: caExtensions() });
    const bad = await makeCert({ cn: 'direct', issuer: ca, extensions: [sanExtension(gn.ip([10, 0, 0]))] });
    const direct = new x509.X509Certificate(bad.cert.rawData);
    expect(() => certificateFacts(direct)).toThrow(KpkiError);
    expect(() => certificateFacts(direct)).toThrow('x509: cannot parse IP address of length 3');
  });
});

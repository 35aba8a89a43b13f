import { describe, expect, it } from 'vitest';
import { describeTokenKey, parseCaKeyUris, parsePkcs11Uri, rotatedKeyUri } from '../../src/model/pkcs11-uri.js';
import { KpkiError } from '../../src/errors.js';

const refused = (text: string) => {
  try {
    parsePkcs11Uri(text, '--ca-key-uri ca');
  } catch (error) {
    expect(error).toBeInstanceOf(KpkiError);
    return (error as KpkiError).message;
  }
  throw new Error(`${text} was accepted`);
};

describe('PKCS#11 URIs (RFC 7512)', () => {
  it.each([
    ['pkcs11:token=k8s;object=cluster-ca', { token: 'k8s', object: 'cluster-ca' }],
    ['pkcs11:token=My%20Token;object=ca%3Bkey', { token: 'My Token', object: 'ca;key' }],
    ['pkcs11:serial=f7d4;id=%01%A2', { serial: 'f7d4', id: '01a2' }],
    [
      'pkcs11:token=k8s;object=ca;type=private?pin-source=file:/etc/pin&module-path=/usr/lib/x.so',
      { token: 'k8s', object: 'ca', modulePath: '/usr/lib/x.so' },
    ],
    ['pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;token=k8s;x-vendor=1;object=ca', { token: 'k8s', object: 'ca' }],
  ])('%s', (text, expected) => {
    expect(parsePkcs11Uri(text, '--ca-key-uri ca')).toEqual({ text, ...expected });
  });

  it('refuses what is not a usable CA key URI, naming the flag', () => {
    expect(refused('token=k8s;object=ca')).toMatch(/^--ca-key-uri ca: "token=k8s;object=ca" is not a PKCS#11 URI/);
    expect(refused('pkcs11:object=ca')).toMatch(/names no token/);
    expect(refused('pkcs11:token=k8s')).toMatch(/names no key/);
    expect(refused('pkcs11:token=k8s;object=ca?pin-value=1234')).toMatch(/holds pin-value: a PIN never goes on the command line/);
    expect(refused('pkcs11:token=k8s;object=ca;type=cert')).toMatch(/type=cert: a CA key URI addresses the private key/);
    expect(refused('pkcs11:token=k8s;objekt=ca')).toMatch(/"objekt" is not a PKCS#11 URI attribute/);
    expect(refused('pkcs11:token=k8s;object=ca;object=cb')).toMatch(/"object" is given twice/);
    expect(refused('pkcs11:token=k8s;object=c%4')).toMatch(/bad percent escape/);
  });

  it('--ca-key-uri NAME=URI: one per CA entry', () => {
    const uris = parseCaKeyUris(['ca=pkcs11:token=k8s;object=cluster-ca', 'etcd-ca=pkcs11:token=k8s;object=etcd-ca']);
    expect([...uris.keys()]).toEqual(['ca', 'etcd-ca']);
    expect(describeTokenKey(uris.get('etcd-ca')!)).toBe('token k8s, object etcd-ca');
    expect(() => parseCaKeyUris(['cluster=pkcs11:token=k8s;object=x'])).toThrow(/does not start with a CA name/);
    expect(() => parseCaKeyUris(['ca=pkcs11:token=a;object=x', 'ca=pkcs11:token=b;object=y'])).toThrow(/ca is given twice/);
  });

  it("a rotation's incoming key: the same token, the object with the start time appended (replacing an earlier rotation's), no id", () => {
    const at = new Date('2026-12-07T11:06:31.123Z');
    expect(rotatedKeyUri('pkcs11:token=k8s;object=cluster-ca', 'ca', at)).toBe('pkcs11:token=k8s;object=cluster-ca.rotated-20261207110631');
    expect(rotatedKeyUri('pkcs11:token=k8s;object=cluster-ca.rotated-20250101000000;id=%01?module-path=/m.so', 'ca', at)).toBe(
      'pkcs11:token=k8s;object=cluster-ca.rotated-20261207110631?module-path=/m.so',
    );
    expect(rotatedKeyUri('pkcs11:serial=f7d4;id=%01%A2', 'etcd-ca', at)).toBe('pkcs11:serial=f7d4;object=etcd-ca.rotated-20261207110631');
    const parsed = parsePkcs11Uri(rotatedKeyUri('pkcs11:token=My%20Token;object=ca%3Bkey', 'ca', at), 'x');
    expect(parsed).toMatchObject({ token: 'My Token', object: 'ca;key.rotated-20261207110631' });
  });
});

/**
 * Certificate chains for the Go differential, made at run time with `openssl ca` (explicit dates
 * and exactly the extensions asked for, raw DER ones included) and, for what openssl refuses to
 * write (duplicate extensions, disagreeing signature algorithm fields), by editing openssl's DER
 * and signing it again with node:crypto. Nothing here uses kpki's own parser.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireTool, runOk } from './helpers.js';
import { derToPem, pemToDer, reassemble, tlvChildren, tlvEncode } from '../unit/der-edit.js';

export type KeyKind = 'rsa' | 'ec' | 'p192';

export interface Issued {
  name: string;
  /** PEM file of the certificate alone. */
  cert: string;
  key: string;
  pem: string;
}

export interface IssueOptions {
  /** Subject CN; also the file name, so unique per factory. */
  cn: string;
  /** File name when several certificates share a CN. */
  file?: string;
  issuer?: Issued;
  keyKind?: KeyKind;
  /** openssl extension lines, e.g. `basicConstraints = critical,CA:TRUE` or `1.2.3.4 = critical,DER:05:00`. */
  ext: string[];
  /** YYYYMMDDHHMMSSZ; defaults make every certificate valid from 2020 to 2120. */
  notBefore?: string;
  notAfter?: string;
  /** Decimal serial for `openssl x509 -set_serial` (negative allowed); default: a fresh positive one. */
  serial?: string;
  /** Signature digest; default sha256. */
  digest?: 'sha1' | 'sha256';
}

/** A time every default certificate is valid at. */
export const CHECK_TIME = '2030-06-01T00:00:00Z';

export const CA_EXT = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash'];
export const leafExt = (...more: string[]) => [
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage = serverAuth,clientAuth',
  ...more,
];

export class ChainFactory {
  private readonly openssl = requireTool('openssl');
  private serial = 0x1000;

  constructor(private readonly dir: string) {}

  private async newKey(file: string, kind: KeyKind): Promise<void> {
    const args = {
      rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      ec: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      p192: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime192v1'],
    }[kind];
    await runOk(this.openssl, ['genpkey', ...args, '-out', file]);
  }

  async issue(o: IssueOptions): Promise<Issued> {
    const base = path.join(this.dir, o.file ?? o.cn.replace(/\W+/g, '_'));
    const key = `${base}.key`;
    await this.newKey(key, o.keyKind ?? 'ec');
    const cert = `${base}.crt`;
    const db = `${base}.db`;
    await writeFile(`${db}.index`, '');
    await writeFile(`${db}.serial`, `${(this.serial++).toString(16).padStart(4, '0')}\n`);
    await writeFile(
      `${base}.cnf`,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        `CN = ${o.cn}`,
        '[ca]',
        'default_ca = ca_section',
        '[ca_section]',
        `database = ${db}.index`,
        `serial = ${db}.serial`,
        `new_certs_dir = ${this.dir}`,
        'policy = policy_any',
        'unique_subject = no',
        'email_in_dn = no',
        '[policy_any]',
        'commonName = supplied',
        '[ext]',
        ...o.ext,
        '',
      ].join('\n'),
    );
    const csr = `${base}.csr`;
    await runOk(this.openssl, ['req', '-new', '-key', key, '-config', `${base}.cnf`, '-out', csr]);
    if (o.serial !== undefined) {
      // openssl ca takes serials from its database; only x509 -req writes a negative one.
      const signer = o.issuer ? ['-CA', o.issuer.cert, '-CAkey', o.issuer.key] : ['-signkey', key];
      await runOk(this.openssl, [
        'x509',
        '-req',
        '-in',
        csr,
        ...signer,
        '-set_serial',
        o.serial,
        '-days',
        '3650',
        '-extfile',
        `${base}.cnf`,
        '-extensions',
        'ext',
        '-out',
        cert,
      ]);
    } else {
      const signer = o.issuer ? ['-cert', o.issuer.cert, '-keyfile', o.issuer.key] : ['-selfsign', '-keyfile', key];
      await runOk(this.openssl, [
        'ca',
        '-batch',
        '-notext',
        '-config',
        `${base}.cnf`,
        '-in',
        csr,
        ...signer,
        '-md',
        o.digest ?? 'sha256',
        '-startdate',
        o.notBefore ?? '20200101000000Z',
        '-enddate',
        o.notAfter ?? '21200101000000Z',
        '-extfile',
        `${base}.cnf`,
        '-extensions',
        'ext',
        '-out',
        cert,
      ]);
    }
    return { name: o.cn, cert, key, pem: await readFile(cert, 'utf8') };
  }

  /** A PEM file of several certificates, in order (leaf first for a verify check). */
  async bundle(name: string, certs: (Issued | string)[]): Promise<string> {
    const file = path.join(this.dir, `${name}.pem`);
    await writeFile(file, certs.map((c) => (typeof c === 'string' ? c : c.pem)).join(''));
    return file;
  }
}

/** The certificate with its first extension repeated, signed again by `signer`'s key. */
export async function withDuplicateExtension(cert: Issued, signer: Issued): Promise<string> {
  const der = reassemble(pemToDer(cert.pem), await readFile(signer.key), (fields) =>
    fields.map((f) => {
      if (f.tag !== 0xa3) return f.full;
      const list = tlvChildren(tlvChildren(f.body)[0]!.body);
      return tlvEncode(0xa3, tlvEncode(0x30, Buffer.concat([...list, list[0]!].map((e) => e.full))));
    }),
  );
  return derToPem(der);
}

/** The certificate with its outer signatureAlgorithm replaced (the TBS keeps the real one). */
export function withOuterSignatureAlgorithm(cert: Issued, algorithmDerHex: string): string {
  const [tbs, , signature] = tlvChildren(tlvChildren(pemToDer(cert.pem))[0]!.body);
  return derToPem(tlvEncode(0x30, Buffer.concat([tbs!.full, Buffer.from(algorithmDerHex, 'hex'), signature!.full])));
}

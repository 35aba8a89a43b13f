import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { formatIp } from './ip.js';
import { KeyUsageBit, goCertificate, type CertificateData, type GoCertificate } from './parse.js';
import type { ExtKeyUsageName, KeyUsageName } from './template.js';

/** What certificates say, read with Go's parser alone: no ASN.1 object model to load for it. */

export const EXT_KEY_USAGE_OIDS: Record<ExtKeyUsageName, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

/** The serial number in hex, even length, as @peculiar/x509 shows it. */
const serialHex = (serial: bigint) => {
  const hex = serial.toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
};

const WEBCRYPTO_HASHES = { md5: 'MD5', sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' } as const;
const SIGNATURE_SCHEMES: Record<string, string> = { RSA: 'RSASSA-PKCS1-v1_5', ECDSA: 'ECDSA' };
const EDDSA_NAMES: Record<string, string> = { '1.3.101.112': 'Ed25519', '1.3.101.113': 'EdDSA' };

/** The signature algorithm in WebCrypto's words ("SHA-256 with ECDSA"), its OID when it has none. */
function signatureAlgorithmName(go: GoCertificate): string {
  const algorithm = go.signatureAlgorithm;
  const eddsa = EDDSA_NAMES[go.signatureAlgorithmOid];
  if (eddsa) return eddsa;
  if (!algorithm || algorithm.hash === 'md5') return go.signatureAlgorithmOid;
  const scheme = algorithm.pss ? 'RSA-PSS' : SIGNATURE_SCHEMES[algorithm.keyAlgorithm ?? ''];
  return scheme && algorithm.hash ? `${WEBCRYPTO_HASHES[algorithm.hash]} with ${scheme}` : go.signatureAlgorithmOid;
}

/** What a certificate says, in kpki's vocabulary: the facts checks and inspect work with. */
export interface CertificateFacts {
  commonName: string;
  organizations: string[];
  issuerCommonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  extKeyUsages: string[];
  /** Undefined when the certificate has no KeyUsage bits: Go treats an empty KeyUsage as none at all. */
  keyUsages: KeyUsageName[] | undefined;
  isCA: boolean;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  signatureAlgorithm: string;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
}

const EKU_NAMES: Record<string, string> = Object.fromEntries(Object.entries(EXT_KEY_USAGE_OIDS).map(([name, oid]) => [oid, name]));

/** Certificate facts as Go's parser reads them (see parse.ts); throws X509ParseError when Go would refuse it. */
export function certificateFacts(cert: CertificateData): CertificateFacts {
  const go = goCertificate(cert);
  const hex = (b: Buffer | undefined) => b?.toString('hex');
  return {
    commonName: go.subject.commonName,
    organizations: go.subject.organizations,
    issuerCommonName: go.issuer.commonName,
    dnsNames: go.dnsNames,
    ipAddresses: go.ipAddresses.map(formatIp),
    extKeyUsages: go.extKeyUsageOids.map((oid) => EKU_NAMES[oid] ?? oid),
    keyUsages: go.keyUsage ? (Object.keys(KeyUsageBit) as KeyUsageName[]).filter((u) => go.keyUsage & KeyUsageBit[u]) : undefined,
    isCA: go.isCA,
    notBefore: go.notBefore,
    notAfter: go.notAfter,
    serialNumber: serialHex(go.serialNumber),
    signatureAlgorithm: signatureAlgorithmName(go),
    subjectKeyId: hex(go.subjectKeyId),
    authorityKeyId: hex(go.authorityKeyId),
  };
}

/** The certificate's public key as a Node KeyObject, for pairing and type checks. */
export function publicKeyObject(cert: CertificateData): KeyObject {
  const go = goCertificate(cert);
  return go.publicKey ?? createPublicKey({ key: go.rawSpki, format: 'der', type: 'spki' });
}

/** SHA-256 of the certificate's DER, as openssl prints it (`AB:CD:…`): how users tell two CAs of one name apart. */
export function fingerprint(cert: CertificateData): string {
  return createHash('sha256')
    .update(goCertificate(cert).raw)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

/** A CA as a one-line description: subject and fingerprint. */
export function describeAuthority(cert: CertificateData): string {
  return `CN=${goCertificate(cert).subject.commonName} (SHA256 ${fingerprint(cert)})`;
}

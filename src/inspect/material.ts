import path from 'node:path';
import { badInput, KpkiError } from '../errors.js';
import { parseKubeconfig, type Source } from '../kubeconfig/kubeconfig.js';
import { certificateFacts, publicKeyObject } from '../pki/certificate.js';
import { x509 } from '../pki/crypto.js';
import { describeKey, parsePublicKey, publicKeyFromDer, publicKeyOf, spkiDer, type KeyObject } from '../pki/keys.js';
import { isSignedBy } from '../pki/match.js';
import { parseCertificates, parseKey, pemBlocks } from '../pki/pem.js';
import type { WalkedFile } from '../store/tree.js';

export interface InspectedCertificate {
  kind: 'certificate';
  /** File, with `#2` for the second certificate of a bundle, or a kubeconfig field. */
  file: string;
  commonName: string;
  organizations: string[];
  issuer: string;
  sans: string[];
  key: string;
  signatureAlgorithm: string;
  keyUsages: string[];
  extKeyUsages: string[];
  isCA: boolean;
  pathLength: number | undefined;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** Negative once expired. */
  secondsLeft: number;
  /** The CA certificate in the inspected set that signed it, `self`, or undefined when not found. */
  signedBy: string | undefined;
  /** The private key in the set that belongs to it, if any. */
  keyFile: string | undefined;
}

export interface InspectedKey {
  kind: 'private-key' | 'public-key';
  file: string;
  key: string;
  /** Certificates in the set with this key. */
  certificates: string[];
}

export interface InspectedCsr {
  kind: 'csr';
  file: string;
  subject: string;
  sans: string[];
  key: string;
  signatureValid: boolean;
}

export interface InspectedKubeconfig {
  kind: 'kubeconfig';
  file: string;
  context: string;
  cluster: string;
  server: string;
  user: string;
  /** Files or fields holding its CA, client certificate and key (inspected as their own entries). */
  credentials: string[];
}

export type InspectedItem = InspectedCertificate | InspectedKey | InspectedCsr | InspectedKubeconfig;

export interface InspectResult {
  items: InspectedItem[];
  /** Files that look like PKI material but could not be read. */
  problems: { file: string; message: string }[];
}

const PKI_EXTENSIONS = /\.(crt|cer|pem|der|key|pub|csr|conf|kubeconfig)$/;

/** Everything loaded, before cross-referencing. */
interface Collected {
  certs: { file: string; cert: x509.X509Certificate }[];
  keys: { file: string; key: KeyObject; kind: 'private-key' | 'public-key' }[];
  csrs: InspectedCsr[];
  kubeconfigs: InspectedKubeconfig[];
  problems: { file: string; message: string }[];
}

function tryDer<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

/** Where inspect's files come from: the walk of the paths given, and the files kubeconfigs name. */
export interface InspectSource {
  files: AsyncIterable<WalkedFile>;
  /** A file a kubeconfig names; undefined when it cannot be read. */
  readFile(file: string): Promise<Buffer | undefined>;
}

/** What to give when a path inspect was given does not exist. */
export const INSPECT_PATH_HINT = 'give a certificate, key, kubeconfig or directory';

/** Reads one file into the collection; returns false when it holds nothing kpki recognises. */
async function collectFile(file: string, data: Buffer, into: Collected, readFile: InspectSource['readFile']): Promise<boolean> {
  const text = data.toString('latin1');
  if (/^\s*(apiVersion|kind|clusters|current-context):/m.test(text) && !text.includes('-----BEGIN')) {
    if (!/^kind:\s*Config\s*$/m.test(text)) return false;
    const creds = parseKubeconfig(data.toString('utf8'), file);
    const sources: [string, Source | undefined][] = [
      ['ca', creds.certificateAuthority],
      ['cert', creds.clientCertificate],
      ['key', creds.clientKey],
    ];
    const credentials: string[] = [];
    for (const [role, source] of sources) {
      if (!source) continue;
      const bytes = source.data ?? (await readFile(path.resolve(path.dirname(file), source.path!)));
      if (!bytes) {
        into.problems.push({ file, message: `${source.origin}: cannot read ${source.path}` });
        continue;
      }
      const label = source.data ? source.origin : path.resolve(path.dirname(file), source.path!);
      credentials.push(label);
      if (role === 'key') into.keys.push({ file: label, key: parseKey(bytes, label), kind: 'private-key' });
      else parseCertificates(bytes, label).forEach((cert, i) => into.certs.push({ file: i ? `${label}#${i + 1}` : label, cert }));
    }
    into.kubeconfigs.push({
      kind: 'kubeconfig',
      file,
      context: creds.contextName,
      cluster: creds.clusterName,
      server: creds.server,
      user: creds.userName,
      credentials,
    });
    return true;
  }
  const blocks = pemBlocks(data);
  if (!blocks.length && text.includes('-----BEGIN')) {
    // A PEM header without a complete block: let the parsers say what is wrong with it.
    if (text.includes('-----BEGIN CERTIFICATE')) parseCertificates(data, file);
    else parseKey(data, file);
  }
  if (blocks.length) {
    let found = false;
    const certs = blocks.some((b) => b.type === 'CERTIFICATE') ? parseCertificates(data, file) : [];
    for (const [i, block] of blocks.entries()) {
      const where = blocks.length > 1 ? `${file}#${i + 1}` : file;
      if (block.type === 'CERTIFICATE') into.certs.push({ file: where, cert: certs.shift()! });
      else if (block.type.endsWith('PRIVATE KEY')) into.keys.push({ file: where, key: parseKey(data, file), kind: 'private-key' });
      else if (block.type.endsWith('PUBLIC KEY')) into.keys.push({ file: where, key: parsePublicKey(data), kind: 'public-key' });
      else if (block.type.includes('CERTIFICATE REQUEST'))
        into.csrs.push(await csrItem(where, new x509.Pkcs10CertificateRequest(new Uint8Array(block.der))));
      else continue;
      found = true;
    }
    return found;
  }
  const bytes = new Uint8Array(data);
  const cert = tryDer(() => new x509.X509Certificate(bytes));
  if (cert) return into.certs.push({ file, cert }) > 0;
  const key = tryDer(() => parseKey(data, file));
  if (key) return into.keys.push({ file, key, kind: 'private-key' }) > 0;
  const pub = tryDer(() => publicKeyFromDer(data));
  if (pub) return into.keys.push({ file, key: pub, kind: 'public-key' }) > 0;
  const csr = tryDer(() => new x509.Pkcs10CertificateRequest(bytes));
  if (csr) return into.csrs.push(await csrItem(file, csr)) > 0;
  return false;
}

async function csrItem(file: string, csr: x509.Pkcs10CertificateRequest): Promise<InspectedCsr> {
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const key = publicKeyFromDer(Buffer.from(csr.publicKey.rawData));
  return {
    kind: 'csr',
    file,
    subject: csr.subject,
    sans: (san?.names.items ?? []).map((n) => n.value),
    key: describeKey(key),
    signatureValid: await csr.verify(),
  };
}

/** Collects every file; below a named directory, what cannot be read is reported as a problem (not checked), not fatal. */
async function collect(source: InspectSource, into: Collected): Promise<void> {
  for await (const walked of source.files) {
    const { file, explicit } = walked;
    try {
      if (walked.error) throw walked.error;
      if (await collectFile(file, walked.data, into, source.readFile)) continue;
      if (explicit) throw badInput(file, 'holds no certificate, key, CSR or kubeconfig', 'give a PEM or DER file, or a kubeconfig');
      if (PKI_EXTENSIONS.test(file)) into.problems.push({ file, message: 'holds no certificate, key, CSR or kubeconfig' });
    } catch (error) {
      if (explicit || !(error instanceof KpkiError)) throw error;
      into.problems.push({ file, message: error.message.replace(`${file}: `, '') });
    }
  }
}

/**
 * What a set of files really holds: certificates (with the CA in the set that signed each and
 * the key that belongs to it), keys, CSRs and kubeconfigs.
 */
export async function inspectFiles(paths: string[], source: InspectSource, now: Date): Promise<InspectResult> {
  const into: Collected = { certs: [], keys: [], csrs: [], kubeconfigs: [], problems: [] };
  await collect(source, into);
  if (!into.certs.length && !into.keys.length && !into.csrs.length && !into.kubeconfigs.length) {
    throw badInput(paths.join(', '), 'no certificates, keys or kubeconfigs found', 'give a PKI directory such as /etc/kubernetes/pki');
  }
  const spki = (k: KeyObject) => spkiDer(k.type === 'private' ? publicKeyOf(k) : k).toString('base64');
  const keyBySpki = new Map(into.keys.filter((k) => k.kind === 'private-key').map((k) => [spki(k.key), k.file]));
  // CA files first: a kubeconfig's embedded copy of a CA is the less useful answer to "signed by".
  const embedded = (file: string) => file.includes(': ');
  const cas = into.certs.filter((c) => certificateFacts(c.cert).isCA).sort((a, b) => Number(embedded(a.file)) - Number(embedded(b.file)));

  const certificates: InspectedCertificate[] = [];
  for (const { file, cert } of into.certs) {
    const f = certificateFacts(cert);
    const selfSigned = Buffer.from(cert.subjectName.toArrayBuffer()).equals(Buffer.from(cert.issuerName.toArrayBuffer()));
    let signedBy: string | undefined = selfSigned && isSignedBy(cert, cert) ? 'self' : undefined;
    for (const ca of cas) {
      if (signedBy || ca.cert === cert) continue;
      if (isSignedBy(cert, ca.cert)) signedBy = ca.file;
    }
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    certificates.push({
      kind: 'certificate',
      file,
      commonName: f.commonName,
      organizations: f.organizations,
      issuer: f.issuerCommonName,
      sans: [...f.dnsNames, ...f.ipAddresses],
      key: describeKey(publicKeyObject(cert)),
      signatureAlgorithm: f.signatureAlgorithm,
      keyUsages: f.keyUsages ?? [],
      extKeyUsages: f.extKeyUsages,
      isCA: f.isCA,
      pathLength: bc?.pathLength,
      serialNumber: f.serialNumber,
      notBefore: f.notBefore.toISOString(),
      notAfter: f.notAfter.toISOString(),
      secondsLeft: Math.round((f.notAfter.getTime() - now.getTime()) / 1000),
      signedBy,
      keyFile: keyBySpki.get(spki(publicKeyObject(cert))),
    });
  }
  const keys: InspectedKey[] = into.keys.map(({ file, key, kind }) => ({
    kind,
    file,
    key: describeKey(key),
    certificates: certificates
      .filter((c) => spki(publicKeyObject(into.certs.find((x) => x.file === c.file)!.cert)) === spki(key))
      .map((c) => c.file),
  }));
  return { items: [...certificates, ...keys, ...into.csrs, ...into.kubeconfigs], problems: into.problems };
}

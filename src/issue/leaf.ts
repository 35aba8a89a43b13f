import type { FileWrite } from '../model/files.js';
import path from 'node:path';
import { badFlag, badInput, ErrorCode, KpkiError } from '../errors.js';
import { certificatePem, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { keyTypeOf, privateKeyPem, type KeyPair } from '../pki/keys.js';
import { renderLeaf } from '../plan/render.js';
import { parseCertificate, parseKey } from '../pki/pem.js';
import { parseDuration } from '../model/duration.js';
import { outlivesCa, validityAboveDefault } from '../model/validity.js';
import { classifySans, resolveCertificate, type CertSpec } from '../model/spec.js';
import { caAliases, type ExtKeyUsageName } from '../model/profile.js';
import { DEFAULTS, parseKeyType, sanList, type KeyType } from '../model/settings.js';
import { readOptional } from '../store/files.js';
import { writeFilesTogether } from '../store/journal.js';
import { withWriteLock } from '../store/lock.js';
import { caSigningProblems } from '../pki/match.js';
import { loadProfile } from '../store/profiles.js';
import { kubeconfigDirOf } from '../model/defaults.js';
import { sameKeyPair } from '../pki/keys.js';
import type { SigningKey } from '../pki/signing-key.js';
import { envPin, tokenUris, type TokenChoice } from '../store/token-settings.js';
import type { Pkcs11Uri } from '../model/pkcs11-uri.js';

/** A CA on disk: its certificate, and its key when kpki may sign with it (a file's, or in a PKCS#11 token). */
export interface CaOnDisk {
  certFile: string;
  cert: x509.X509Certificate;
  key: SigningKey | undefined;
  /** Closes the token session the key is in, if any. */
  release?: () => void;
}

export interface LoadCaOptions {
  keyFile?: string;
  needKey: boolean;
  /** The flags that named the CA certificate and key, for errors (default --ca, --ca-key). */
  certFlag?: string;
  keyFlag?: string;
  /** Profile whose CA aliases (`cluster`, `front-proxy`, `etcd`) name CAs in the cert dir. */
  profile?: string;
  /** The PIN and module of a token kpki-pkcs11.json names for the CA's key. */
  token?: Pick<TokenChoice, 'pin' | 'pkcs11Module'>;
}

/**
 * Loads a CA: one the profile names by alias (`cluster`, `front-proxy`, `etcd`) from the cert dir, or a certificate file with
 * its key beside it (`x.crt` + `x.key`) unless `keyFile` says otherwise. A key that does not
 * belong to the certificate, or a certificate that may not sign, is refused.
 */
export async function loadCa(ca: string, certDir: string, options: LoadCaOptions): Promise<CaOnDisk> {
  const profile = await loadProfile(options.profile);
  const aliased = caAliases(profile).get(ca);
  const base = aliased ? path.join(certDir, aliased) : ca.replace(/\.(crt|pem)$/, '');
  const certFile = aliased ? `${base}.crt` : ca;
  const keyFile = options.keyFile ?? `${base}.key`;
  const certData = await readOptional(certFile);
  if (!certData) {
    throw new KpkiError(ErrorCode.MissingFile, `${certFile}: no such file`, {
      subject: certFile,
      hint: 'run kpki init first, or name the CA with --cert-dir / a CA file',
    });
  }
  const entry = aliased && !options.keyFile ? profile.certificates.find((c) => c.file === aliased)?.name : undefined;
  const inToken = entry && options.needKey ? (await tokenUris(kubeconfigDirOf(certDir), {})).uris.get(entry) : undefined;
  if (inToken)
    return tokenCa(entry!, inToken, certFile, parseCertificate(certData, certFile), options.token ?? {}, kubeconfigDirOf(certDir));
  const keyData = await readOptional(keyFile);
  if (options.needKey && !keyData) {
    throw new KpkiError(ErrorCode.ExternalCaMissing, `${keyFile}: the CA key is not available to sign with`, {
      subject: keyFile,
      hint: 'pass the CA key, or use --csr-only to have the external CA sign a request',
    });
  }
  const cert = parseCertificate(certData, certFile);
  const key = keyData && parseKey(keyData, keyFile);
  const problems = key ? caSigningProblems(cert, key) : [];
  if (problems.length) {
    const mismatch = problems[0]!.startsWith('the key');
    const flag = mismatch ? (options.keyFlag ?? '--ca-key') : (options.certFlag ?? '--ca');
    throw badFlag(flag, `cannot sign with ${certFile} and ${keyFile}: ${problems.join('; ')}`, 'give a CA certificate and its own key');
  }
  return { certFile, cert, key };
}

/** A CA whose key kpki-pkcs11.json puts in a token: opened (the provider loaded) only now. */
async function tokenCa(
  entry: string,
  uri: Pkcs11Uri,
  certFile: string,
  cert: x509.X509Certificate,
  token: Pick<TokenChoice, 'pin' | 'pkcs11Module'>,
  kubeconfigDir: string,
): Promise<CaOnDisk> {
  const { openTokenKeys } = await import('../hsm/token.js');
  const remembered = await tokenUris(kubeconfigDir, { pkcs11Module: token.pkcs11Module });
  const tokens = await openTokenKeys(new Map([[entry, uri]]), { module: remembered.module, pin: token.pin ?? envPin });
  const { key, label } = tokens.cas.get(entry)!;
  const problem = !key
    ? 'no such key in the token'
    : !sameKeyPair(key.publicKey, publicKeyObject(cert))
      ? `the token's key does not match ${certFile}`
      : undefined;
  if (problem) {
    tokens.close();
    throw badInput(label, problem, 'check kpki-pkcs11.json beside the kubeconfigs and the token; nothing was written');
  }
  return { certFile, cert, key, release: tokens.close };
}

export interface LeafRequest {
  name: string;
  commonName: string;
  organizations: string[];
  /** DNS names and IPs, in any order: classified and ordered as kubeadm does. */
  sans: string[];
  usages: ExtKeyUsageName[];
  /** Duration text (`1y`, `30d`); default one year, never past the CA's expiry. */
  validity?: string;
  /** Default: the CA's key type. */
  keyType?: string;
  /** Profile whose signing policy applies (key usages, BasicConstraints, backdating). */
  profile?: string;
}

export interface IssuedLeaf {
  cert: x509.X509Certificate;
  pair: KeyPair;
  /** kubeadm's lifetime warnings: --validity above its default, or past the CA's expiry (cut to it). */
  warnings: string[];
}

/** The key type asked for (checked), else the CA's, so a leaf matches its issuer by default. */
export function leafKeyType(ca: CaOnDisk, requested: string | undefined): KeyType {
  return requested ? parseKeyType(requested) : (keyTypeOf(publicKeyObject(ca.cert)) ?? DEFAULTS.keyType);
}

/** The certificate a request resolves to under its profile's signing policy. */
export async function leafSpec(ca: CaOnDisk, request: LeafRequest): Promise<CertSpec> {
  const keyType = leafKeyType(ca, request.keyType);
  const validity = parseDuration(request.validity ?? DEFAULTS.certValidity);
  if (validity === undefined) throw badFlag('--validity', `"${request.validity}" is not a duration`, 'e.g. 24h, 30d or 1y');
  const { policy } = await loadProfile(request.profile);
  const { dnsNames, ipAddresses } = classifySans(sanList('--san', request.sans));
  const sans = [...dnsNames, ...ipAddresses];
  return resolveCertificate(
    policy,
    {
      name: request.name,
      file: '',
      issuer: 'ca',
      commonName: request.commonName,
      organizations: request.organizations,
      usages: request.usages,
      sans,
    },
    (t) => [t],
    { caValidity: validity, certValidity: validity, keyType },
    undefined,
  );
}

/** Issues one leaf from a CA on disk under a profile's signing policy; a token the CA's key is in is closed after signing. */
export async function issueLeaf(ca: CaOnDisk, request: LeafRequest, now = new Date()): Promise<IssuedLeaf> {
  let spec: CertSpec;
  let cert: x509.X509Certificate;
  let pair: KeyPair;
  try {
    spec = await leafSpec(ca, request);
    ({ certificate: cert, pair } = await renderLeaf(spec, { certificate: ca.cert, key: ca.key! }, now));
  } finally {
    ca.release?.();
  }
  const wanted = new Date(Math.floor(now.getTime() / 1000) * 1000 + spec.validity * 1000);
  const warnings = [
    validityAboveDefault('--validity', spec.validity, false),
    cert.notAfter < wanted ? outlivesCa(request.name, ca.certFile, wanted, cert.notAfter) : undefined,
  ];
  return { cert, pair, warnings: warnings.filter((w): w is string => w !== undefined) };
}

/** Refuses to replace existing files (they may hold keys in use) unless forced. */
export async function refuseOverwrite(files: string[], force: boolean | undefined): Promise<void> {
  if (force) return;
  for (const file of files) {
    if ((await readOptional(file)) !== undefined) {
      throw badInput(file, 'already exists', 'choose another --out, or pass --force to replace it');
    }
  }
}

/** PREFIX.key (0600) and PREFIX.crt: a pair, for writeFilesTogether. */
export function leafWrites(prefix: string, leaf: Pick<IssuedLeaf, 'cert' | 'pair'>): FileWrite[] {
  return [
    { path: `${prefix}.key`, data: privateKeyPem(leaf.pair.privateKey), mode: 0o600 },
    { path: `${prefix}.crt`, data: certificatePem(leaf.cert), mode: 0o644 },
  ];
}

/**
 * Writes files that belong together (a key and its certificate, a kubeconfig and its files)
 * under the lock of `lockDir`, journaled there. `refuse` names files that must not exist yet
 * unless forced; `render` runs under the lock, so what it reads (a kubeconfig merged into) cannot
 * change before it is replaced.
 */
export async function writeLocked(
  lockDir: string,
  refuse: string[],
  force: boolean | undefined,
  render: () => Promise<FileWrite[]>,
): Promise<void> {
  await withWriteLock(lockDir, async () => {
    await refuseOverwrite(refuse, force);
    await writeFilesTogether(lockDir, await render());
  });
}

/** New files in one directory, written together; existing ones are refused unless forced. */
export async function writeNewFiles(writes: FileWrite[], force: boolean | undefined): Promise<string[]> {
  const files = writes.map((w) => w.path);
  await writeLocked(path.dirname(path.resolve(files[0]!)), files, force, async () => writes);
  return files;
}

import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import type { x509 } from '../pki/crypto.js';
import { parseCertificate } from '../pki/pem.js';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { readError, readOptional } from '../store/files.js';
import { DEFAULTS } from '../model/defaults.js';
import { loadProfile } from '../store/profiles.js';

export interface ExpirationRow {
  /** kubeadm's name: `apiserver`, `admin.conf`, `etcd-ca`, or `<kubeconfig> (embedded CA)`. */
  name: string;
  file: string;
  missing: boolean;
  notAfter: string | undefined;
  secondsLeft: number | undefined;
  /** The CA that signs it (empty for CAs). */
  authority: string;
  /** True when kpki cannot renew it: its CA's key is absent. */
  externallyManaged: boolean;
}

export interface ExpirationReport {
  certificates: ExpirationRow[];
  authorities: ExpirationRow[];
  warnWithinSeconds: number | undefined;
  /** Rows expiring within warnWithinSeconds (or expired). */
  expiringSoon: ExpirationRow[];
}

export interface ExpirationOptions {
  certDir?: string;
  kubeconfigDir?: string;
  profile?: string;
  now?: Date;
  warnWithinSeconds?: number;
}

async function requireDirectory(dir: string, flag: string): Promise<void> {
  const stat = await fs.stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw readError(dir, error);
  });
  if (!stat) throw new KpkiError(ErrorCode.MissingFile, `${dir}: no such directory`, { subject: dir, hint: `pass the PKI's directory with ${flag}` });
  if (!stat.isDirectory()) throw badInput(dir, 'is not a directory', `pass a directory with ${flag}`);
}

async function loadCert(file: string): Promise<x509.X509Certificate | undefined> {
  const data = await readOptional(file);
  return data && parseCertificate(data, file);
}

/**
 * kubeadm's `certs check-expiration`, driven by the profile's entries, plus the client
 * certificates and CAs embedded in every kubeconfig.
 */
export async function checkExpiration(options: ExpirationOptions = {}): Promise<ExpirationReport> {
  const certDir = options.certDir ?? (existsSync(DEFAULTS.nodeCertDir) ? DEFAULTS.nodeCertDir : DEFAULTS.certDir);
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(certDir);
  // A mistyped directory would make every row !MISSING! and exit 0: a cron job would never alert.
  await requireDirectory(certDir, '--cert-dir');
  if (options.kubeconfigDir !== undefined) await requireDirectory(kubeconfigDir, '--kubeconfig-dir');
  const now = options.now ?? new Date();
  const profile = await loadProfile(options.profile);
  const cas = profile.certificates.filter((c) => !c.issuer);
  const caKeyPresent = new Map(cas.map((c) => [c.name, existsSync(path.join(certDir, `${c.file}.key`))]));
  const row = (name: string, file: string, cert: x509.X509Certificate | undefined, authority: string): ExpirationRow => ({
    name,
    file,
    missing: !cert,
    notAfter: cert?.notAfter.toISOString(),
    secondsLeft: cert && Math.round((cert.notAfter.getTime() - now.getTime()) / 1000),
    authority,
    externallyManaged: !(caKeyPresent.get(authority || name) ?? true),
  });

  const certificates: ExpirationRow[] = [];
  const authorities: ExpirationRow[] = [];
  // Kubelet pki entries live on each node, not in the cert dir.
  for (const entry of profile.certificates.filter((c) => c.location === 'certDir')) {
    const file = path.join(certDir, `${entry.file}.crt`);
    if (entry.issuer) certificates.push(row(entry.name, file, await loadCert(file), entry.issuer));
    else authorities.push(row(entry.name, file, await loadCert(file), ''));
  }
  const caFiles = new Map(cas.map((c) => [c.name, path.join(certDir, `${c.file}.crt`)]));
  for (const entry of profile.kubeconfigs) {
    const file = path.join(kubeconfigDir, entry.file);
    const data = await readOptional(file);
    if (!data) {
      // An optional kubeconfig (super-admin.conf lives on the first control plane only) is no missing row.
      if (entry.optional) continue;
      certificates.push(row(entry.name, file, undefined, entry.issuer));
      continue;
    }
    const creds = parseKubeconfig(data.toString('utf8'), file);
    const cert = creds.clientCertificate?.data && parseCertificate(creds.clientCertificate.data, creds.clientCertificate.origin);
    certificates.push(row(entry.name, file, cert || undefined, entry.issuer));
    const embeddedCa = creds.certificateAuthority?.data;
    // The CA a kubeconfig embeds is a row of its own unless it is the issuer's file, byte for byte.
    const caFileBytes = await readOptional(caFiles.get(entry.issuer)!);
    if (embeddedCa && !(caFileBytes && embeddedCa.equals(caFileBytes))) {
      authorities.push(row(`${entry.name} (embedded CA)`, file, parseCertificate(embeddedCa, creds.certificateAuthority!.origin), ''));
    }
  }
  const byName = (a: ExpirationRow, b: ExpirationRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  certificates.sort(byName);
  authorities.sort(byName);
  const limit = options.warnWithinSeconds;
  const expiringSoon = limit === undefined ? [] : [...certificates, ...authorities].filter((r) => r.secondsLeft !== undefined && r.secondsLeft < limit);
  return { certificates, authorities, warnWithinSeconds: limit, expiringSoon };
}

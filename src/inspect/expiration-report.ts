import path from 'node:path';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { CONDITION_DEFAULTS, type Profile } from '../model/profile.js';
import { certificateFromDer, type CertificateData } from '../pki/parse.js';
import { readCertificates } from '../pki/pem-blocks.js';

// Only validity is needed: Go's parse alone (as kubeadm's check-expiration), without @peculiar/x509.
const parseCertificate = (data: Buffer, file: string): CertificateData => readCertificates(data, file, certificateFromDer)[0]!;

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

/** Where the profile's entries live. */
export interface ExpirationDirs {
  certDir: string;
  kubeconfigDir: string;
  /** The kubelet's certificate directory: rows for the profile's kubeletPki entries when known. */
  kubeletPkiDir: string | undefined;
}

/** How the report sees the files: a file's bytes (undefined when absent), and whether one exists. */
export interface ExpirationFiles {
  read(file: string): Promise<Buffer | undefined>;
  exists(file: string): Promise<boolean>;
}

/**
 * kubeadm's `certs check-expiration`, driven by the profile's entries, plus the client
 * certificates and CAs embedded in every kubeconfig.
 */
export async function expirationReport(
  profile: Profile,
  dirs: ExpirationDirs,
  files: ExpirationFiles,
  now: Date,
  warnWithinSeconds: number | undefined,
): Promise<ExpirationReport> {
  const { certDir, kubeconfigDir, kubeletPkiDir } = dirs;
  const cas = profile.certificates.filter((c) => !c.issuer);
  const caKeyPresent = new Map(
    await Promise.all(cas.map(async (c) => [c.name, await files.exists(path.join(certDir, `${c.file}.key`))] as const)),
  );
  const loadCert = async (file: string): Promise<CertificateData | undefined> => {
    const data = await files.read(file);
    return data && parseCertificate(data, file);
  };
  const row = (name: string, file: string, cert: CertificateData | undefined, authority: string): ExpirationRow => ({
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
  // Kubelet pki entries live in each node's kubelet directory: rows only when that is known.
  const entryDirs = { certDir, kubeletPki: kubeletPkiDir };
  for (const entry of profile.certificates) {
    const dir = entryDirs[entry.location];
    if (!dir) continue;
    const file = path.join(dir, `${entry.file}.crt`);
    const cert = await loadCert(file);
    // An entry one opts in to (the component serving certificates) is no missing row where it was not asked for.
    if (!cert && entry.when && !CONDITION_DEFAULTS[entry.when]) continue;
    if (entry.issuer) certificates.push(row(entry.name, file, cert, entry.issuer));
    else authorities.push(row(entry.name, file, cert, ''));
  }
  const caFiles = new Map(cas.map((c) => [c.name, path.join(certDir, `${c.file}.crt`)]));
  for (const entry of profile.kubeconfigs) {
    const file = path.join(kubeconfigDir, entry.file);
    const data = await files.read(file);
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
    const caFileBytes = await files.read(caFiles.get(entry.issuer)!);
    if (embeddedCa && !(caFileBytes && embeddedCa.equals(caFileBytes))) {
      authorities.push(row(`${entry.name} (embedded CA)`, file, parseCertificate(embeddedCa, creds.certificateAuthority!.origin), ''));
    }
  }
  const byName = (a: ExpirationRow, b: ExpirationRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  certificates.sort(byName);
  authorities.sort(byName);
  const expiringSoon =
    warnWithinSeconds === undefined
      ? []
      : [...certificates, ...authorities].filter((r) => r.secondsLeft !== undefined && r.secondsLeft < warnWithinSeconds);
  return { certificates, authorities, warnWithinSeconds, expiringSoon };
}

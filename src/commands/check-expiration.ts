import path from 'node:path';
import { DEFAULTS } from '../model/defaults.js';
import { expirationReport, type ExpirationReport } from '../inspect/expiration-report.js';
import { readKubeletSettings } from './verify-inputs.js';
import { readOptional } from '../store/files.js';
import { loadProfile } from '../store/profiles.js';
import { exists, requireDirectory } from '../store/tree.js';
import { KUBELET_CERT_DIR } from '../verify/inputs/kubelet.js';

/** `kpki check-expiration`: the files read by store, the report made by inspect (no @peculiar/x509: see pki/pem-blocks.ts). */

export interface ExpirationOptions {
  certDir?: string;
  kubeconfigDir?: string;
  /** The kubelet's certificate directory (its --cert-dir), for the profile's kubeletPki entries. */
  kubeletPkiDir?: string;
  /** The kubelet's config (KubeletConfiguration or flags), as verify takes it: its cert directory holds the kubeletPki entries. */
  kubeletConfig?: string;
  profile?: string;
  now?: Date;
  warnWithinSeconds?: number;
}

/**
 * Where the kubelet keeps the profile's kubeletPki entries: as given, as its config says, or, for a
 * cert dir shaped like a node's (`<root>/etc/kubernetes/pki`), `<root>/var/lib/kubelet/pki` when it is there.
 */
async function kubeletPkiDir(options: ExpirationOptions, certDir: string): Promise<string | undefined> {
  if (options.kubeletPkiDir !== undefined) {
    await requireDirectory(options.kubeletPkiDir, '--kubelet-pki-dir');
    return options.kubeletPkiDir;
  }
  if (options.kubeletConfig !== undefined) return (await readKubeletSettings(options.kubeletConfig, undefined)).certDirectory;
  const resolved = path.resolve(certDir);
  if (!resolved.endsWith(DEFAULTS.nodeCertDir)) return undefined;
  const nodeKubeletPki = path.join(resolved.slice(0, -DEFAULTS.nodeCertDir.length), KUBELET_CERT_DIR);
  return (await exists(nodeKubeletPki)) ? nodeKubeletPki : undefined;
}

/**
 * kubeadm's `certs check-expiration`, driven by the profile's entries, plus the client
 * certificates and CAs embedded in every kubeconfig.
 */
export async function checkExpiration(options: ExpirationOptions = {}): Promise<ExpirationReport> {
  const certDir = options.certDir ?? ((await exists(DEFAULTS.nodeCertDir)) ? DEFAULTS.nodeCertDir : DEFAULTS.certDir);
  const kubeconfigDir = options.kubeconfigDir ?? path.dirname(certDir);
  // A mistyped directory would make every row !MISSING! and exit 0: a cron job would never alert.
  await requireDirectory(certDir, '--cert-dir');
  if (options.kubeconfigDir !== undefined) await requireDirectory(kubeconfigDir, '--kubeconfig-dir');
  const dirs = { certDir, kubeconfigDir, kubeletPkiDir: await kubeletPkiDir(options, certDir) };
  const profile = await loadProfile(options.profile);
  return expirationReport(profile, dirs, { read: readOptional, exists }, options.now ?? new Date(), options.warnWithinSeconds);
}

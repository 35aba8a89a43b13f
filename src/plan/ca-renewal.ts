import type { Observed } from '../model/files.js';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { parseDuration } from '../model/duration.js';
import type { Layout, LayoutOptions } from '../model/layout.js';
import { rotationIn } from '../model/rotation.js';
import { DEFAULTS } from '../model/settings.js';
import { certificateFacts } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { isSignedBy } from '../pki/match.js';
import { parseCertificates } from '../pki/pem.js';
import { renewableEntries, renewalSites } from './renew.js';
import type { Restart } from './restart.js';
import { keyTypeOf } from '../pki/keys.js';
import { publicKeyObject } from '../pki/certificate.js';
import { sameAuthority } from '../pki/match.js';
import { resolveCertificate } from '../model/spec.js';
import { authoritiesIn } from './renew.js';
import type { Day2Step } from './steps.js';
import { editAllTrust, signingAuthority, trustHolders, type HeldCa, type TokenCas } from './trust.js';

export interface CaRenewOptions extends LayoutOptions {
  /** `ca`, `front-proxy-ca`, `etcd-ca` (or cluster, front-proxy, etcd). */
  name: string;
  /** New lifetime from now (default 10 years). */
  validity?: string;
  /** APIService manifests whose caBundle holds this CA (kpki cert extension-apiserver --ca cluster). */
  apiServices?: string[];
  dryRun?: boolean;
  /** Accept a validity that ends before the CA does now, or before a leaf it signed. */
  force?: boolean;
  now?: Date;
}

export interface CaRenewResult {
  ca: string;
  dryRun: boolean;
  /** Expiry of the re-issued CA certificate (on a dry run, the one it would have). */
  notAfter: string | undefined;
  /** Every file rewritten (or that would be). */
  files: string[];
  restart: Restart[];
  /** What else to do: re-apply APIServices, restart pods before the old certificate expires. */
  notes: string[];
  /** Files of an interrupted run this one completed instead of starting anew. */
  resumed: string[] | undefined;
  /** kubeadm's warning for a CA lifetime above its default. */
  warnings: string[];
}

export function caValidity(text: string | undefined): number {
  const seconds = parseDuration(text ?? DEFAULTS.caValidity);
  if (seconds === undefined || seconds <= 0) throw badFlag('--validity', `"${text}" is not a duration`, 'e.g. 10y or 87600h');
  return seconds;
}

/** Refuses to start while a rotation of the same CA is under way. */
export function refuseDuringRotation(layout: Layout, snapshot: Observed, name: string): void {
  const rotation = rotationIn(snapshot, layout.signing.certDir);
  if (rotation?.cas.includes(name)) {
    throw new KpkiError(ErrorCode.StaleFile, `${name} is being rotated (phase ${rotation.phase})`, {
      subject: rotation.file,
      hint: 'finish or abort the rotation first (kpki ca rotate finish|abort)',
    });
  }
}

/** Every certificate the layout holds that `ca` signed (leaves and kubeconfigs' client certificates), with its expiry. */
function leavesOf(layout: Layout, snapshot: Observed, name: string, ca: x509.X509Certificate): { file: string; notAfter: Date }[] {
  const files = renewalSites(
    layout,
    renewableEntries(layout)
      .filter((e) => e.issuer === name)
      .map((e) => e.name),
  ).map((s) => s.files[0]!);
  return files.flatMap((file) => {
    const data = snapshot.get(file);
    const pem = data && (file.endsWith('.crt') ? data : parseKubeconfig(data.toString('utf8'), file).clientCertificate?.data);
    const cert = pem && parseCertificates(pem, file)[0];
    return cert && isSignedBy(cert, ca) ? [{ file, notAfter: certificateFacts(cert).notAfter }] : [];
  });
}

/**
 * A new lifetime that ends before the CA does now, or before a leaf it signed, breaks them then:
 * refused unless forced, and then what breaks when is said.
 */
export function shorteningNotes(
  layout: Layout,
  snapshot: Observed,
  name: string,
  ca: x509.X509Certificate,
  until: Date,
  options: CaRenewOptions,
): string[] {
  const outlived = leavesOf(layout, snapshot, name, ca).filter((l) => l.notAfter > until);
  const shortens = certificateFacts(ca).notAfter > until;
  if (!shortens && !outlived.length) return [];
  const leaves = outlived.map((l) => `${l.file} (valid until ${l.notAfter.toISOString()})`).join(', ');
  if (!options.force) {
    const reasons = [
      ...(shortens ? [`before ${name} expires now (${certificateFacts(ca).notAfter.toISOString()})`] : []),
      ...(outlived.length ? [`before leaves it signed: ${leaves}`] : []),
    ];
    throw badFlag(
      '--validity',
      `${options.validity ?? DEFAULTS.caValidity} would end ${name} at ${until.toISOString()}, ${reasons.join(', and ')}`,
      'nothing was changed; give a longer --validity, or add --force to accept that they stop verifying then',
    );
  }
  return outlived.length
    ? [`forced: from ${until.toISOString()} these stop verifying, since ${name} has expired: ${leaves}`]
    : [`forced: ${name} now expires at ${until.toISOString()}, before its earlier expiry`];
}

/**
 * `kpki ca renew NAME` as an intent: the CA certified again with its own key for `validity`
 * seconds — same subject, SubjectKeyIdentifier and SANs, so every leaf it signed keeps verifying
 * — and every trust file kpki manages that holds it (node CA files, kubeconfigs' CA data, the
 * APIService caBundles named) holding the new certificate in its place. Refused during a
 * rotation of the same CA and for an external CA.
 */
export function decideCaRenewal(
  layout: Layout,
  snapshot: Observed,
  name: string,
  validity: number,
  apiServices: string[] = [],
  tokens?: TokenCas,
): { steps: Day2Step[]; old: HeldCa & { key: NonNullable<HeldCa['key']> } } {
  refuseDuringRotation(layout, snapshot, name);
  const old = signingAuthority(authoritiesIn(layout, snapshot, tokens), name, layout.signing.certDir);
  const facts = certificateFacts(old.cert);
  const entry = layout.profile.certificates.find((c) => c.name === name)!;
  const keyType = keyTypeOf(publicKeyObject(old.cert)) ?? DEFAULTS.keyType;
  const spec = {
    ...resolveCertificate(
      layout.profile.policy,
      { ...entry, commonName: facts.commonName },
      (t) => [t],
      { caValidity: validity, certValidity: validity, keyType },
      entry.file,
    ),
    // What the old certificate named, it names again.
    dnsNames: facts.dnsNames,
    ipAddresses: facts.ipAddresses,
  };
  const holders = trustHolders(layout, snapshot, apiServices).filter((h) => h.kind !== 'ca-file' || h.ca === name);
  const steps: Day2Step[] = [
    { action: 'recertified-ca', name, spec, ca: { certificate: old.cert, key: old.key }, subjectKeyId: facts.subjectKeyId },
    {
      action: 'trust-edit',
      edit: (made) => {
        const renewed = made.cas.get(name)!.certificate;
        return editAllTrust(
          holders,
          (bundle) =>
            bundle.some((c) => sameAuthority(c, old.cert)) ? bundle.map((c) => (sameAuthority(c, old.cert) ? renewed : c)) : undefined,
          snapshot,
        );
      },
    },
  ];
  return { steps, old };
}

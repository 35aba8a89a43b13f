import type { Observed } from '../plan/decide.js';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { certificateFacts, issueCertificate, publicKeyObject } from '../pki/certificate.js';
import { isSignedBy, sameAuthority } from '../pki/match.js';
import type { x509 } from '../pki/crypto.js';
import { parseCertificates } from '../pki/pem.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { parseDuration } from '../model/duration.js';
import { resolveCertificate } from '../model/plan.js';
import type { Profile } from '../model/profile.js';
import { DEFAULTS } from '../model/settings.js';
import { keyTypeOf } from '../pki/keys.js';
import { applyChanges } from '../store/apply.js';
import { underLock } from './session.js';
import { observeLayout, observeLayoutFiles, type Layout, type LayoutOptions } from './layout.js';
import { editAllTrust, trustHolders } from './holders.js';
import { authoritiesIn, renewableEntries, renewalSites } from './renew.js';
import { restartPlan, type Restart } from './restart.js';
import { rotationIn } from './rotation-state.js';
import type { Authority } from './trust.js';

/** CA names as users give them: the profile's entry names, or `kpki cert --ca`'s aliases. */
const CA_ALIASES: Record<string, string> = { cluster: 'ca', 'front-proxy': 'front-proxy-ca', etcd: 'etcd-ca' };

/** A CA entry of the profile by any of its names. */
export function caEntryName(profile: Profile, flag: string, name: string): string {
  const entry = CA_ALIASES[name] ?? name;
  const cas = profile.certificates.filter((c) => !c.issuer).map((c) => c.name);
  if (!cas.includes(entry)) throw badFlag(flag, `"${name}" is not a CA of profile ${profile.name}`, `use one of ${cas.join(', ')} (or ${Object.keys(CA_ALIASES).join(', ')})`);
  return entry;
}

/** A CA kpki can sign with; refused for an external CA, whose owner re-certifies it. */
export function signingAuthority(cas: Map<string, Authority>, name: string, certDir: string): Authority & { key: NonNullable<Authority['key']> } {
  const ca = cas.get(name);
  if (!ca) throw new KpkiError(ErrorCode.MissingFile, `${certDir}: has no ${name}`, { subject: certDir, hint: 'point --cert-dir at the PKI (a cluster: its shared directory)' });
  if (!ca.key) {
    throw new KpkiError(ErrorCode.ExternalCaMissing, `${ca.keyFile}: ${name} is an external CA (its key is not here)`, {
      subject: ca.keyFile,
      hint: 'have its owner extend or replace it, then copy the new certificate to every node',
    });
  }
  return ca as Authority & { key: NonNullable<Authority['key']> };
}

/** What kube-controller-manager's root CA change means for pods. */
export const ROOT_CA_NOTE =
  'kube-controller-manager publishes ca.crt as the kube-root-ca.crt ConfigMap in every namespace; pods read it when they start: restart workloads that talk to the apiserver (kubectl rollout restart …)';

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
}

function caValidity(text: string | undefined): number {
  const seconds = parseDuration(text ?? DEFAULTS.caValidity);
  if (seconds === undefined || seconds <= 0) throw badFlag('--validity', `"${text}" is not a duration`, 'e.g. 10y or 87600h');
  return seconds;
}

/** Refuses to start while a rotation of the same CA is under way. */
function refuseDuringRotation(layout: Layout, snapshot: Observed, name: string): void {
  const rotation = rotationIn(snapshot, layout.signing.certDir);
  if (rotation?.cas.includes(name)) {
    throw new KpkiError(ErrorCode.StaleFile, `${name} is being rotated (phase ${rotation.phase})`, { subject: rotation.file, hint: 'finish or abort the rotation first (kpki ca rotate finish|abort)' });
  }
}

/** Every certificate the layout holds that `ca` signed (leaves and kubeconfigs' client certificates), with its expiry. */
function leavesOf(layout: Layout, snapshot: Observed, name: string, ca: x509.X509Certificate): { file: string; notAfter: Date }[] {
  const files = renewalSites(layout, renewableEntries(layout).filter((e) => e.issuer === name).map((e) => e.name)).map((s) => s.files[0]!);
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
function shorteningNotes(layout: Layout, snapshot: Observed, name: string, ca: x509.X509Certificate, until: Date, options: CaRenewOptions): string[] {
  const outlived = leavesOf(layout, snapshot, name, ca).filter((l) => l.notAfter > until);
  const shortens = certificateFacts(ca).notAfter > until;
  if (!shortens && !outlived.length) return [];
  const leaves = outlived.map((l) => `${l.file} (valid until ${l.notAfter.toISOString()})`).join(', ');
  if (!options.force) {
    const reasons = [...(shortens ? [`before ${name} expires now (${certificateFacts(ca).notAfter.toISOString()})`] : []), ...(outlived.length ? [`before leaves it signed: ${leaves}`] : [])];
    throw badFlag('--validity', `${options.validity ?? DEFAULTS.caValidity} would end ${name} at ${until.toISOString()}, ${reasons.join(', and ')}`, 'nothing was changed; give a longer --validity, or add --force to accept that they stop verifying then');
  }
  return outlived.length ? [`forced: from ${until.toISOString()} these stop verifying, since ${name} has expired: ${leaves}`] : [`forced: ${name} now expires at ${until.toISOString()}, before its earlier expiry`];
}

/**
 * `kpki ca renew NAME`: the CA certified again with the same key and subject (and
 * SubjectKeyIdentifier) for a new lifetime, so every leaf it signed keeps verifying; every copy
 * kpki manages (node CA files, kubeconfigs' CA data, named APIService caBundles) is updated.
 */
export async function renewCa(options: CaRenewOptions): Promise<CaRenewResult> {
  const layout = await observeLayout(options);
  const name = caEntryName(layout.profile, 'NAME', options.name);
  const validity = caValidity(options.validity);
  const now = options.now ?? new Date();
  const resumed = (completed: string[], layout: Layout): CaRenewResult => ({ ca: name, dryRun: false, notAfter: undefined, files: completed, restart: restartPlan(layout, completed), notes: [], resumed: completed });
  return underLock(layout, options.dryRun, resumed, async (layout) => {
    const snapshot = await observeLayoutFiles(layout, options.apiServices);
    refuseDuringRotation(layout, snapshot, name);
    const old = signingAuthority(authoritiesIn(layout, snapshot), name, layout.signing.certDir);
    const facts = certificateFacts(old.cert);
    const entry = layout.profile.certificates.find((c) => c.name === name)!;
    const keyType = keyTypeOf(publicKeyObject(old.cert)) ?? DEFAULTS.keyType;
    const spec = {
      ...resolveCertificate(layout.profile.policy, { ...entry, commonName: facts.commonName }, (t) => [t], { caValidity: validity, certValidity: validity, keyType }, entry.file),
      // What the old certificate named, it names again.
      dnsNames: facts.dnsNames,
      ipAddresses: facts.ipAddresses,
    };
    const renewed = await issueCertificate({ spec, publicKey: publicKeyObject(old.cert), issuer: { key: old.key, certificate: undefined }, now, keep: { subject: old.cert.subjectName, subjectKeyId: facts.subjectKeyId } });
    const forced = shorteningNotes(layout, snapshot, name, old.cert, renewed.notAfter, options);
    const holders = trustHolders(layout, snapshot, options.apiServices).filter((h) => h.kind !== 'ca-file' || h.ca === name);
    const writes = editAllTrust(holders, (bundle) => (bundle.some((c) => sameAuthority(c, old.cert)) ? bundle.map((c) => (sameAuthority(c, old.cert) ? renewed : c)) : undefined), snapshot);
    if (!options.dryRun) await applyChanges(layout.signing.certDir, writes);
    const files = writes.map((w) => w.path);
    const notes = [
      ...forced,
      ...(name === 'ca' ? [`${ROOT_CA_NOTE}, before the old certificate expires on ${old.cert.notAfter.toISOString()}`] : []),
      ...writes.filter((w) => options.apiServices?.includes(w.path)).map((w) => `kubectl apply -f ${w.path}`),
    ];
    return { ca: name, dryRun: options.dryRun ?? false, notAfter: renewed.notAfter.toISOString(), files, restart: restartPlan(layout, files), notes, resumed: undefined };
  });
}

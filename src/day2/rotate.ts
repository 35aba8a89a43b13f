import { createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { certificateFacts, certificatePem, issueCertificate, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { generateKeyPair, keyTypeOf, privateKeyPem, publicKeyPem, sameKeyPair } from '../pki/keys.js';
import { isSignedBy, sameAuthority, sameSubject } from '../pki/match.js';
import { parseCertificate, parseCertificates, parseKey } from '../pki/pem.js';
import { parseDuration } from '../model/duration.js';
import { resolveCertificate } from '../model/plan.js';
import { DEFAULTS } from '../model/settings.js';
import type { Finding } from '../verify/findings.js';
import { caEntryName, ROOT_CA_NOTE, signingAuthority } from './ca.js';
import { editAllTrust, trustHolders, type TrustEdit, type TrustHolder } from './holders.js';
import { applyChanges } from '../store/apply.js';
import { withWriteLock } from '../store/lock.js';
import type { Observed } from '../plan/decide.js';
import type { FileWrite } from '../plan/steps.js';
import { observeLayout, observeLayoutFiles, type Layout, type LayoutOptions, type Location } from './layout.js';
import { authoritiesIn, renewableEntries, renewWrites } from './renew.js';
import { restartPlan, type Restart } from './restart.js';
import { removeRotationMaterial, ROTATION_DIR, ROTATION_FILE, rotationIn, rotationWrite, type RotationPhase, type RotationState } from './rotation-state.js';
import { underLock } from './session.js';
import type { Authority } from './trust.js';
import { SIGNER_CERT } from './names.js';

export const ROTATE_STEPS = ['begin', 'reissue', 'finish', 'abort', 'status'] as const;
export type RotateStep = (typeof ROTATE_STEPS)[number];

export interface RotateOptions extends LayoutOptions {
  step: RotateStep;
  /** For begin: CAs to rotate (`cluster,front-proxy,etcd` or entry names; `none` with serviceAccount); default all. */
  cas?: string[];
  /** For begin: rotate the service-account signing key too. */
  serviceAccount?: boolean;
  /** For begin: lifetime of the new CAs (default 10 years). */
  validity?: string;
  /** For finish: delete the old keys instead of archiving them. */
  purge?: boolean;
  /** For abort and finish: take the phase from the trust files when the rotation's record is gone. */
  recover?: boolean;
  /** APIService manifests whose caBundle holds a rotated CA. */
  apiServices?: string[];
  dryRun?: boolean;
  now?: Date;
}

/** One file's place in the rotation, as `status` reports it. */
export interface RotationFileState {
  node: string | undefined;
  file: string;
  /** `old`, `old+new`, `new+old`, `new` for trust files; `old`/`new` for keys and leaves. */
  state: string;
  /** What the current phase wants; the file lags (a half-applied phase) when they differ. */
  expected: string;
}

export interface RotateResult {
  step: RotateStep;
  /** The phase the rotation is in after this step; `none` when no rotation is under way. */
  phase: RotationPhase | 'none';
  cas: string[];
  serviceAccount: boolean;
  dryRun: boolean;
  files: string[];
  restart: Restart[];
  notes: string[];
  /** For status: every rotated file's state. */
  status: RotationFileState[] | undefined;
  /** True when some file is not where the phase wants it. */
  halfApplied: boolean | undefined;
  /** Files of an interrupted step this run completed instead of starting anew. */
  resumed: string[] | undefined;
}

/** Where the rotation keeps one CA's (or the SA key's) old and new material. */
const material = (certDir: string, side: 'old' | 'new', file: string) => path.join(certDir, ROTATION_DIR, side, file);

interface CaPair {
  name: string;
  file: string;
  cert: x509.X509Certificate;
  /** Undefined when a recovered rotation (see recoveredRotation) has only the certificate of this side. */
  key: KeyObject | undefined;
  keyFile: string;
}

const missingMaterial = (file: string, what: string) =>
  new KpkiError(ErrorCode.MissingFile, `${file}: the rotation's ${what} is missing`, { subject: file, hint: 'restore it from a backup; without it this step cannot be carried out' });

function pairIn(snapshot: Observed, certDir: string, side: 'old' | 'new', name: string, file: string, recovered: boolean): CaPair {
  const crt = material(certDir, side, `${file}.crt`);
  const keyFile = material(certDir, side, `${file}.key`);
  const [crtData, keyData] = [snapshot.get(crt), snapshot.get(keyFile)];
  if (!crtData) throw missingMaterial(crt, `${side} ${name}`);
  // A recorded rotation keeps both keys until it ends: one missing is reported at once.
  if (!keyData && !recovered) throw missingMaterial(keyFile, `${side} ${name} key`);
  return { name, file, cert: parseCertificate(crtData, crt), key: keyData && parseKey(keyData, keyFile), keyFile };
}

/** The key a phase signs with: refused when the rotation no longer has it. */
function signingKey(pair: CaPair, side: 'old' | 'new'): KeyObject {
  if (!pair.key) throw missingMaterial(pair.keyFile, `${side} ${pair.name} key`);
  return pair.key;
}

/** The old and new material of every CA the rotation covers. */
function pairsIn(layout: Layout, snapshot: Observed, state: RotationState): { old: CaPair; new: CaPair }[] {
  const certDir = layout.signing.certDir;
  return state.cas.map((name) => {
    const file = layout.profile.certificates.find((c) => c.name === name)!.file;
    const recovered = state.startedAt === UNRECORDED;
    return { old: pairIn(snapshot, certDir, 'old', name, file, recovered), new: pairIn(snapshot, certDir, 'new', name, file, recovered) };
  });
}

/** The SA key pair's public halves, old and new. */
function saKeysIn(snapshot: Observed, certDir: string): { old: KeyObject; new: KeyObject } {
  const read = (side: 'old' | 'new') => {
    const file = material(certDir, side, 'sa.key');
    const data = snapshot.get(file);
    if (!data) throw missingMaterial(file, `${side} service-account key`);
    // A recovered rotation may know a side only by its public key (from sa.pub).
    return data.includes('PUBLIC KEY-----') ? createPublicKey(data) : parseKey(data, file);
  };
  return { old: read('old'), new: read('new') };
}

/** kpki verify over one location of the layout, as what it is (given by the command layer: verify reads a rotation's state through this module). */
export type VerifyLocation = (location: Location, layout: Layout) => Promise<Finding[]>;

/**
 * The live cluster's gates for a step, before it writes (given by the command layer: only live/
 * talks to the cluster): throws to refuse. `status` passes its state too, for `status --live`.
 */
export type PhaseGate = (step: RotateStep, layout: Layout, snapshot: Observed, state: RotationState | undefined) => Promise<void>;

/**
 * Refuses to change anything while verify finds errors anywhere the rotation writes: the shared
 * set, every control plane, every external etcd member (where the etcd CA's trust and leaves
 * live; control planes hold only etcd/ca.crt and their etcd client certificate) and every worker.
 */
async function preflight(layout: Layout, verifyLocation: VerifyLocation | undefined): Promise<void> {
  if (!verifyLocation) throw new Error('a rotation step that changes files needs verify');
  for (const location of layout.locations) {
    const findings = await verifyLocation(location, layout);
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const where = location.node && location.node !== 'local' ? `node ${location.node} (${location.role})` : location.certDir;
      const see = location.root ? `kpki verify --root ${location.root}` : `kpki verify --cert-dir ${location.certDir} --kubeconfig-dir ${location.kubeconfigDir}`;
      throw new KpkiError(ErrorCode.StaleFile, `verify finds ${errors.length} error(s) in ${where}: ${errors[0]!.subject}: ${errors[0]!.diagnosis}`, {
        subject: location.root ?? location.certDir,
        hint: `nothing was changed; see ${see} and fix them first`,
      });
    }
  }
}

function signerCopies(layout: Layout, snapshot: Observed, cert: x509.X509Certificate): FileWrite[] {
  return copiesOf(layout, snapshot, 'ca.key').map((keyFile) => ({ path: path.join(path.dirname(keyFile), SIGNER_CERT), data: certificatePem(cert), mode: 0o644 }));
}

/** The signer copy for the cluster CA's pair, when the rotation covers it. */
function clusterSigner(layout: Layout, snapshot: Observed, pairs: { old: CaPair; new: CaPair }[], pick: (pair: { old: CaPair; new: CaPair }) => CaPair): FileWrite[] {
  const cluster = pairs.find((p) => p.old.name === 'ca');
  return cluster ? signerCopies(layout, snapshot, pick(cluster).cert) : [];
}

/** Every location's copy of a file under the cert dir (CA keys on control planes, sa.pub, sa.key). */
function copiesOf(layout: Layout, snapshot: Observed, relative: string): string[] {
  return layout.locations.map((l) => path.join(l.certDir, relative)).filter((f) => snapshot.has(f));
}

const holds = (bundle: x509.X509Certificate[], ca: x509.X509Certificate) => bundle.some((c) => sameAuthority(c, ca));
const without = (bundle: x509.X509Certificate[], ca: x509.X509Certificate) => bundle.filter((c) => !sameAuthority(c, ca));

/** A trust edit applied, per rotated CA, to the holders of that CA's trust. */
function perCa(pairs: { old: CaPair; new: CaPair }[], edit: (bundle: x509.X509Certificate[], pair: { old: CaPair; new: CaPair }) => x509.X509Certificate[] | undefined): TrustEdit {
  return (bundle: x509.X509Certificate[], holder: TrustHolder) => {
    let next: x509.X509Certificate[] | undefined;
    for (const pair of pairs) {
      if (holder.kind === 'ca-file' && holder.ca !== pair.old.name) continue;
      next = edit(next ?? bundle, pair) ?? next;
    }
    return next;
  };
}

function pemOfKeys(keys: KeyObject[]): string {
  return keys.map((k) => publicKeyPem(createPublicKey(k))).join('');
}

/** Signing material for re-issuing leaves: the given pairs, with trust files holding both CAs. */
function signers(base: Map<string, Authority>, pairs: { signer: CaPair; other: CaPair }[]): Map<string, Authority> {
  const cas = new Map(base);
  for (const { signer, other } of pairs) {
    const ca = base.get(signer.name)!;
    cas.set(signer.name, { ...ca, cert: signer.cert, key: signer.key!, bundle: [signer.cert, other.cert] });
  }
  return cas;
}

/** Re-signs every leaf and kubeconfig under the rotated CAs with the given signers. */
async function reissueLeaves(layout: Layout, snapshot: Observed, state: RotationState, cas: Map<string, Authority>, now: Date, dryRun: boolean) {
  const names = renewableEntries(layout).filter((e) => state.cas.includes(e.issuer)).map((e) => e.name);
  const validity = parseDuration(layout.record?.data.settings.certValidity ?? DEFAULTS.certValidity) ?? parseDuration(DEFAULTS.certValidity)!;
  return renewWrites(layout, { names, cas, sanPlan: { sans: [], entries: [] }, csrOnly: false, csrDir: '', key: 'auto', validity, now, dryRun }, snapshot);
}

/** `--ca` names, all CAs by default; `none` rotates only the service-account key. */
function caSelection(layout: Layout, options: RotateOptions): string[] {
  if (!options.cas?.length) return layout.profile.certificates.filter((c) => !c.issuer).map((c) => c.name);
  if (options.cas.length === 1 && options.cas[0] === 'none') {
    if (!options.serviceAccount) throw badFlag('--ca', 'none rotates nothing without --service-account');
    return [];
  }
  return [...new Set(options.cas.map((name) => caEntryName(layout.profile, '--ca', name)))];
}

interface Phase {
  writes: FileWrite[];
  notes: string[];
  next: RotationState | undefined;
}

/** Writes in order, a later write of the same path replacing an earlier one. */
function merged(writes: FileWrite[]): FileWrite[] {
  return [...new Map(writes.map((w) => [path.resolve(w.path), w])).values()];
}

async function begin(layout: Layout, snapshot: Observed, options: RotateOptions, now: Date, verifyLocation: VerifyLocation | undefined): Promise<Phase> {
  const certDir = layout.signing.certDir;
  const cas = caSelection(layout, options);
  const serviceAccount = options.serviceAccount ?? false;
  await preflight(layout, verifyLocation);
  const validity = parseDuration(options.validity ?? DEFAULTS.caValidity);
  if (validity === undefined || validity <= 0) throw badFlag('--validity', `"${options.validity}" is not a duration`, 'e.g. 10y');
  const authorities = authoritiesIn(layout, snapshot);
  const writes: FileWrite[] = [];
  const pairs: { old: CaPair; new: CaPair }[] = [];
  for (const name of cas) {
    const old = signingAuthority(authorities, name, certDir);
    if (old.bundle.length > 1) throw new KpkiError(ErrorCode.StaleFile, `${old.certFile} holds ${old.bundle.length} certificates`, { subject: old.certFile, hint: 'a rotation starts from one CA certificate per trust file: remove the extra ones first' });
    const entry = layout.profile.certificates.find((c) => c.name === name)!;
    const keyType = keyTypeOf(publicKeyObject(old.cert)) ?? DEFAULTS.keyType;
    const spec = resolveCertificate(layout.profile.policy, { ...entry, commonName: certificateFacts(old.cert).commonName }, (t) => [t], { caValidity: validity, certValidity: validity, keyType }, entry.file);
    const fresh = await generateKeyPair(keyType);
    // Same subject: everything that names the issuer (leaves, kubeadm's checks) keeps reading the same; keys and key ids tell them apart.
    const cert = await issueCertificate({ spec, publicKey: fresh.publicKey, issuer: { key: fresh.privateKey, certificate: undefined }, now, keep: { subject: old.cert.subjectName, subjectKeyId: undefined } });
    const keyFile = (side: 'old' | 'new') => material(certDir, side, `${entry.file}.key`);
    pairs.push({ old: { name, file: entry.file, cert: old.cert, key: old.key, keyFile: keyFile('old') }, new: { name, file: entry.file, cert, key: fresh.privateKey, keyFile: keyFile('new') } });
    writes.push(
      { path: material(certDir, 'old', `${entry.file}.crt`), data: certificatePem(old.cert), mode: 0o644 },
      { path: material(certDir, 'old', `${entry.file}.key`), data: privateKeyPem(old.key), mode: 0o600 },
      { path: material(certDir, 'new', `${entry.file}.crt`), data: certificatePem(cert), mode: 0o644 },
      { path: material(certDir, 'new', `${entry.file}.key`), data: privateKeyPem(fresh.privateKey), mode: 0o600 },
    );
  }
  // Old first: it still signs, and kubeadm reads only the first certificate next to the key.
  writes.push(...editAllTrust(trustHolders(layout, snapshot, options.apiServices), perCa(pairs, (bundle, pair) => (holds(bundle, pair.old.cert) && !holds(bundle, pair.new.cert) ? [...bundle, pair.new.cert] : undefined)), snapshot));
  writes.push(...clusterSigner(layout, snapshot, pairs, (p) => p.old));
  if (serviceAccount) {
    const keyFile = path.join(certDir, 'sa.key');
    const keyData = snapshot.get(keyFile);
    if (!keyData) throw new KpkiError(ErrorCode.MissingFile, `${keyFile}: no service-account key to rotate`, { subject: keyFile });
    const old = parseKey(keyData, keyFile);
    const fresh = await generateKeyPair(keyTypeOf(createPublicKey(old)) ?? DEFAULTS.keyType);
    writes.push(
      { path: material(certDir, 'old', 'sa.key'), data: privateKeyPem(old), mode: 0o600 },
      { path: material(certDir, 'new', 'sa.key'), data: privateKeyPem(fresh.privateKey), mode: 0o600 },
      ...copiesOf(layout, snapshot, 'sa.pub').map((file) => ({ path: file, data: pemOfKeys([old, fresh.privateKey]), mode: 0o600 })),
    );
  }
  const next: RotationState = { phase: 'begun', cas, serviceAccount, startedAt: now.toISOString() };
  const notes = [
    ...(cas.includes('ca') ? [`after the restarts: ${ROOT_CA_NOTE}, so they trust the new CA before kpki ca rotate reissue`] : []),
    'then run kpki ca rotate reissue',
  ];
  return { writes, notes, next };
}

/**
 * Trust files, CA key copies, the controller manager's signer file and SA keys of a layout as a
 * phase of both sides wants them: the signing side (old in begun, new in reissued) first.
 */
function signerSideFiles(layout: Layout, snapshot: Observed, state: RotationState, pairs: { old: CaPair; new: CaPair }[], toOld: boolean, apiServices: string[] | undefined): FileWrite[] {
  const signingSide = toOld ? 'old' : 'new';
  const side = (pair: { old: CaPair; new: CaPair }) => (toOld ? { signer: pair.old, other: pair.new } : { signer: pair.new, other: pair.old });
  // The signer leads: kubeadm and the controller-manager's signer read only the first certificate next to the key.
  const signerFirst = (bundle: x509.X509Certificate[], pair: { old: CaPair; new: CaPair }) =>
    holds(bundle, pair.old.cert) || holds(bundle, pair.new.cert) ? [side(pair).signer.cert, side(pair).other.cert, ...without(without(bundle, pair.old.cert), pair.new.cert)] : undefined;
  const writes = editAllTrust(trustHolders(layout, snapshot, apiServices), perCa(pairs, signerFirst), snapshot);
  for (const pair of pairs) {
    for (const file of copiesOf(layout, snapshot, `${pair.old.file}.key`)) writes.push({ path: file, data: privateKeyPem(signingKey(side(pair).signer, signingSide)), mode: 0o600 });
  }
  writes.push(...clusterSigner(layout, snapshot, pairs, (p) => side(p).signer));
  if (state.serviceAccount) {
    const sa = saKeysIn(snapshot, layout.signing.certDir);
    const [signer, other] = toOld ? [sa.old, sa.new] : [sa.new, sa.old];
    if (signer.type !== 'private') throw missingMaterial(material(layout.signing.certDir, signingSide, 'sa.key'), `${signingSide} service-account key`);
    for (const file of copiesOf(layout, snapshot, 'sa.key')) writes.push({ path: file, data: privateKeyPem(signer), mode: 0o600 });
    for (const file of copiesOf(layout, snapshot, 'sa.pub')) writes.push({ path: file, data: pemOfKeys([signer, other]), mode: 0o600 });
  }
  return writes;
}

async function reissue(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, now: Date, toOld: boolean): Promise<Phase> {
  const pairs = pairsIn(layout, snapshot, state);
  const side = (pair: { old: CaPair; new: CaPair }) => (toOld ? { signer: pair.old, other: pair.new } : { signer: pair.new, other: pair.old });
  const writes = signerSideFiles(layout, snapshot, state, pairs, toOld, options.apiServices);
  const leaves = await reissueLeaves(layout, snapshot, state, signers(authoritiesIn(layout, snapshot), pairs.map(side)), now, options.dryRun ?? false);
  writes.push(...leaves.writes);
  const notes = toOld
    ? ['the old CAs sign again and trust still holds both; after the restarts, run kpki ca rotate abort once more to drop the new CAs']
    : [
        ...(state.serviceAccount ? ['service-account tokens are now signed with the new key; tokens signed with the old one keep working until finish'] : []),
        'after the restarts (and once workloads hold new tokens), run kpki ca rotate finish',
      ];
  return { writes: merged(writes), notes, next: { ...state, phase: toOld ? 'begun' : 'reissued' } };
}

/** Leaves still signed by a CA: finish refuses to drop a CA something still depends on. */
function leavesSignedBy(layout: Layout, snapshot: Observed, pairs: CaPair[]): { file: string; name: string }[] {
  const left: { file: string; name: string }[] = [];
  for (const location of layout.locations) {
    for (const entry of renewableEntries(layout).filter((e) => e.kind === 'certificate')) {
      const files = entry.files(location);
      const ca = pairs.find((p) => p.name === entry.issuer);
      const data = files && ca && snapshot.get(files[0]!);
      if (data && isSignedBy(parseCertificate(data, files![0]!), ca!.cert)) left.push({ file: files![0]!, name: entry.name });
    }
  }
  return left;
}

/** The retired side's keys, archived (0600) under `rotation-archive/<time>/` unless purged; the material itself goes once the phase is written. */
function archiveRotation(layout: Layout, snapshot: Observed, state: RotationState, side: 'old' | 'new', purge: boolean, now: Date): FileWrite[] {
  if (purge) return [];
  const certDir = layout.signing.certDir;
  const files = [...state.cas.flatMap((name) => {
    const file = layout.profile.certificates.find((c) => c.name === name)!.file;
    return [`${file}.crt`, `${file}.key`];
  }), ...(state.serviceAccount ? ['sa.key'] : [])];
  const writes: FileWrite[] = [];
  for (const file of files) {
    const data = snapshot.get(material(certDir, side, file));
    // A recovered rotation knows a lost SA key by its public half alone: nothing to archive.
    if (data && !(file.endsWith('.key') && data.includes('PUBLIC KEY-----'))) writes.push({ path: path.join(certDir, `${ROTATION_DIR}-archive`, now.toISOString().replace(/[:.]/g, '-'), file), data, mode: 0o600 });
  }
  return writes;
}

/** Ends a rotation on one side: the other side's CAs and SA key leave every trust file; refused while a leaf still needs them. */
function keepOnly(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, kept: 'old' | 'new'): FileWrite[] {
  const dropped = kept === 'old' ? 'new' : 'old';
  const pairs = pairsIn(layout, snapshot, state);
  const left = leavesSignedBy(layout, snapshot, pairs.map((p) => p[dropped]));
  if (left.length) {
    // In either phase the key beside each CA is the side kept, so kpki renew signs them with it.
    const renew = `kpki renew ${[...new Set(left.map((l) => l.name))].join(' ')}`;
    throw new KpkiError(ErrorCode.StaleFile, `still signed by a${dropped === 'old' ? 'n old' : ' new'} CA: ${left.map((l) => l.file).join(', ')}`, {
      subject: left[0]!.file,
      hint: `renew ${left.length > 1 ? 'them' : 'it'} with the ${kept} CA (${renew}), restart what it names, then ${dropped === 'old' ? 'finish' : 'abort'}`,
    });
  }
  const writes = editAllTrust(trustHolders(layout, snapshot, options.apiServices), perCa(pairs, (bundle, pair) => (holds(bundle, pair[dropped].cert) ? without(bundle, pair[dropped].cert) : undefined)), snapshot);
  writes.push(...clusterSigner(layout, snapshot, pairs, (p) => p[kept]));
  if (state.serviceAccount) {
    const sa = saKeysIn(snapshot, layout.signing.certDir);
    for (const file of copiesOf(layout, snapshot, 'sa.pub')) writes.push({ path: file, data: pemOfKeys([sa[kept]]), mode: 0o600 });
  }
  return writes;
}

function finish(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, now: Date): Phase {
  const writes = keepOnly(layout, snapshot, state, options, 'new');
  writes.push(...archiveRotation(layout, snapshot, state, 'old', options.purge ?? false, now));
  const notes = [
    ...(state.cas.includes('ca') ? [`after the restarts: ${ROOT_CA_NOTE}; clients outside the cluster need the new ca.crt (every kubeconfig kpki manages already has it)`] : []),
    ...(state.serviceAccount ? ['tokens signed with the old service-account key are now rejected: restart pods that still hold one, recreate legacy token Secrets'] : []),
  ];
  return { writes, notes, next: undefined };
}

async function abort(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, now: Date): Promise<Phase> {
  if (state.phase === 'reissued') return reissue(layout, snapshot, state, options, now, true);
  return { writes: keepOnly(layout, snapshot, state, options, 'old'), notes: ['the rotation is undone: the old CAs sign and are the only ones trusted'], next: undefined };
}

/** Each rotated file's state against what the phase wants. */
function status(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions): RotationFileState[] {
  const certDir = layout.signing.certDir;
  const pairs = pairsIn(layout, snapshot, state);
  const files: RotationFileState[] = [];
  const nodeOf = (file: string) => layout.locations.find((l) => file.startsWith(`${l.certDir}${path.sep}`) || path.dirname(file) === l.kubeconfigDir || (l.kubeletPki && file.startsWith(l.kubeletPki)))?.node;
  const begun = state.phase === 'begun';
  const record = (file: string, stateText: string, expected: string) => files.push({ node: nodeOf(file), file, state: stateText, expected });
  // Trust files: the order of old and new tells the phase.
  for (const holder of trustHolders(layout, snapshot, options.apiServices)) {
    editAllTrust([holder], perCa(pairs, (bundle, pair) => {
      const label = bundle.filter((c) => sameAuthority(c, pair.old.cert) || sameAuthority(c, pair.new.cert)).map((c) => (sameAuthority(c, pair.old.cert) ? 'old' : 'new')).join('+');
      if (label) record(holder.file, `${pair.old.name} ${label}`, `${pair.old.name} ${begun ? 'old+new' : 'new+old'}`);
      return undefined;
    }), snapshot);
  }
  for (const pair of pairs) {
    for (const file of copiesOf(layout, snapshot, `${pair.old.file}.key`)) {
      const key = parseKey(snapshot.get(file)!, file);
      record(file, sameKeyPair(key, publicKeyObject(pair.old.cert)) ? 'old' : sameKeyPair(key, publicKeyObject(pair.new.cert)) ? 'new' : 'other', begun ? 'old' : 'new');
    }
  }
  for (const location of layout.locations) {
    for (const entry of renewableEntries(layout).filter((e) => e.kind === 'certificate' && state.cas.includes(e.issuer))) {
      const crt = entry.files(location)?.[0];
      const data = crt && snapshot.get(crt);
      if (!data) continue;
      const pair = pairs.find((p) => p.old.name === entry.issuer)!;
      const cert = parseCertificate(data, crt!);
      record(crt!, isSignedBy(cert, pair.new.cert) ? 'new' : isSignedBy(cert, pair.old.cert) ? 'old' : 'other', begun ? 'old' : 'new');
    }
  }
  if (state.serviceAccount) {
    const sa = saKeysIn(snapshot, certDir);
    for (const file of copiesOf(layout, snapshot, 'sa.key')) {
      const key = parseKey(snapshot.get(file)!, file);
      record(file, sameKeyPair(key, createPublicKey(sa.new)) ? 'new' : sameKeyPair(key, createPublicKey(sa.old)) ? 'old' : 'other', begun ? 'old' : 'new');
    }
  }
  return files;
}

/** The files' own account of a rotation whose record is gone: trust files holding two CAs of one subject. */
interface Unrecorded {
  state: RotationState & { file: string };
  /** What shows it, for messages. */
  evidence: string;
  /** The snapshot with the rotation's material completed from the files in place, where it was gone. */
  snapshot: Observed;
}

/** The start of a rotation the files show but no record does (see unrecordedRotation): its material may lack a key. */
const UNRECORDED = 'unrecorded';

const PUBLIC_KEY_PEM = /-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----\n?/g;

/**
 * A rotation the trust files show (two CAs of one subject in a shared CA file, two keys in sa.pub)
 * when kpki-rotation.json does not record one. Old and new are told apart by the rotation's
 * material when it is there, else by age; the phase by which of them the key beside it matches.
 * Material that is gone is taken from the files in place: both certificates, and the key that
 * signs now; the other key is then missing, and only the steps that need it refuse.
 */
function unrecordedRotation(layout: Layout, snapshot: Observed): Unrecorded | undefined {
  const certDir = layout.signing.certDir;
  const completed = new Map(snapshot);
  const fill = (file: string, data: string | Buffer | undefined) => {
    if (data !== undefined && !completed.has(file)) completed.set(file, Buffer.from(data));
  };
  const cas: string[] = [];
  const phases = new Set<RotationPhase>();
  let evidence: string | undefined;
  for (const entry of layout.profile.certificates.filter((c) => !c.issuer)) {
    const certFile = path.join(certDir, `${entry.file}.crt`);
    const data = snapshot.get(certFile);
    const bundle = data ? parseCertificates(data, certFile) : [];
    if (bundle.length !== 2 || !sameSubject(bundle[0]!, bundle[1]!) || sameAuthority(bundle[0]!, bundle[1]!)) continue;
    const recordedOld = snapshot.get(material(certDir, 'old', `${entry.file}.crt`));
    const oldCert = recordedOld ? bundle.find((c) => sameAuthority(c, parseCertificate(recordedOld, certFile))) : undefined;
    const [older, newer] = oldCert ? [oldCert, bundle.find((c) => c !== oldCert)!] : [...bundle].sort((a, b) => certificateFacts(a).notBefore.getTime() - certificateFacts(b).notBefore.getTime());
    const keyData = snapshot.get(path.join(certDir, `${entry.file}.key`));
    const signer = keyData && sameKeyPair(parseKey(keyData, certFile), publicKeyObject(newer!)) ? 'new' : 'old';
    phases.add(signer === 'new' ? 'reissued' : 'begun');
    cas.push(entry.name);
    evidence ??= `${certFile} holds two CAs of CN=${certificateFacts(older!).commonName}`;
    fill(material(certDir, 'old', `${entry.file}.crt`), certificatePem(older!));
    fill(material(certDir, 'new', `${entry.file}.crt`), certificatePem(newer!));
    fill(material(certDir, signer, `${entry.file}.key`), keyData);
  }
  const saPub = path.join(certDir, 'sa.pub');
  const saKeys = snapshot.get(saPub)?.toString('utf8').match(PUBLIC_KEY_PEM) ?? [];
  const serviceAccount = saKeys.length === 2;
  if (serviceAccount) evidence ??= `${saPub} holds two public keys`;
  // Without a CA to tell the phase, only the rotation's own copies of the SA keys can.
  if (serviceAccount && !phases.size) {
    const oldKey = snapshot.get(material(certDir, 'old', 'sa.key'));
    const saKey = snapshot.get(path.join(certDir, 'sa.key'));
    if (oldKey && saKey) phases.add(oldKey.equals(saKey) ? 'begun' : 'reissued');
  }
  if (!evidence) return undefined;
  if (phases.size !== 1) {
    throw new KpkiError(ErrorCode.StaleFile, `${path.join(certDir, ROTATION_FILE)} records no rotation, but ${evidence}, and the files do not tell which phase it is in`, {
      subject: path.join(certDir, ROTATION_FILE),
      hint: 'restore kpki-rotation.json from a backup; kpki changes nothing until then',
    });
  }
  const phase = [...phases][0]!;
  if (serviceAccount) {
    const saKey = snapshot.get(path.join(certDir, 'sa.key'));
    const signing = phase === 'begun' ? 'old' : 'new';
    fill(material(certDir, signing, 'sa.key'), saKey);
    // sa.pub lists the signing key first.
    fill(material(certDir, signing === 'old' ? 'new' : 'old', 'sa.key'), saKeys[1]);
  }
  return { state: { phase, cas, serviceAccount, startedAt: UNRECORDED, file: path.join(certDir, ROTATION_FILE) }, evidence, snapshot: completed };
}

function unrecordedError(unrecorded: Unrecorded): KpkiError {
  const { state, evidence } = unrecorded;
  const hint =
    state.phase === 'begun'
      ? 'run kpki ca rotate abort --recover to go back to the old CAs alone (or reissue --recover to carry on); kpki ca rotate status --recover shows each file'
      : 'run kpki ca rotate finish --recover to keep the new CAs once every leaf is signed by them (kpki ca rotate status --recover shows each file), or abort --recover';
  return new KpkiError(ErrorCode.StaleFile, `${state.file} records no rotation, but ${evidence}: the files show a rotation in phase ${state.phase}`, { subject: state.file, hint });
}

/**
 * The rotation under way: as recorded, else — with --recover — as the files show it (see
 * unrecordedRotation). An overlap no record explains is an error naming the way out.
 */
function rotationUnderWay(layout: Layout, observed: Observed, options: RotateOptions): { state: (RotationState & { file: string }) | undefined; snapshot: Observed } {
  const recorded = rotationIn(observed, layout.signing.certDir);
  if (recorded) return { state: recorded, snapshot: observed };
  const unrecorded = unrecordedRotation(layout, observed);
  if (!unrecorded) return { state: undefined, snapshot: observed };
  if (!options.recover || options.step === 'begin') throw unrecordedError(unrecorded);
  return { state: unrecorded.state, snapshot: unrecorded.snapshot };
}

/**
 * A node just added to a cluster mid-rotation, brought into the phase: its trust files,
 * controller-manager signer file and SA public keys as the phase wants them (its keys and leaves
 * came from the shared set, which is in the phase already). `kpki node add` runs it holding the
 * shared cert dir's lock, as every rotation step takes it, so that no step runs in between.
 */
export async function joinRotation(options: LayoutOptions, node: string): Promise<string[]> {
  const layout = await observeLayout(options);
  const snapshot = await observeLayoutFiles(layout);
  const state = rotationIn(snapshot, layout.signing.certDir);
  const location = layout.locations.find((l) => l.node === node);
  if (!state || !location) return [];
  const onlyNode: Layout = { ...layout, locations: [location], kubeconfigs: [] };
  const writes = signerSideFiles(onlyNode, snapshot, state, pairsIn(layout, snapshot, state), state.phase === 'begun', undefined);
  if (writes.length) await withWriteLock(location.certDir, () => applyChanges(location.certDir, writes));
  return writes.map((w) => w.path);
}

/**
 * `kpki ca rotate`: replaces CA keys (and the service-account key) in phases with overlapping
 * trust — begin (trust old+new, old signs), reissue (new signs, trust new+old), finish (trust new
 * only, old keys archived) — or abort back. Each phase is one journaled change followed by the
 * restarts it names.
 */
export async function rotateCa(options: RotateOptions, verifyLocation?: VerifyLocation, gate?: PhaseGate): Promise<RotateResult> {
  if (!(ROTATE_STEPS as readonly string[]).includes(options.step)) throw badFlag('STEP', `"${options.step}" is not one of ${ROTATE_STEPS.join(', ')}`);
  const observed = await observeLayout(options);
  const now = options.now ?? new Date();
  const certDir = observed.signing.certDir;
  const result = (layout: Layout, phase: RotateResult['phase'], state: Pick<RotationState, 'cas' | 'serviceAccount'>, files: string[], notes: string[], extra: Partial<RotateResult> = {}): RotateResult => ({
    step: options.step,
    phase,
    cas: state.cas,
    serviceAccount: state.serviceAccount,
    dryRun: options.dryRun ?? false,
    files,
    restart: restartPlan(layout, files),
    notes,
    status: undefined,
    halfApplied: undefined,
    resumed: undefined,
    ...extra,
  });
  if (options.step === 'status') {
    const { state, snapshot } = rotationUnderWay(observed, await observeLayoutFiles(observed, options.apiServices), options);
    await gate?.('status', observed, snapshot, state);
    if (!state) return result(observed, 'none', { cas: [], serviceAccount: false }, [], ['no rotation is under way'], { status: [], halfApplied: false });
    const files = status(observed, snapshot, state, options);
    return result(observed, state.phase, state, [], [], { status: files, halfApplied: files.some((f) => f.state !== f.expected) });
  }
  const resumed = async (completed: string[], layout: Layout) => {
    const snapshot = await observeLayoutFiles(layout);
    const state = rotationIn(snapshot, certDir);
    if (!state && !unrecordedRotation(layout, snapshot)) await removeRotationMaterial(certDir);
    return result(layout, state?.phase ?? 'none', state ?? { cas: [], serviceAccount: false }, completed, ['completed an interrupted step; run the step you meant again if it was another one'], { resumed: completed });
  };
  return underLock(observed, options.dryRun, resumed, async (layout) => {
    // Every phase decides from one reading of the tree, taken under the lock.
    const { state, snapshot } = rotationUnderWay(layout, await observeLayoutFiles(layout, options.apiServices), options);
    // Material left by a rotation that is over (its removal interrupted).
    if (!state) await removeRotationMaterial(certDir);
    const expect = (want: RotationPhase | undefined, hint: string) => {
      if ((state?.phase ?? undefined) !== want) {
        throw new KpkiError(ErrorCode.StaleFile, state ? `a rotation is in phase ${state.phase}` : 'no rotation is under way', { subject: state?.file ?? path.join(certDir, ROTATION_FILE), hint });
      }
    };
    let phase: Phase;
    switch (options.step) {
      case 'begin':
        expect(undefined, `continue it (kpki ca rotate ${state?.phase === 'begun' ? 'reissue' : 'finish'}) or abort it`);
        await gate?.(options.step, layout, snapshot, state);
        phase = await begin(layout, snapshot, options, now, verifyLocation);
        break;
      case 'reissue':
        expect('begun', state ? 'run kpki ca rotate finish (or abort)' : 'start one with kpki ca rotate begin');
        await gate?.(options.step, layout, snapshot, state);
        await preflight(layout, verifyLocation);
        phase = await reissue(layout, snapshot, state!, options, now, false);
        break;
      case 'finish':
        expect('reissued', state ? 'run kpki ca rotate reissue first' : 'start one with kpki ca rotate begin');
        await gate?.(options.step, layout, snapshot, state);
        await preflight(layout, verifyLocation);
        phase = finish(layout, snapshot, state!, options, now);
        break;
      default:
        if (!state) throw new KpkiError(ErrorCode.StaleFile, 'no rotation is under way', { subject: path.join(certDir, ROTATION_FILE), hint: 'nothing to abort' });
        await gate?.(options.step, layout, snapshot, state);
        phase = await abort(layout, snapshot, state, options, now);
    }
    const writes = [...phase.writes, rotationWrite(certDir, phase.next)];
    if (!options.dryRun) {
      await applyChanges(certDir, writes);
      if (!phase.next) await removeRotationMaterial(certDir);
    }
    const changed = phase.writes.filter((w) => !w.path.includes(`${path.sep}${ROTATION_DIR}`)).map((w) => w.path);
    const selection = phase.next ?? state ?? { cas: [], serviceAccount: false };
    const done = result(layout, phase.next?.phase ?? 'none', selection, changed, phase.notes);
    // Where kpki wrote a signer file, the controller manager must sign from it (see SIGNER_CERT), named as on the node.
    const signerOf = (node: string) => {
      const location = layout.locations.find((l) => l.node === node);
      return location && changed.includes(path.join(location.certDir, SIGNER_CERT)) ? path.join(location.certDirOnNode, SIGNER_CERT) : undefined;
    };
    const restart = done.restart.map((r) => (r.component === 'kube-controller-manager' && signerOf(r.node) ? { ...r, flags: { 'cluster-signing-cert-file': signerOf(r.node)! } } : r));
    return { ...done, restart };
  });
}

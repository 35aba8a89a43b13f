import type { FileWrite, Observed } from '../model/files.js';
import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { parseDuration } from '../model/duration.js';
import type { Layout, LayoutOptions } from '../model/layout.js';
import { caEntryName } from '../model/profile.js';
import {
  rotationMaterial,
  rotationRecordText,
  tokenKeyRef,
  ROTATION_ARCHIVE_DIR,
  ROTATION_FILE,
  UNRECORDED,
  type RotationFileState,
  type RotationPhase,
  type RotationState,
} from '../model/rotation.js';
import { DEFAULTS } from '../model/settings.js';
import { resolveCertificate } from '../model/spec.js';
import { certificateFacts, certificatePem, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import type { KeyType } from '../pki/key-types.js';
import { keyTypeOf, parsePublicKey, privateKeyPem, publicKeyOf, publicKeyPem, type KeyObject } from '../pki/keys.js';
import { isSignedBy, sameAuthority } from '../pki/match.js';
import { parseCertificate, parseKey } from '../pki/pem.js';
import { authoritiesIn, decideRenewalOf, renewableEntries } from './renew.js';
import type { Restart } from './restart.js';
import { writeSteps, type Day2Step, type MadeMaterial } from './steps.js';
import { SIGNER_CERT, type RotateStep } from '../model/rotation.js';
import {
  editAllTrust,
  ROOT_CA_NOTE,
  signingAuthority,
  tokenKeyFor,
  tokenSettingsWrite,
  trustHolders,
  type HeldCa,
  type TokenCas,
  type TrustEdit,
  type TrustHolder,
} from './trust.js';
import { rotatedKeyUri } from '../model/pkcs11-uri.js';
import type { SigningKey } from '../pki/signing-key.js';

export interface RotateOptions extends LayoutOptions {
  step: RotateStep;
  /** For begin: CAs to rotate (`cluster,front-proxy,etcd` or entry names; `none` with serviceAccount); default all. */
  cas?: string[];
  /** For begin: rotate the service-account signing key too. */
  serviceAccount?: boolean;
  /** For begin: lifetime of the new CAs (default 10 years). */
  validity?: string;
  /** For begin: the key algorithm of the new CAs, SA key and every reissued leaf (default: each keeps the old one's). */
  keyType?: KeyType;
  /** For finish: delete the old keys instead of archiving them. */
  purge?: boolean;
  /** For abort and finish: take the phase from the trust files when the rotation's record is gone. */
  recover?: boolean;
  /** APIService manifests whose caBundle holds a rotated CA. */
  apiServices?: string[];
  dryRun?: boolean;
  now?: Date;
}

export interface RotateResult {
  step: RotateStep;
  /** The phase the rotation is in after this step; `none` when no rotation is under way. */
  phase: RotationPhase | 'none';
  cas: string[];
  serviceAccount: boolean;
  /** The key algorithm the rotation moves every key to (`--key-type`); undefined when each keeps its own. */
  keyType?: KeyType;
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

interface CaPair {
  name: string;
  file: string;
  cert: x509.X509Certificate;
  /** Undefined when a recovered rotation (see recoveredRotation) has only the certificate of this side, or its token was not opened. */
  key: SigningKey | undefined;
  keyFile: string;
  /** The PKCS#11 URI of this side's key, when a token holds it (keyFile is then the reference file). */
  tokenUri?: string;
}

/** The service-account key pair's files under a cert dir, as the profile names them. */
export function saFile(layout: Layout, part: 'key' | 'pub'): string {
  const pair = layout.profile.keyPairs[0];
  if (!pair)
    throw new KpkiError(ErrorCode.MissingFile, `profile ${layout.profile.name} has no service-account key pair`, {
      subject: layout.profile.name,
    });
  return `${pair.file}.${part}`;
}

const missingMaterial = (file: string, what: string) =>
  new KpkiError(ErrorCode.MissingFile, `${file}: the rotation's ${what} is missing`, {
    subject: file,
    hint: 'restore it from a backup; without it this step cannot be carried out',
  });

function pairIn(
  snapshot: Observed,
  certDir: string,
  side: 'old' | 'new',
  name: string,
  file: string,
  recovered: boolean,
  tokens?: TokenCas,
): CaPair {
  const crt = rotationMaterial(certDir, side, `${file}.crt`);
  const keyFile = rotationMaterial(certDir, side, `${file}.key`);
  const [crtData, keyData] = [snapshot.get(crt), snapshot.get(keyFile)];
  if (!crtData) throw missingMaterial(crt, `${side} ${name}`);
  const ref = rotationMaterial(certDir, side, tokenKeyRef(file));
  const tokenUri = snapshot.get(ref)?.toString('utf8').trim();
  if (tokenUri) {
    // The key is in a token: signed with when the step opened it (status and the gates only read certificates).
    const cert = parseCertificate(crtData, crt);
    return { name, file, cert, key: tokens && tokenKeyFor(tokens, tokenUri, [cert], crt), keyFile: ref, tokenUri };
  }
  // A recorded rotation keeps both keys until it ends: one missing is reported at once.
  if (!keyData && !recovered) throw missingMaterial(keyFile, `${side} ${name} key`);
  return { name, file, cert: parseCertificate(crtData, crt), key: keyData && parseKey(keyData, keyFile), keyFile };
}

/** The key a phase signs with: refused when the rotation no longer has it. */
function signingKey(pair: CaPair, side: 'old' | 'new'): KeyObject {
  if (!pair.key || pair.tokenUri) throw missingMaterial(pair.keyFile, `${side} ${pair.name} key`);
  return pair.key as KeyObject;
}

/** The old and new material of every CA the rotation covers. */
export function pairsIn(layout: Layout, snapshot: Observed, state: RotationState, tokens?: TokenCas): { old: CaPair; new: CaPair }[] {
  const certDir = layout.signing.certDir;
  return state.cas.map((name) => {
    const file = layout.profile.certificates.find((c) => c.name === name)!.file;
    const recovered = state.startedAt === UNRECORDED;
    return {
      old: pairIn(snapshot, certDir, 'old', name, file, recovered, tokens),
      new: pairIn(snapshot, certDir, 'new', name, file, recovered, tokens),
    };
  });
}

/** The PKCS#11 URIs of the rotation's keys in tokens (each side's reference file), which its steps sign with or drop. */
export function rotationTokenUris(layout: Layout, snapshot: Observed): string[] {
  return layout.profile.certificates
    .filter((c) => !c.issuer)
    .flatMap((c) =>
      (['old', 'new'] as const).map((side) => snapshot.get(rotationMaterial(layout.signing.certDir, side, tokenKeyRef(c.file)))),
    )
    .flatMap((data) => (data ? [data.toString('utf8').trim()] : []));
}

/** kpki-pkcs11.json naming each token side's key as the key of its CA (the key kpki renew and cert issue sign with). */
function tokenSideSettings(tokens: TokenCas | undefined, sides: CaPair[]): FileWrite[] {
  return tokenSettingsWrite(tokens, new Map(sides.filter((s) => s.tokenUri).map((s) => [s.name, s.tokenUri!])));
}

/** The SA key pair's public halves, old and new. */
export function saKeysIn(layout: Layout, snapshot: Observed): { old: KeyObject; new: KeyObject } {
  const certDir = layout.signing.certDir;
  const read = (side: 'old' | 'new') => {
    const file = rotationMaterial(certDir, side, saFile(layout, 'key'));
    const data = snapshot.get(file);
    if (!data) throw missingMaterial(file, `${side} service-account key`);
    // A recovered rotation may know a side only by its public key (from sa.pub).
    return data.includes('PUBLIC KEY-----') ? parsePublicKey(data) : parseKey(data, file);
  };
  return { old: read('old'), new: read('new') };
}

function signerCopies(layout: Layout, snapshot: Observed, ca: CaPair): FileWrite[] {
  const cert = ca.cert;
  return copiesOf(layout, snapshot, `${ca.file}.key`).map((keyFile) => ({
    path: path.join(path.dirname(keyFile), SIGNER_CERT),
    data: certificatePem(cert),
    mode: 0o644,
  }));
}

/** The signer copy for the cluster CA's pair, when the rotation covers it. */
function clusterSigner(
  layout: Layout,
  snapshot: Observed,
  pairs: { old: CaPair; new: CaPair }[],
  pick: (pair: { old: CaPair; new: CaPair }) => CaPair,
): FileWrite[] {
  const cluster = pairs.find((p) => p.old.name === 'ca');
  return cluster ? signerCopies(layout, snapshot, pick(cluster)) : [];
}

/** Every location's copy of a file under the cert dir (CA keys on control planes, sa.pub, sa.key). */
export function copiesOf(layout: Layout, snapshot: Observed, relative: string): string[] {
  return layout.locations.map((l) => path.join(l.certDir, relative)).filter((f) => snapshot.has(f));
}

const holds = (bundle: x509.X509Certificate[], ca: x509.X509Certificate) => bundle.some((c) => sameAuthority(c, ca));
const without = (bundle: x509.X509Certificate[], ca: x509.X509Certificate) => bundle.filter((c) => !sameAuthority(c, ca));

/** A trust edit applied, per rotated CA, to the holders of that CA's trust (it reads certificates only). */
export function perCa<P extends { old: Pick<CaPair, 'name' | 'cert'>; new: Pick<CaPair, 'cert'> }>(
  pairs: P[],
  edit: (bundle: x509.X509Certificate[], pair: P) => x509.X509Certificate[] | undefined,
): TrustEdit {
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
  return keys.map((k) => publicKeyPem(publicKeyOf(k))).join('');
}

/** Signing material for re-issuing leaves: the given pairs, with trust files holding both CAs. */
function signers(base: Map<string, HeldCa>, pairs: { signer: CaPair; other: CaPair }[]): Map<string, HeldCa> {
  const cas = new Map(base);
  for (const { signer, other } of pairs) {
    const ca = base.get(signer.name)!;
    cas.set(signer.name, { ...ca, cert: signer.cert, key: signer.key!, bundle: [signer.cert, other.cert] });
  }
  return cas;
}

/** Re-signs every leaf and kubeconfig under the rotated CAs with the given signers. */
function reissueLeaves(
  layout: Layout,
  snapshot: Observed,
  state: RotationState,
  cas: Map<string, HeldCa>,
  keyTypes: ReadonlyMap<string, KeyType> | undefined,
  now: Date,
  dryRun: boolean,
): Day2Step[] {
  const names = renewableEntries(layout)
    .filter((e) => state.cas.includes(e.issuer))
    .map((e) => e.name);
  const validity =
    parseDuration(layout.record?.data.settings.certValidity ?? DEFAULTS.certValidity) ?? parseDuration(DEFAULTS.certValidity)!;
  const { steps, signers } = decideRenewalOf(
    layout,
    { names, cas, sanPlan: { sans: [], entries: [] }, csrOnly: false, csrDir: '', key: 'auto', keyTypes, validity, now, dryRun },
    snapshot,
  );
  // A dry run lists the phase's trust and key files, not the leaves (as kpki renew --dry-run lists those).
  return dryRun ? [] : [{ action: 'renew', steps, signers }];
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

/** The record of the rotation's next phase, written in the same set as the phase's files. */
export function rotationRecordWrite(certDir: string, state: RotationState | undefined): FileWrite {
  return { path: path.join(certDir, ROTATION_FILE), data: rotationRecordText(state), mode: 0o644 };
}

/** What one phase decided: the files it writes, what to tell the user, and the rotation's state after it (undefined once over). */
export interface Phase {
  /** What the phase writes, rendered by plan/render.ts renderDay2Steps (the rotation's record last). */
  steps: Day2Step[];
  notes: string[];
  next: RotationState | undefined;
  /** PKCS#11 URIs of token keys the phase retires: deleted once its files are written. */
  dropTokenKeys?: string[];
}

function begin(layout: Layout, snapshot: Observed, options: RotateOptions, now: Date, tokens?: TokenCas): Phase {
  const certDir = layout.signing.certDir;
  const cas = caSelection(layout, options);
  const serviceAccount = options.serviceAccount ?? false;
  const everyCa = layout.profile.certificates.filter((c) => !c.issuer).map((c) => c.name);
  // One algorithm per cluster (its settings' keyType): a CA left out would keep leaves of the old one.
  if (options.keyType && everyCa.some((name) => !cas.includes(name)))
    throw badFlag('--key-type', `changes every key's algorithm, so it rotates every CA (${everyCa.join(', ')})`, 'leave out --ca');
  const validity = parseDuration(options.validity ?? DEFAULTS.caValidity);
  if (validity === undefined || validity <= 0) throw badFlag('--validity', `"${options.validity}" is not a duration`, 'e.g. 10y');
  const authorities = authoritiesIn(layout, snapshot, tokens);
  const steps: Day2Step[] = [];
  const olds: CaPair[] = [];
  for (const name of cas) {
    const old = signingAuthority(authorities, name, certDir);
    if (old.bundle.length > 1)
      throw new KpkiError(ErrorCode.StaleFile, `${old.certFile} holds ${old.bundle.length} certificates`, {
        subject: old.certFile,
        hint: 'a rotation starts from one CA certificate per trust file: remove the extra ones first',
      });
    const entry = layout.profile.certificates.find((c) => c.name === name)!;
    const keyType = options.keyType ?? keyTypeOf(publicKeyObject(old.cert)) ?? DEFAULTS.keyType;
    const spec = resolveCertificate(
      layout.profile.policy,
      { ...entry, commonName: certificateFacts(old.cert).commonName },
      (t) => [t],
      { caValidity: validity, certValidity: validity, keyType },
      entry.file,
    );
    // A key in a token stays there: the rotation keeps its URI, and makes the new key in the same token under a label of its own.
    const tokenUri = tokens?.uris.get(name);
    const keyName = tokenUri ? tokenKeyRef(entry.file) : `${entry.file}.key`;
    olds.push({ name, file: entry.file, cert: old.cert, key: old.key, keyFile: rotationMaterial(certDir, 'old', keyName), tokenUri });
    steps.push(
      ...writeSteps([
        { path: rotationMaterial(certDir, 'old', `${entry.file}.crt`), data: certificatePem(old.cert), mode: 0o644 },
        tokenUri
          ? { path: rotationMaterial(certDir, 'old', keyName), data: `${tokenUri}\n`, mode: 0o644 }
          : { path: rotationMaterial(certDir, 'old', keyName), data: privateKeyPem(old.key as KeyObject), mode: 0o600 },
      ]),
      // Same subject: everything that names the issuer (leaves, kubeadm's checks) keeps reading the same; keys and key ids tell them apart.
      {
        action: 'new-ca',
        name,
        spec,
        keepSubject: old.cert.subjectName,
        files: [rotationMaterial(certDir, 'new', `${entry.file}.crt`), rotationMaterial(certDir, 'new', keyName)],
        ...(tokenUri ? { tokenUri: rotatedKeyUri(tokenUri, name, now) } : {}),
      },
    );
  }
  // Old first: it still signs, and kubeadm reads only the first certificate next to the key.
  const withNew = (made: MadeMaterial) => olds.map((old) => ({ old, new: { cert: made.cas.get(old.name)!.certificate } }));
  steps.push({
    action: 'trust-edit',
    edit: (made) =>
      editAllTrust(
        trustHolders(layout, snapshot, options.apiServices),
        perCa(withNew(made), (bundle, pair) =>
          holds(bundle, pair.old.cert) && !holds(bundle, pair.new.cert) ? [...bundle, pair.new.cert] : undefined,
        ),
        snapshot,
      ),
  });
  steps.push(
    ...writeSteps(
      clusterSigner(
        layout,
        snapshot,
        olds.map((old) => ({ old, new: old })),
        (p) => p.old,
      ),
    ),
  );
  if (serviceAccount) {
    const keyFile = path.join(certDir, saFile(layout, 'key'));
    const keyData = snapshot.get(keyFile);
    if (!keyData) throw new KpkiError(ErrorCode.MissingFile, `${keyFile}: no service-account key to rotate`, { subject: keyFile });
    const old = parseKey(keyData, keyFile);
    const name = layout.profile.keyPairs[0]!.name;
    steps.push(
      ...writeSteps([{ path: rotationMaterial(certDir, 'old', saFile(layout, 'key')), data: privateKeyPem(old), mode: 0o600 }]),
      {
        action: 'new-key',
        name,
        keyType: options.keyType ?? keyTypeOf(publicKeyOf(old)) ?? DEFAULTS.keyType,
        file: rotationMaterial(certDir, 'new', saFile(layout, 'key')),
      },
      {
        action: 'trust-edit',
        edit: (made) =>
          copiesOf(layout, snapshot, saFile(layout, 'pub')).map((file) => ({
            path: file,
            data: pemOfKeys([old, made.keys.get(name)!]),
            mode: 0o600,
          })),
      },
    );
  }
  const next: RotationState = {
    phase: 'begun',
    cas,
    serviceAccount,
    startedAt: now.toISOString(),
    ...(options.keyType && { keyType: options.keyType }),
  };
  const notes = [
    ...(options.keyType
      ? [
          `the new CAs${serviceAccount ? ' and service-account key' : ''} are ${options.keyType}; reissue gives every leaf and kubeconfig a new ${options.keyType} key${serviceAccount ? '' : ' (the service-account key keeps its algorithm: add --service-account to change it too)'}`,
        ]
      : []),
    ...(cas.includes('ca') ? [`after the restarts: ${ROOT_CA_NOTE}, so they trust the new CA before kpki ca rotate reissue`] : []),
    'then run kpki ca rotate reissue',
  ];
  return { steps, notes, next };
}

/**
 * Trust files, CA key copies, the controller manager's signer file and SA keys of a layout as a
 * phase of both sides wants them: the signing side (old in begun, new in reissued) first.
 */
export function signerSideFiles(
  layout: Layout,
  snapshot: Observed,
  state: RotationState,
  pairs: { old: CaPair; new: CaPair }[],
  toOld: boolean,
  apiServices: string[] | undefined,
): FileWrite[] {
  const signingSide = toOld ? 'old' : 'new';
  const side = (pair: { old: CaPair; new: CaPair }) =>
    toOld ? { signer: pair.old, other: pair.new } : { signer: pair.new, other: pair.old };
  // The signer leads: kubeadm and the controller-manager's signer read only the first certificate next to the key.
  const signerFirst = (bundle: x509.X509Certificate[], pair: { old: CaPair; new: CaPair }) =>
    holds(bundle, pair.old.cert) || holds(bundle, pair.new.cert)
      ? [side(pair).signer.cert, side(pair).other.cert, ...without(without(bundle, pair.old.cert), pair.new.cert)]
      : undefined;
  const writes = editAllTrust(trustHolders(layout, snapshot, apiServices), perCa(pairs, signerFirst), snapshot);
  for (const pair of pairs) {
    for (const file of copiesOf(layout, snapshot, `${pair.old.file}.key`))
      writes.push({ path: file, data: privateKeyPem(signingKey(side(pair).signer, signingSide)), mode: 0o600 });
  }
  writes.push(...clusterSigner(layout, snapshot, pairs, (p) => side(p).signer));
  if (state.serviceAccount) {
    const sa = saKeysIn(layout, snapshot);
    const [signer, other] = toOld ? [sa.old, sa.new] : [sa.new, sa.old];
    if (signer.type !== 'private')
      throw missingMaterial(
        rotationMaterial(layout.signing.certDir, signingSide, saFile(layout, 'key')),
        `${signingSide} service-account key`,
      );
    for (const file of copiesOf(layout, snapshot, saFile(layout, 'key')))
      writes.push({ path: file, data: privateKeyPem(signer), mode: 0o600 });
    for (const file of copiesOf(layout, snapshot, saFile(layout, 'pub')))
      writes.push({ path: file, data: pemOfKeys([signer, other]), mode: 0o600 });
  }
  return writes;
}

function reissue(
  layout: Layout,
  snapshot: Observed,
  state: RotationState,
  options: RotateOptions,
  now: Date,
  toOld: boolean,
  tokens?: TokenCas,
): Phase {
  const pairs = pairsIn(layout, snapshot, state, tokens);
  const side = (pair: { old: CaPair; new: CaPair }) =>
    toOld ? { signer: pair.old, other: pair.new } : { signer: pair.new, other: pair.old };
  const writes = signerSideFiles(layout, snapshot, state, pairs, toOld, options.apiServices);
  writes.push(
    ...tokenSideSettings(
      tokens,
      pairs.map((p) => side(p).signer),
    ),
  );
  // A type-changing rotation gives each leaf a key of its signer's type: the new one forward, the old CA's back.
  const keyTypes = state.keyType
    ? new Map(pairs.map((p) => [p.old.name, toOld ? (keyTypeOf(publicKeyObject(p.old.cert)) ?? DEFAULTS.keyType) : state.keyType!]))
    : undefined;
  const leaves = reissueLeaves(
    layout,
    snapshot,
    state,
    signers(authoritiesIn(layout, snapshot, tokens), pairs.map(side)),
    keyTypes,
    now,
    options.dryRun ?? false,
  );
  // kpki signer (the CSR signer of a cluster whose CA key is in a token) loads the key once, at its start.
  const signerNote =
    tokens?.uris.has('ca') && state.cas.includes('ca')
      ? [
          `kpki signer signs with the cluster CA key it loaded when it started: restart it now, so that approved CSRs are signed by the ${toOld ? 'old' : 'new'} CA (the controller manager's signing gate of the next step checks it)`,
        ]
      : [];
  const notes = toOld
    ? [
        ...signerNote,
        ...(state.keyType ? ["every leaf and kubeconfig has a new key of its old CA's algorithm again"] : []),
        'the old CAs sign again and trust still holds both; after the restarts, run kpki ca rotate abort once more to drop the new CAs',
      ]
    : [
        ...(state.serviceAccount
          ? ['service-account tokens are now signed with the new key; tokens signed with the old one keep working until finish']
          : []),
        ...signerNote,
        'after the restarts (and once workloads hold new tokens), run kpki ca rotate finish',
      ];
  return { steps: [...writeSteps(writes), ...leaves], notes, next: { ...state, phase: toOld ? 'begun' : 'reissued' } };
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
function archiveRotation(
  layout: Layout,
  snapshot: Observed,
  state: RotationState,
  side: 'old' | 'new',
  purge: boolean,
  now: Date,
): FileWrite[] {
  if (purge) return [];
  const certDir = layout.signing.certDir;
  const files = [
    ...state.cas.flatMap((name) => {
      const file = layout.profile.certificates.find((c) => c.name === name)!.file;
      return [`${file}.crt`, `${file}.key`];
    }),
    ...(state.serviceAccount ? [saFile(layout, 'key')] : []),
    ...state.cas.map((name) => tokenKeyRef(layout.profile.certificates.find((c) => c.name === name)!.file)),
  ];
  const writes: FileWrite[] = [];
  for (const file of files) {
    const data = snapshot.get(rotationMaterial(certDir, side, file));
    // A recovered rotation knows a lost SA key by its public half alone: nothing to archive.
    if (data && !(file.endsWith('.key') && data.includes('PUBLIC KEY-----')))
      writes.push({ path: path.join(certDir, ROTATION_ARCHIVE_DIR, now.toISOString().replace(/[:.]/g, '-'), file), data, mode: 0o600 });
  }
  return writes;
}

/** Ends a rotation on one side: the other side's CAs and SA key leave every trust file; refused while a leaf still needs them. */
function keepOnly(
  layout: Layout,
  snapshot: Observed,
  state: RotationState,
  options: RotateOptions,
  kept: 'old' | 'new',
  tokens?: TokenCas,
): FileWrite[] {
  const dropped = kept === 'old' ? 'new' : 'old';
  const pairs = pairsIn(layout, snapshot, state, tokens);
  const left = leavesSignedBy(
    layout,
    snapshot,
    pairs.map((p) => p[dropped]),
  );
  if (left.length) {
    // In either phase the key beside each CA is the side kept, so kpki renew signs them with it.
    const renew = `kpki renew ${[...new Set(left.map((l) => l.name))].join(' ')}`;
    throw new KpkiError(
      ErrorCode.StaleFile,
      `still signed by a${dropped === 'old' ? 'n old' : ' new'} CA: ${left.map((l) => l.file).join(', ')}`,
      {
        subject: left[0]!.file,
        hint: `renew ${left.length > 1 ? 'them' : 'it'} with the ${kept} CA (${renew}), restart what it names, then ${dropped === 'old' ? 'finish' : 'abort'}`,
      },
    );
  }
  const writes = editAllTrust(
    trustHolders(layout, snapshot, options.apiServices),
    perCa(pairs, (bundle, pair) => (holds(bundle, pair[dropped].cert) ? without(bundle, pair[dropped].cert) : undefined)),
    snapshot,
  );
  writes.push(...clusterSigner(layout, snapshot, pairs, (p) => p[kept]));
  writes.push(
    ...tokenSideSettings(
      tokens,
      pairs.map((p) => p[kept]),
    ),
  );
  if (state.serviceAccount) {
    const sa = saKeysIn(layout, snapshot);
    for (const file of copiesOf(layout, snapshot, saFile(layout, 'pub')))
      writes.push({ path: file, data: pemOfKeys([sa[kept]]), mode: 0o600 });
  }
  return writes;
}

/** The token keys of one side of a rotation (its reference files' URIs). */
const tokenKeysOf = (layout: Layout, snapshot: Observed, state: RotationState, side: 'old' | 'new') =>
  pairsIn(layout, snapshot, state).flatMap((p) => (p[side].tokenUri ? [p[side].tokenUri] : []));

/** Leaf certificates whose key is not of `keyType` (a node added while the rotation had begun keeps its first keys). */
function keysOfOtherType(layout: Layout, snapshot: Observed, keyType: KeyType): { file: string; name: string }[] {
  return layout.locations.flatMap((location) =>
    renewableEntries(layout)
      .filter((e) => e.kind === 'certificate')
      .flatMap((entry) => {
        const file = entry.files(location)?.[0];
        const data = file && snapshot.get(file);
        return data && keyTypeOf(publicKeyObject(parseCertificate(data, file))) !== keyType ? [{ file, name: entry.name }] : [];
      }),
  );
}

function finish(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, now: Date, tokens?: TokenCas): Phase {
  const writes = keepOnly(layout, snapshot, state, options, 'new', tokens);
  writes.push(...archiveRotation(layout, snapshot, state, 'old', options.purge ?? false, now));
  const otherType = state.keyType ? keysOfOtherType(layout, snapshot, state.keyType) : [];
  const notes = [
    ...(otherType.length
      ? [
          `still not ${state.keyType}: ${otherType.map((o) => o.file).join(', ')}; kpki renew ${[...new Set(otherType.map((o) => o.name))].join(' ')} gives them ${state.keyType} keys`,
        ]
      : []),
    ...(state.cas.includes('ca')
      ? [
          `after the restarts: ${ROOT_CA_NOTE}; clients outside the cluster need the new ca.crt (every kubeconfig kpki manages already has it)`,
        ]
      : []),
    ...(state.serviceAccount
      ? ['tokens signed with the old service-account key are now rejected: restart pods that still hold one, recreate legacy token Secrets']
      : []),
  ];
  // Token keys retired: kept in the token (their URIs archived) unless purged.
  return {
    steps: writeSteps(writes),
    notes,
    next: undefined,
    dropTokenKeys: options.purge ? tokenKeysOf(layout, snapshot, state, 'old') : [],
  };
}

function abort(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions, now: Date, tokens?: TokenCas): Phase {
  if (state.phase === 'reissued') return reissue(layout, snapshot, state, options, now, true, tokens);
  return {
    steps: writeSteps(keepOnly(layout, snapshot, state, options, 'old', tokens)),
    notes: ['the rotation is undone: the old CAs sign and are the only ones trusted'],
    next: undefined,
    // The new keys go, as their files would: nothing signed with them is left.
    dropTokenKeys: tokenKeysOf(layout, snapshot, state, 'new'),
  };
}

/**
 * The phase a rotation step moves to, decided from one reading of the layout (`snapshot`, as
 * rotationUnderWay completed it) and the rotation under way: refused when the rotation is not in
 * the phase the step starts from.
 */
export function decideRotation(
  step: Exclude<RotateStep, 'status'>,
  layout: Layout,
  snapshot: Observed,
  state: (RotationState & { file: string }) | undefined,
  options: RotateOptions,
  now: Date,
  tokens?: TokenCas,
): Phase {
  const phase = decidePhase(step, layout, snapshot, state, options, now, tokens);
  return { ...phase, steps: [...phase.steps, { action: 'record', write: rotationRecordWrite(layout.signing.certDir, phase.next) }] };
}

function decidePhase(
  step: Exclude<RotateStep, 'status'>,
  layout: Layout,
  snapshot: Observed,
  state: (RotationState & { file: string }) | undefined,
  options: RotateOptions,
  now: Date,
  tokens?: TokenCas,
): Phase {
  const certDir = layout.signing.certDir;
  const expect = (want: RotationPhase | undefined, hint: string) => {
    if ((state?.phase ?? undefined) !== want) {
      throw new KpkiError(ErrorCode.StaleFile, state ? `a rotation is in phase ${state.phase}` : 'no rotation is under way', {
        subject: state?.file ?? path.join(certDir, ROTATION_FILE),
        hint,
      });
    }
  };
  switch (step) {
    case 'begin':
      expect(undefined, `continue it (kpki ca rotate ${state?.phase === 'begun' ? 'reissue' : 'finish'}) or abort it`);
      return begin(layout, snapshot, options, now, tokens);
    case 'reissue':
      expect('begun', state ? 'run kpki ca rotate finish (or abort)' : 'start one with kpki ca rotate begin');
      return reissue(layout, snapshot, state!, options, now, false, tokens);
    case 'finish':
      expect('reissued', state ? 'run kpki ca rotate reissue first' : 'start one with kpki ca rotate begin');
      return finish(layout, snapshot, state!, options, now, tokens);
    case 'abort':
      if (!state)
        throw new KpkiError(ErrorCode.StaleFile, 'no rotation is under way', {
          subject: path.join(certDir, ROTATION_FILE),
          hint: 'nothing to abort',
        });
      return abort(layout, snapshot, state, options, now, tokens);
  }
}

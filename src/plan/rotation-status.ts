import type { Observed } from '../model/files.js';
import path from 'node:path';
import { ErrorCode, KpkiError } from '../errors.js';
import type { Layout } from '../model/layout.js';
import {
  rotationIn,
  rotationMaterial,
  ROTATION_FILE,
  UNRECORDED,
  type RotationFileState,
  type RotationPhase,
  type RotationState,
} from '../model/rotation.js';
import { certificateFacts, certificatePem, publicKeyObject } from '../pki/certificate.js';
import { publicKeyOf, sameKeyPair } from '../pki/keys.js';
import { isSignedBy, sameAuthority, sameSubject } from '../pki/match.js';
import { parseCertificate, parseCertificates, parseKey } from '../pki/pem.js';
import { renewableEntries } from './renew.js';
import { copiesOf, pairsIn, perCa, saFile, saKeysIn, type RotateOptions } from './rotation.js';
import { editAllTrust, trustHolders } from './trust.js';

/*
 * What the files say of a rotation: each file's state against the phase (`kpki ca rotate
 * status`), and the rotation they show when its record is gone (`--recover`).
 */

/** Each rotated file's state against what the phase wants. */
export function status(layout: Layout, snapshot: Observed, state: RotationState, options: RotateOptions): RotationFileState[] {
  const pairs = pairsIn(layout, snapshot, state);
  const files: RotationFileState[] = [];
  const nodeOf = (file: string) =>
    layout.locations.find(
      (l) =>
        file.startsWith(`${l.certDir}${path.sep}`) ||
        path.dirname(file) === l.kubeconfigDir ||
        (l.kubeletPki && file.startsWith(l.kubeletPki)),
    )?.node;
  const begun = state.phase === 'begun';
  const record = (file: string, stateText: string, expected: string) =>
    files.push({ node: nodeOf(file), file, state: stateText, expected });
  // Trust files: the order of old and new tells the phase.
  for (const holder of trustHolders(layout, snapshot, options.apiServices)) {
    editAllTrust(
      [holder],
      perCa(pairs, (bundle, pair) => {
        const label = bundle
          .filter((c) => sameAuthority(c, pair.old.cert) || sameAuthority(c, pair.new.cert))
          .map((c) => (sameAuthority(c, pair.old.cert) ? 'old' : 'new'))
          .join('+');
        if (label) record(holder.file, `${pair.old.name} ${label}`, `${pair.old.name} ${begun ? 'old+new' : 'new+old'}`);
        return undefined;
      }),
      snapshot,
    );
  }
  for (const pair of pairs) {
    for (const file of copiesOf(layout, snapshot, `${pair.old.file}.key`)) {
      const key = parseKey(snapshot.get(file)!, file);
      record(
        file,
        sameKeyPair(key, publicKeyObject(pair.old.cert)) ? 'old' : sameKeyPair(key, publicKeyObject(pair.new.cert)) ? 'new' : 'other',
        begun ? 'old' : 'new',
      );
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
    const sa = saKeysIn(layout, snapshot);
    for (const file of copiesOf(layout, snapshot, saFile(layout, 'key'))) {
      const key = parseKey(snapshot.get(file)!, file);
      record(
        file,
        sameKeyPair(key, publicKeyOf(sa.new)) ? 'new' : sameKeyPair(key, publicKeyOf(sa.old)) ? 'old' : 'other',
        begun ? 'old' : 'new',
      );
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

const PUBLIC_KEY_PEM = /-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----\n?/g;

/**
 * A rotation the trust files show (two CAs of one subject in a shared CA file, two keys in sa.pub)
 * when kpki-rotation.json does not record one. Old and new are told apart by the rotation's
 * material when it is there, else by age; the phase by which of them the key beside it matches.
 * Material that is gone is taken from the files in place: both certificates, and the key that
 * signs now; the other key is then missing, and only the steps that need it refuse.
 */
export function unrecordedRotation(layout: Layout, snapshot: Observed): Unrecorded | undefined {
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
    const recordedOld = snapshot.get(rotationMaterial(certDir, 'old', `${entry.file}.crt`));
    const oldCert = recordedOld ? bundle.find((c) => sameAuthority(c, parseCertificate(recordedOld, certFile))) : undefined;
    const [older, newer] = oldCert
      ? [oldCert, bundle.find((c) => c !== oldCert)!]
      : [...bundle].sort((a, b) => certificateFacts(a).notBefore.getTime() - certificateFacts(b).notBefore.getTime());
    const keyData = snapshot.get(path.join(certDir, `${entry.file}.key`));
    const signer = keyData && sameKeyPair(parseKey(keyData, certFile), publicKeyObject(newer!)) ? 'new' : 'old';
    phases.add(signer === 'new' ? 'reissued' : 'begun');
    cas.push(entry.name);
    evidence ??= `${certFile} holds two CAs of CN=${certificateFacts(older!).commonName}`;
    fill(rotationMaterial(certDir, 'old', `${entry.file}.crt`), certificatePem(older!));
    fill(rotationMaterial(certDir, 'new', `${entry.file}.crt`), certificatePem(newer!));
    fill(rotationMaterial(certDir, signer, `${entry.file}.key`), keyData);
  }
  const saPub = path.join(certDir, saFile(layout, 'pub'));
  const saKeys = snapshot.get(saPub)?.toString('utf8').match(PUBLIC_KEY_PEM) ?? [];
  const serviceAccount = saKeys.length === 2;
  if (serviceAccount) evidence ??= `${saPub} holds two public keys`;
  // Without a CA to tell the phase, only the rotation's own copies of the SA keys can.
  if (serviceAccount && !phases.size) {
    const oldKey = snapshot.get(rotationMaterial(certDir, 'old', saFile(layout, 'key')));
    const saKey = snapshot.get(path.join(certDir, saFile(layout, 'key')));
    if (oldKey && saKey) phases.add(oldKey.equals(saKey) ? 'begun' : 'reissued');
  }
  if (!evidence) return undefined;
  if (phases.size !== 1) {
    throw new KpkiError(
      ErrorCode.StaleFile,
      `${path.join(certDir, ROTATION_FILE)} records no rotation, but ${evidence}, and the files do not tell which phase it is in`,
      {
        subject: path.join(certDir, ROTATION_FILE),
        hint: 'restore kpki-rotation.json from a backup; kpki changes nothing until then',
      },
    );
  }
  const phase = [...phases][0]!;
  if (serviceAccount) {
    const saKey = snapshot.get(path.join(certDir, saFile(layout, 'key')));
    const signing = phase === 'begun' ? 'old' : 'new';
    fill(rotationMaterial(certDir, signing, saFile(layout, 'key')), saKey);
    // sa.pub lists the signing key first.
    fill(rotationMaterial(certDir, signing === 'old' ? 'new' : 'old', saFile(layout, 'key')), saKeys[1]);
  }
  return {
    state: { phase, cas, serviceAccount, startedAt: UNRECORDED, file: path.join(certDir, ROTATION_FILE) },
    evidence,
    snapshot: completed,
  };
}

function unrecordedError(unrecorded: Unrecorded): KpkiError {
  const { state, evidence } = unrecorded;
  const hint =
    state.phase === 'begun'
      ? 'run kpki ca rotate abort --recover to go back to the old CAs alone (or reissue --recover to carry on); kpki ca rotate status --recover shows each file'
      : 'run kpki ca rotate finish --recover to keep the new CAs once every leaf is signed by them (kpki ca rotate status --recover shows each file), or abort --recover';
  return new KpkiError(
    ErrorCode.StaleFile,
    `${state.file} records no rotation, but ${evidence}: the files show a rotation in phase ${state.phase}`,
    { subject: state.file, hint },
  );
}

/**
 * The rotation under way: as recorded, else — with --recover — as the files show it (see
 * unrecordedRotation). An overlap no record explains is an error naming the way out.
 */
export function rotationUnderWay(
  layout: Layout,
  observed: Observed,
  options: RotateOptions,
): { state: (RotationState & { file: string }) | undefined; snapshot: Observed } {
  const recorded = rotationIn(observed, layout.signing.certDir);
  if (recorded) return { state: recorded, snapshot: observed };
  const unrecorded = unrecordedRotation(layout, observed);
  if (!unrecorded) return { state: undefined, snapshot: observed };
  if (!options.recover || options.step === 'begin') throw unrecordedError(unrecorded);
  return { state: unrecorded.state, snapshot: unrecorded.snapshot };
}

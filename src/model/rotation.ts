import path from 'node:path';
import { badInput } from '../errors.js';
import { KEY_TYPES, type KeyType } from '../pki/key-types.js';

/** The steps of `kpki ca rotate`, in order. */
export const ROTATE_STEPS = ['begin', 'reissue', 'finish', 'abort', 'status'] as const;
export type RotateStep = (typeof ROTATE_STEPS)[number];

/** Next to the shared CAs: which rotation is under way and how far it got. */
export const ROTATION_FILE = 'kpki-rotation.json';
/** Under the shared cert dir: `old/` (what `abort` restores, `finish` archives) and `new/` (the incoming keys). */
export const ROTATION_DIR = 'rotation';
/** Under the shared cert dir: the retired side's keys, one directory per finished rotation. */
export const ROTATION_ARCHIVE_DIR = `${ROTATION_DIR}-archive`;

/**
 * Beside every CA key while a CA rotation is under way (and kept after it): the one certificate
 * matching that key, for kube-controller-manager's --cluster-signing-cert-file, which refuses a file
 * holding several.
 */
export const SIGNER_CERT = 'ca-signer.crt';

/** `startedAt` of a rotation the files show but no record does (plan/rotation-status.ts): its material may lack a key. */
export const UNRECORDED = 'unrecorded';

/** `begun`: trust holds old and new, old signs. `reissued`: new signs, trust still holds both. */
export type RotationPhase = 'begun' | 'reissued';

export interface RotationState {
  phase: RotationPhase;
  /** CA entry names being rotated. */
  cas: string[];
  serviceAccount: boolean;
  startedAt: string;
  /**
   * `--key-type`: the algorithm of the new CAs (and SA key) and of every key reissue makes; `finish`
   * records it in the cluster's settings. Absent when the rotation keeps each key's algorithm.
   */
  keyType?: KeyType;
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

/**
 * For a CA whose key a PKCS#11 token holds, the rotation keeps, instead of `<file>.key`, the
 * PKCS#11 URI of that side's key in `<file>.pkcs11-uri`: the key itself never leaves the token.
 */
export const tokenKeyRef = (file: string) => `${file}.pkcs11-uri`;

/** Where the rotation keeps one CA's (or the SA key's) old and new material. */
export const rotationMaterial = (certDir: string, side: 'old' | 'new', file: string) => path.join(certDir, ROTATION_DIR, side, file);

/** The rotation a record's bytes describe; undefined when there is no record or it says none is under way. */
export function parseRotationRecord(file: string, data: Buffer | undefined): (RotationState & { file: string }) | undefined {
  if (!data) return undefined;
  try {
    const state = JSON.parse(data.toString('utf8')) as RotationState | { phase: 'none' };
    if (state.phase === 'none') return undefined;
    const keyType = (state as RotationState).keyType;
    if (
      (state.phase === 'begun' || state.phase === 'reissued') &&
      Array.isArray(state.cas) &&
      (keyType === undefined || KEY_TYPES.includes(keyType))
    )
      return { ...state, file };
  } catch {
    // reported below
  }
  throw badInput(file, 'is not a kpki rotation record', 'restore it from a backup; kpki ca rotate status shows the state of each file');
}

/** The rotation recorded among a layout's files (read once, see store/layout.ts). */
export function rotationIn(files: ReadonlyMap<string, Buffer>, certDir: string): (RotationState & { file: string }) | undefined {
  const file = path.join(certDir, ROTATION_FILE);
  return parseRotationRecord(file, files.get(file));
}

/** The record's text for the next phase; `none` once the rotation is over, so ending one is a write like every other phase. */
export function rotationRecordText(state: RotationState | undefined): string {
  const record = state
    ? {
        phase: state.phase,
        cas: state.cas,
        serviceAccount: state.serviceAccount,
        startedAt: state.startedAt,
        ...(state.keyType && { keyType: state.keyType }),
      }
    : { phase: 'none' };
  return `${JSON.stringify(record, null, 2)}\n`;
}

import type { Observed } from '../plan/decide.js';
import path from 'node:path';
import { badInput } from '../errors.js';
import { readOptional, removeTree } from '../store/files.js';
import type { FileWrite } from '../plan/steps.js';

/** Next to the shared CAs: which rotation is under way and how far it got. */
export const ROTATION_FILE = 'kpki-rotation.json';
/** Under the shared cert dir: `old/` (what `abort` restores, `finish` archives) and `new/` (the incoming keys). */
export const ROTATION_DIR = 'rotation';

/** `begun`: trust holds old and new, old signs. `reissued`: new signs, trust still holds both. */
export type RotationPhase = 'begun' | 'reissued';

export interface RotationState {
  phase: RotationPhase;
  /** CA entry names being rotated. */
  cas: string[];
  serviceAccount: boolean;
  startedAt: string;
}

/** The rotation under way, as read from the record beside the shared CAs. */
export async function readRotation(certDir: string): Promise<(RotationState & { file: string }) | undefined> {
  const file = path.join(certDir, ROTATION_FILE);
  const data = await readOptional(file);
  return rotationOf(file, data);
}

/** The rotation in a snapshot (see day2/layout.ts). */
export function rotationIn(snapshot: Observed, certDir: string): (RotationState & { file: string }) | undefined {
  const file = path.join(certDir, ROTATION_FILE);
  return rotationOf(file, snapshot.get(file));
}

function rotationOf(file: string, data: Buffer | undefined): (RotationState & { file: string }) | undefined {
  if (!data) return undefined;
  try {
    const state = JSON.parse(data.toString('utf8')) as RotationState | { phase: 'none' };
    if (state.phase === 'none') return undefined;
    if ((state.phase === 'begun' || state.phase === 'reissued') && Array.isArray(state.cas)) return { ...state, file };
  } catch {
    // reported below
  }
  throw badInput(file, 'is not a kpki rotation record', 'restore it from a backup; kpki ca rotate status shows the state of each file');
}

/**
 * The record for the next phase, written in the same set as the phase's files; `none` once the
 * rotation is over, so ending one is a write like every other phase and never half done.
 */
export function rotationWrite(certDir: string, state: RotationState | undefined): FileWrite {
  const record = state ? { phase: state.phase, cas: state.cas, serviceAccount: state.serviceAccount, startedAt: state.startedAt } : { phase: 'none' };
  return { path: path.join(certDir, ROTATION_FILE), data: `${JSON.stringify(record, null, 2)}\n`, mode: 0o644 };
}

/** The rotation's key material once no rotation is under way: archived already (or purged), so removed. */
export async function removeRotationMaterial(certDir: string): Promise<void> {
  await removeTree(path.join(certDir, ROTATION_DIR));
}

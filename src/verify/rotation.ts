import { KpkiError } from '../errors.js';
import { rotateCa, type RotationFileState } from '../day2/rotate.js';
import { readRotation, type RotationPhase } from '../day2/rotation-state.js';

/** A `kpki ca rotate` under way in the verified PKI, as its record and the files say. */
export interface RotationFacts {
  /** The rotation record (kpki-rotation.json). */
  file: string;
  certDir: string;
  kubeconfigDir: string;
  /** Undefined when the record itself cannot be read. */
  phase: RotationPhase | undefined;
  cas: string[];
  serviceAccount: boolean;
  /** Files the phase's change has not reached (a half-applied phase). */
  lagging: RotationFileState[];
  /** Why the record or the files' states could not be read. */
  problem: string | undefined;
}

/**
 * Reads the rotation record next to the CAs and, when a rotation is under way, where each file
 * it covers stands (`kpki ca rotate status`); undefined when no rotation is under way.
 */
export async function loadRotation(certDir: string, kubeconfigDir: string): Promise<RotationFacts | undefined> {
  const base = { certDir, kubeconfigDir, cas: [], serviceAccount: false, lagging: [] };
  let state;
  try {
    state = await readRotation(certDir);
  } catch (error) {
    if (!(error instanceof KpkiError)) throw error;
    return { ...base, file: error.subject ?? certDir, phase: undefined, problem: error.message };
  }
  if (!state) return undefined;
  const found: RotationFacts = { ...base, file: state.file, phase: state.phase, cas: state.cas, serviceAccount: state.serviceAccount, problem: undefined };
  try {
    const status = await rotateCa({ step: 'status', certDir, kubeconfigDir });
    found.lagging = (status.status ?? []).filter((f) => f.state !== f.expected);
  } catch (error) {
    // Whatever stops status (missing rotation material, an unreadable file) is reported as not checked.
    found.problem = (error as Error).message;
  }
  return found;
}

import type { RotationFileState, RotationPhase } from '../model/rotation.js';

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

import { rotateCa as rotate, type RotateOptions, type RotateResult } from '../day2/rotate.js';
import { verify } from './verify.js';

/** `kpki ca rotate STEP`: every step that changes files first verifies each node kpki can check fully. */
export function rotateCa(options: RotateOptions): Promise<RotateResult> {
  return rotate(options, async (location) => (await verify(location)).findings);
}

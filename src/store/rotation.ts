import path from 'node:path';
import { parseRotationRecord, ROTATION_DIR, ROTATION_FILE, type RotationState } from '../model/rotation.js';
import { readOptional, removeTree } from './files.js';

/** The rotation under way, as read from the record beside the shared CAs. */
export async function readRotation(certDir: string): Promise<(RotationState & { file: string }) | undefined> {
  const file = path.join(certDir, ROTATION_FILE);
  return parseRotationRecord(file, await readOptional(file));
}

/** The rotation's key material once no rotation is under way: archived already (or purged), so removed. */
export function removeRotationMaterial(certDir: string): void {
  removeTree(path.join(certDir, ROTATION_DIR));
}

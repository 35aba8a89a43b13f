import { expect } from 'vitest';
import { KpkiError } from '../../src/errors.js';

/** The KpkiError a promise rejects with; fails the test if it resolves or throws anything else. */
export async function rejection(promise: Promise<unknown>): Promise<KpkiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(KpkiError);
    return error as KpkiError;
  }
  throw new Error('expected a KpkiError');
}

/** The KpkiError a function throws. */
export function thrown(run: () => unknown): KpkiError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KpkiError);
    return error as KpkiError;
  }
  throw new Error('expected a KpkiError');
}

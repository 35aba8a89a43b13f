import { createHash } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { acquireLock } from '../../src/store/lock.js';
import { tempDir } from '../support/tmp.js';

const DEAD_PID = '999999\n';
const TRIALS = 25;
const RUNS = 6;

/** Races RUNS acquirers on `dir`; returns the releases of those that got the lock and the errors of the rest. */
async function race(dir: string) {
  const outcomes = await Promise.allSettled(Array.from({ length: RUNS }, () => acquireLock(dir)));
  const winners = outcomes.filter((o): o is PromiseFulfilledResult<() => Promise<void>> => o.status === 'fulfilled').map((o) => o.value);
  const losers = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as KpkiError);
  return { winners, losers };
}

describe('the directory lock', () => {
  it(`of ${RUNS} runs that find the same dead owner, exactly one takes the lock over (${TRIALS} trials)`, async () => {
    const root = tempDir();
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = path.join(root, String(trial));
      await acquireLock(dir).then((release) => release());
      writeFileSync(path.join(dir, '.kpki.lock'), DEAD_PID);
      const { winners, losers } = await race(dir);
      expect(winners, `trial ${trial}`).toHaveLength(1);
      expect(losers.map((e) => e.code)).toEqual(Array(RUNS - 1).fill(ErrorCode.Locked));
      await winners[0]!();
      expect(readdirSync(dir), `trial ${trial}: lock, markers and temp files are gone`).toEqual([]);
    }
  });

  it('an empty lock file (a run killed as it created it) is stale, and still only one run takes it', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, '.kpki.lock'), '');
    const { winners } = await race(dir);
    expect(winners).toHaveLength(1);
    await winners[0]!();
  });

  it('a run killed in the middle of a takeover leaves a marker that the next run takes over in turn', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, '.kpki.lock'), DEAD_PID);
    // The marker a taker writes is named after the lock it takes over; this taker (pid 999998) died.
    const identity = createHash('sha256').update(DEAD_PID).digest('hex').slice(0, 16);
    writeFileSync(path.join(dir, `.kpki.lock.takeover-${identity}`), '999998\n');
    const { winners } = await race(dir);
    expect(winners).toHaveLength(1);
    await winners[0]!();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a live owner is never displaced, and its release removes only its own lock', async () => {
    const dir = tempDir();
    const release = await acquireLock(dir);
    const { winners, losers } = await race(dir);
    expect(winners).toHaveLength(0);
    expect(losers[0]!.message).toContain(`pid ${process.pid}`);
    await release();
    expect(existsSync(path.join(dir, '.kpki.lock'))).toBe(false);
  });

  it('waits for a live owner when asked to', async () => {
    const dir = tempDir();
    const release = await acquireLock(dir);
    const waiting = acquireLock(dir, { waitMs: 30_000 });
    setTimeout(() => void release(), 200);
    await (
      await waiting
    )();
    expect(readdirSync(dir)).toEqual([]);
  });
});

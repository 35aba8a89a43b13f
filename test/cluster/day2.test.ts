/**
 * Day 2 on the stacked shape (etcd on cp1, two apiservers behind haproxy): renew, CA renew, a full
 * rotation of all three CAs and the SA key, and a second rotation aborted after reissue, with the
 * client loop of day2-loop.ts.
 */
import { describe, it } from 'vitest';
import { day2OnCluster, FULL_DAY2 } from './day2-loop.js';
import { startCluster } from './harness.js';

describe('day 2 on a running cluster', () => {
  it('renew, ca renew and a full rotation (then an aborted one) with no failed routable request', async () => {
    const c = await startCluster({ keyType: 'ecdsa-p256' });
    try {
      await day2OnCluster(c, FULL_DAY2);
    } finally {
      await c.stop();
    }
  }, 3_000_000);
});

/**
 * Everything `kpki init` generates, proven against a real v1.20.2 control plane (test/cluster/harness.ts).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, WARDLE, type Cluster } from './harness.js';

let cluster: Cluster | undefined;
let failure: unknown;
beforeAll(async () => {
  try {
    cluster = await startCluster();
  } catch (err) {
    failure = err;
    throw err;
  }
});
afterAll(() => cluster?.stop());

/** The running cluster; tests after a failed start fail with the reason. */
function live(): Cluster {
  if (!cluster) throw new Error(`the cluster did not start: ${failure instanceof Error ? failure.message : String(failure)}`);
  return cluster;
}

describe('aggregated API', () => {
  it('the sample-apiserver answers admin.conf through the control-plane endpoint', async () => {
    const c = live();
    const r = await c.kubectl(path.join(c.root, 'admin.conf'), ['get', '--raw', `/apis/${WARDLE.group}/${WARDLE.version}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'APIResourceList', groupVersion: `${WARDLE.group}/${WARDLE.version}` });
  });
});

/**
 * The live gates of `kpki ca rotate` where no cluster answers: every writing step refuses (exit 1,
 * nothing written) naming what it could not check, `--offline` runs the step and says that nothing
 * was checked, `status --live` shows the same checks without writing. The gates against a real
 * cluster: test/cluster/rotation-gates.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpki } from '../support/cli.js';
import { snapshot, tempDir } from '../support/tmp.js';
import { makeCluster } from './day2-support.js';

const on = (dir: string) => ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];

/** admin.conf pointed at a loopback port nothing listens on. */
function unreachableAdmin(dir: string): string {
  const file = path.join(dir, 'unreachable-admin.conf');
  writeFileSync(file, readFileSync(path.join(dir, 'admin.conf'), 'utf8').replace(/server: \S+/, 'server: https://127.0.0.1:1'), {
    mode: 0o600,
  });
  return file;
}

describe('kpki ca rotate with no cluster to check', () => {
  it('refuses begin, writes nothing, and lists what it could not check; --offline proceeds and says so', async () => {
    const dir = tempDir();
    await makeCluster(dir, { workers: undefined });
    const admin = unreachableAdmin(dir);
    const before = snapshot(dir);
    const refused = kpki(['ca', 'rotate', 'begin', '--json', '--admin-kubeconfig', admin, ...on(dir)]);
    expect(refused.status, refused.stderr).toBe(1);
    expect(snapshot(dir)).toEqual(before);
    const { error } = JSON.parse(refused.stdout) as {
      error: { code: string; step: string; phase: string; findings: { code: string; subject: string; diagnosis: string; fix: string }[] };
    };
    expect(error).toMatchObject({ code: 'CLUSTER_REFUSED', step: 'begin', phase: 'none' });
    expect(error.findings).toHaveLength(1);
    expect(error.findings[0]).toMatchObject({ code: 'UNCHECKED', subject: 'the cluster' });
    expect(error.findings[0]!.diagnosis).toContain(`${admin} → https://127.0.0.1:1`);
    expect(error.findings[0]!.fix).toContain('--offline');
    expect(refused.stderr).toMatch(
      /^kpki: kpki ca rotate begin refused: 1 finding\(s\) in the live cluster \(phase none\); nothing was written\. .*--offline skips them\):\n {2}UNCHECKED the cluster: .*; fix: .*--offline.*\n$/,
    );

    const offline = kpki(['ca', 'rotate', 'begin', '--offline', '--json', ...on(dir)]);
    expect(offline.status, offline.stderr).toBe(0);
    const result = JSON.parse(offline.stdout) as { phase: string; gates: { checked: boolean; note: string } };
    expect(result.phase).toBe('begun');
    expect(result.gates).toMatchObject({ checked: false });
    expect(result.gates.note).toContain('not checked (--offline)');
    expect(kpki(['ca', 'rotate', 'reissue', '--offline', ...on(dir)]).stdout).toContain('the live cluster was not checked (--offline)');

    // Each later step is gated too; status --live shows the checks and writes nothing.
    const reissued = snapshot(dir);
    for (const step of ['finish', 'abort']) {
      const r = kpki(['ca', 'rotate', step, '--admin-kubeconfig', admin, ...on(dir)]);
      expect(r.status, `${step}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`kpki ca rotate ${step} refused`);
    }
    const status = kpki(['ca', 'rotate', 'status', '--live', '--json', '--admin-kubeconfig', admin, ...on(dir)]);
    expect(status.status).toBe(1);
    expect(
      (JSON.parse(status.stdout) as { gates: { report: { step: string; phase: string; findings: { code: string }[] } } }).gates.report,
    ).toMatchObject({ step: 'status', phase: 'reissued', findings: [{ code: 'UNCHECKED' }] });
    expect(snapshot(dir)).toEqual(reissued);
    // Without --live, status reads only the files.
    expect(kpki(['ca', 'rotate', 'status', ...on(dir)]).status).toBe(0);
  });
});

/**
 * The day-2 pipeline's one "check before writing" hook (commands/rotation.ts CheckBeforeWriting):
 * called once a step has decided and rendered, with the step, the layout, the decided steps and
 * their files, before any file is written; an error finding refuses the step and nothing changes.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renewCa } from '../../src/commands/ca-renew.js';
import { initPki } from '../../src/commands/init.js';
import { rotateCa, type CheckBeforeWriting, type WriteCheck } from '../../src/commands/rotation.js';
import { ErrorCode } from '../../src/errors.js';
import { FindingCode, type Finding } from '../../src/verify/findings.js';
import { rejection } from '../support/errors.js';
import { snapshot, tempDir } from '../support/tmp.js';

async function singlePki(): Promise<{ certDir: string; kubeconfigDir: string }> {
  const dir = tempDir();
  await initPki({
    certDir: path.join(dir, 'pki'),
    kubeconfigDir: dir,
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    keyType: 'ecdsa-p256',
  });
  return { certDir: path.join(dir, 'pki'), kubeconfigDir: dir };
}

const gate: Finding = {
  code: FindingCode.Unchecked,
  severity: 'error',
  subject: 'cluster gate',
  symptom: '',
  diagnosis: 'a control plane is not ready',
  fix: 'wait for it',
  files: [],
};

/** A check that records what it was handed and answers with `findings`. */
function recording(findings: Finding[]): { check: CheckBeforeWriting; seen: WriteCheck[] } {
  const seen: WriteCheck[] = [];
  return { seen, check: async (what) => (seen.push(what), findings) };
}

describe('check before writing', () => {
  it('is handed each rotation step with its decided steps and files; an error finding refuses it and nothing is written', async () => {
    const at = await singlePki();
    const before = snapshot(at.kubeconfigDir);
    const refusing = recording([gate]);
    const refused = await rejection(rotateCa({ ...at, step: 'begin', cas: ['front-proxy'] }, refusing.check));
    expect(refused.code).toBe(ErrorCode.StaleFile);
    expect(refused.message).toBe('1 error(s) before writing: cluster gate: a control plane is not ready');
    expect(refused.hint).toBe('nothing was changed; wait for it');
    expect(snapshot(at.kubeconfigDir)).toEqual(before);
    const [seen] = refusing.seen;
    expect(seen!.step).toBe('begin');
    expect(seen!.layout.signing.certDir).toBe(at.certDir);
    expect(seen!.steps.map((s) => s.action)).toEqual(['write', 'write', 'new-ca', 'trust-edit', 'record']);
    expect(seen!.writes.map((w) => path.relative(at.certDir, w.path))).toEqual([
      'rotation/old/front-proxy-ca.crt',
      'rotation/old/front-proxy-ca.key',
      'rotation/new/front-proxy-ca.crt',
      'rotation/new/front-proxy-ca.key',
      'front-proxy-ca.crt',
      'kpki-rotation.json',
    ]);

    // A check with nothing to say lets every step through, each handed to it in turn.
    const passing = recording([{ ...gate, severity: 'warning' }]);
    for (const step of ['begin', 'reissue', 'abort', 'abort'] as const) await rotateCa({ ...at, step }, passing.check);
    expect(passing.seen.map((s) => s.step)).toEqual(['begin', 'reissue', 'abort', 'abort']);
    expect((await rotateCa({ ...at, step: 'status' })).phase).toBe('none');
  });

  it('ca renew takes the same hook', async () => {
    const at = await singlePki();
    const before = snapshot(at.kubeconfigDir);
    const refusing = recording([gate]);
    expect((await rejection(renewCa({ ...at, name: 'etcd' }, refusing.check))).message).toContain('a control plane is not ready');
    expect(snapshot(at.kubeconfigDir)).toEqual(before);
    expect(refusing.seen.map((s) => [s.step, s.steps.map((x) => x.action)])).toEqual([['ca-renew', ['recertified-ca', 'trust-edit']]]);
  });
});

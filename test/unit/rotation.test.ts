import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { singleLayout } from '../../src/model/layout.js';
import { parseProfile } from '../../src/model/profile.js';
import { rotationIn, ROTATION_DIR } from '../../src/model/rotation.js';
import { resolveSettings } from '../../src/model/settings.js';
import { buildPkiSpec, selectEntries } from '../../src/model/spec.js';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { keyTypeOf, publicKeyOf, sameKeyPair } from '../../src/pki/keys.js';
import { publicHalf } from '../../src/pki/signing-key.js';
import { parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { isSignedBy, sameAuthority } from '../../src/pki/match.js';
import { parseCertificate, parseCertificates, parseKey } from '../../src/pki/pem.js';
import { decideCaRenewal } from '../../src/plan/ca-renewal.js';
import { decide } from '../../src/plan/decide.js';
import type { Observed } from '../../src/model/files.js';
import { renderDay2Steps, renderSteps } from '../../src/plan/render.js';
import { decideRotation, type RotateOptions } from '../../src/plan/rotation.js';
import type { RotateStep } from '../../src/model/rotation.js';
import { rotationUnderWay } from '../../src/plan/rotation-status.js';
import { REPO_ROOT } from '../support/tmp.js';

// decideRotation and decideCaRenewal are pure: every phase below runs over an in-memory file map.
const profile = parseProfile(readFileSync(path.join(REPO_ROOT, 'profiles', 'kubeadm.yaml'), 'utf8'), 'kubeadm.yaml');
const spec = selectEntries(
  buildPkiSpec(profile, resolveSettings({ keyType: 'ecdsa-p256' }, { nodeName: 'cp1', advertiseAddress: '10.0.0.11' })),
  ['ca', 'apiserver', 'sa', 'admin.conf'],
);
const layout = singleLayout(profile, '/k/pki', '/k', [], {});
const NOW = new Date('2026-06-01T00:00:00Z');
const F = {
  caCrt: '/k/pki/ca.crt',
  caKey: '/k/pki/ca.key',
  crt: '/k/pki/apiserver.crt',
  saPub: '/k/pki/sa.pub',
  admin: '/k/admin.conf',
  record: '/k/pki/kpki-rotation.json',
};
const options = { cas: ['cluster'], serviceAccount: true };

type Step = Exclude<RotateStep, 'status'>;
type RotateOptionsGiven = Omit<RotateOptions, 'step'>;

/** A PKI of `pkiSpec` made as init makes it, as an in-memory file map. */
async function made(pkiSpec: typeof spec): Promise<Observed> {
  const steps = await decide(pkiSpec, layout.signing, new Map(), { force: false, renew: [], now: NOW });
  return new Map((await renderSteps(steps, { now: NOW })).flatMap((r) => r.files).map((w) => [w.path, Buffer.from(w.data)]));
}

/** A step decided, rendered and applied to the map as store/ would (the material removed once a rotation is over). */
async function run(files: Observed, step: Step, given: RotateOptionsGiven = options): Promise<Observed> {
  const { state, snapshot } = rotationUnderWay(layout, files, { ...given, step });
  const phase = decideRotation(step, layout, snapshot, state, { ...given, step }, NOW);
  const { files: writes } = await renderDay2Steps(phase.steps, NOW);
  const next = new Map(files);
  for (const w of writes) next.set(w.path, Buffer.from(w.data));
  if (!phase.next) for (const file of next.keys()) if (file.startsWith(`/k/pki/${ROTATION_DIR}/`)) next.delete(file);
  return next;
}

const refusal = (files: Observed, step: Step) =>
  run(files, step).then(
    () => 'written',
    (e: Error) => e.message,
  );
/** The kinds of step a phase decides, in order. */
const kinds = (files: Observed, step: Step) => {
  const { state, snapshot } = rotationUnderWay(layout, files, { ...options, step });
  return decideRotation(step, layout, snapshot, state, { ...options, step }, NOW).steps.map((s) => s.action);
};
const bundle = (files: Observed) => parseCertificates(files.get(F.caCrt)!, F.caCrt);
const phaseOf = (files: Observed) => rotationIn(files, '/k/pki')?.phase ?? 'none';
/** Which of the two CAs the key beside ca.crt is: what signs now. */
const signerOf = (files: Observed, old: Observed) =>
  sameKeyPair(parseKey(files.get(F.caKey)!, F.caKey), publicKeyObject(bundle(old)[0]!)) ? 'old' : 'new';
const leafBy = (files: Observed, old: Observed) =>
  isSignedBy(parseCertificate(files.get(F.crt)!, F.crt), bundle(old)[0]!) ? 'old' : 'new';
/** ca.crt as old/new labels, in file order. */
const trust = (files: Observed, old: Observed) =>
  bundle(files)
    .map((c) => (sameAuthority(c, bundle(old)[0]!) ? 'old' : 'new'))
    .join('+');
const saKeys = (files: Observed) =>
  files
    .get(F.saPub)!
    .toString()
    .match(/BEGIN PUBLIC KEY/g)!.length;

let fresh: Observed;
let begun: Observed;
let reissued: Observed;
/** A PKI made from `pkiSpec`, and the phases a rotation with `given` takes it through. */
async function phases(pkiSpec: typeof spec, given: RotateOptionsGiven) {
  const start = await made(pkiSpec);
  const begun = await run(start, 'begin', given);
  return { start, begun, reissued: await run(begun, 'reissue', given) };
}
beforeAll(async () => {
  ({ start: fresh, begun, reissued } = await phases(spec, options));
});

describe('decideRotation: every phase transition over in-memory files', () => {
  it.each([
    ['none', 'begin', 'begun', 'old+new', 'old', 'old', 2],
    ['begun', 'reissue', 'reissued', 'new+old', 'new', 'new', 2],
    ['begun', 'abort', 'none', 'old', 'old', 'old', 1],
    ['reissued', 'finish', 'none', 'new', 'new', 'new', 1],
    ['reissued', 'abort', 'begun', 'old+new', 'old', 'old', 2],
  ] as const)(
    '%s → %s: phase %s, ca.crt %s, %s key signs, apiserver signed by %s, sa.pub with %i key(s)',
    async (from, step, phase, trusted, signer, leaf, keys) => {
      const start = { none: () => fresh, begun: () => begun, reissued: () => reissued }[from]();
      const after = await run(start, step);
      expect(phaseOf(after)).toBe(phase);
      expect(trust(after, fresh)).toBe(trusted);
      expect(signerOf(after, fresh)).toBe(signer);
      expect(leafBy(after, fresh)).toBe(leaf);
      expect(saKeys(after)).toBe(keys);
      // admin.conf trusts what ca.crt holds, in the same order.
      expect(after.get(F.admin)!.toString()).toContain(Buffer.from(after.get(F.caCrt)!).toString('base64'));
      // The rotation's material is there exactly while a rotation is under way.
      expect([...after.keys()].some((f) => f.startsWith('/k/pki/rotation/'))).toBe(phase !== 'none');
    },
  );

  it.each([
    ['none', 'reissue', 'no rotation is under way'],
    ['none', 'finish', 'no rotation is under way'],
    ['none', 'abort', 'no rotation is under way'],
    ['begun', 'begin', 'a rotation is in phase begun'],
    ['begun', 'finish', 'a rotation is in phase begun'],
    ['reissued', 'begin', 'a rotation is in phase reissued'],
    ['reissued', 'reissue', 'a rotation is in phase reissued'],
  ] as const)('%s → %s is refused: %s', async (from, step, message) => {
    const start = { none: () => fresh, begun: () => begun, reissued: () => reissued }[from]();
    expect(await refusal(start, step)).toBe(message);
  });

  it('the decision generates no key and signs nothing: the CA it makes is a step, rendered by plan/render.ts', () => {
    const { state, snapshot } = rotationUnderWay(layout, fresh, { ...options, step: 'begin' });
    const phase = decideRotation('begin', layout, snapshot, state, { ...options, step: 'begin' }, NOW);
    expect(phase.steps.map((s) => s.action)).toEqual([
      'write',
      'write',
      'new-ca',
      'trust-edit',
      'write',
      'write',
      'new-key',
      'trust-edit',
      'record',
    ]);
    expect(phase.steps.find((s) => s.action === 'new-ca')).toMatchObject({
      name: 'ca',
      files: ['/k/pki/rotation/new/ca.crt', '/k/pki/rotation/new/ca.key'],
    });
    // Leaves are signed again as a renew step; the other phases write bytes they already know.
    expect(kinds(begun, 'reissue').filter((k) => k !== 'write')).toEqual(['renew', 'record']);
    expect(kinds(reissued, 'abort').filter((k) => k !== 'write')).toEqual(['renew', 'record']);
    expect(kinds(reissued, 'finish').filter((k) => k !== 'write')).toEqual(['record']);
    expect(kinds(begun, 'abort').filter((k) => k !== 'write')).toEqual(['record']);
  });
});

describe('decideCaRenewal', () => {
  it('re-certifies the CA with its key and puts the new certificate in place of the old in every trust file', async () => {
    const { steps, old } = decideCaRenewal(layout, fresh, 'ca', 20 * 365 * 86_400);
    expect(steps.map((s) => s.action)).toEqual(['recertified-ca', 'trust-edit']);
    const { files, made } = await renderDay2Steps(steps, NOW);
    expect(files.map((f) => f.path)).toEqual([F.caCrt, F.admin]);
    const renewed = made.cas.get('ca')!.certificate;
    expect(sameKeyPair(publicHalf(old.key), publicKeyObject(renewed))).toBe(true);
    expect(renewed.notAfter.getTime() - NOW.getTime()).toBe(20 * 365 * 86_400 * 1000);
    expect(isSignedBy(parseCertificate(fresh.get(F.crt)!, F.crt), renewed)).toBe(true);
  });

  it('is refused while the same CA is being rotated', () => {
    expect(() => decideCaRenewal(layout, begun, 'ca', 86_400)).toThrow('ca is being rotated (phase begun)');
  });
});

describe('decideRotation with --key-type: every phase over in-memory files (RSA-2048 → ECDSA P-384)', () => {
  // Every CA (--key-type rotates them all), a leaf of each, the SA key and a kubeconfig.
  const rsaSpec = selectEntries(
    buildPkiSpec(profile, resolveSettings({ keyType: 'rsa-2048' }, { nodeName: 'cp1', advertiseAddress: '10.0.0.11' })),
    ['ca', 'front-proxy-ca', 'etcd-ca', 'apiserver', 'front-proxy-client', 'etcd-server', 'sa', 'admin.conf'],
  );
  const typed = { serviceAccount: true, keyType: 'ecdsa-p384' as const };
  const leaves = ['/k/pki/apiserver.crt', '/k/pki/front-proxy-client.crt', '/k/pki/etcd/server.crt'];
  const cas = ['/k/pki/ca.crt', '/k/pki/front-proxy-ca.crt', '/k/pki/etcd/ca.crt'];
  const typeRun = (files: Observed, step: Step) => run(files, step, typed);
  /** The key algorithm of every key the PKI uses: leaves, the key beside each CA, the first CA of each trust file, sa.key, admin.conf's. */
  const keyTypes = (files: Observed) => {
    const certType = (file: string) => keyTypeOf(publicKeyObject(parseCertificates(files.get(file)!, file)[0]!));
    const adminCert = parseKubeconfig(files.get(F.admin)!.toString(), F.admin).clientCertificate!.data!;
    return {
      leaves: leaves.map(certType),
      signing: cas.map((c) => keyTypeOf(publicKeyOf(parseKey(files.get(c.replace(/\.crt$/, '.key'))!, c)))),
      sa: keyTypeOf(publicKeyOf(parseKey(files.get('/k/pki/sa.key')!, 'sa.key'))),
      admin: keyTypeOf(publicKeyObject(parseCertificate(adminCert, F.admin))),
    };
  };
  const all = (type: string) => ({ leaves: [type, type, type], signing: [type, type, type], sa: type, admin: type });
  let rsa: Observed;
  let typeBegun: Observed;
  let typeReissued: Observed;
  beforeAll(async () => {
    ({ start: rsa, begun: typeBegun, reissued: typeReissued } = await phases(rsaSpec, typed));
  });

  it('begin: the new CAs and SA key are P-384, the record names the type; every key in use is still RSA', async () => {
    expect(rotationIn(typeBegun, '/k/pki')).toMatchObject({ phase: 'begun', keyType: 'ecdsa-p384', serviceAccount: true });
    for (const file of ['ca.crt', 'front-proxy-ca.crt', 'etcd/ca.crt'])
      expect(keyTypeOf(publicKeyObject(parseCertificate(typeBegun.get(`/k/pki/rotation/new/${file}`)!, file)))).toBe('ecdsa-p384');
    expect(keyTypeOf(publicKeyOf(parseKey(typeBegun.get('/k/pki/rotation/new/sa.key')!, 'sa.key')))).toBe('ecdsa-p384');
    expect(keyTypes(typeBegun)).toEqual(all('rsa-2048'));
    // Trust holds both algorithms, old first.
    expect(parseCertificates(typeBegun.get(F.caCrt)!, F.caCrt).map((c) => keyTypeOf(publicKeyObject(c)))).toEqual([
      'rsa-2048',
      'ecdsa-p384',
    ]);
  });

  it('reissue: every leaf, kubeconfig and signing key is P-384; each leaf key is new and written with its certificate', async () => {
    expect(keyTypes(typeReissued)).toEqual(all('ecdsa-p384'));
    expect(rotationIn(typeReissued, '/k/pki')).toMatchObject({ phase: 'reissued', keyType: 'ecdsa-p384' });
    const { state, snapshot } = rotationUnderWay(layout, typeBegun, { ...typed, step: 'reissue' });
    const renew = decideRotation('reissue', layout, snapshot, state, { ...typed, step: 'reissue' }, NOW).steps.find(
      (s) => s.action === 'renew',
    )!;
    // Certificates name their key file too (a new key): both change in one journaled set.
    expect(renew.action === 'renew' && renew.steps.filter((s) => leaves.includes(s.files[0]!)).map((s) => s.files.length)).toEqual([
      2, 2, 2,
    ]);
  });

  it('finish: only the P-384 CAs are trusted and every key is P-384', async () => {
    const finished = await typeRun(typeReissued, 'finish');
    expect(rotationIn(finished, '/k/pki')).toBeUndefined();
    expect(keyTypes(finished)).toEqual(all('ecdsa-p384'));
    for (const ca of cas)
      expect(parseCertificates(finished.get(ca)!, ca).map((c) => keyTypeOf(publicKeyObject(c)))).toEqual(['ecdsa-p384']);
  });

  it('abort after begin leaves every file as before the rotation', async () => {
    const aborted = await typeRun(typeBegun, 'abort');
    // The signer file kube-controller-manager reads stays (see SIGNER_CERT); the record says none.
    const kept = new Set(['/k/pki/ca-signer.crt', F.record]);
    const changed = [...new Set([...rsa.keys(), ...aborted.keys()])].filter(
      (f) => !kept.has(f) && !rsa.get(f)?.equals(aborted.get(f) ?? Buffer.alloc(0)),
    );
    expect(changed).toEqual([]);
  });

  it('abort after reissue gives every leaf an RSA-2048 key again, signed by the old CAs; a second abort ends it all RSA', async () => {
    const back = await typeRun(typeReissued, 'abort');
    expect(rotationIn(back, '/k/pki')).toMatchObject({ phase: 'begun', keyType: 'ecdsa-p384' });
    expect(keyTypes(back)).toEqual(all('rsa-2048'));
    leaves.forEach((leaf, i) =>
      expect(isSignedBy(parseCertificate(back.get(leaf)!, leaf), parseCertificates(rsa.get(cas[i]!)!, cas[i]!)[0]!)).toBe(true),
    );
    const done = await typeRun(back, 'abort');
    expect(rotationIn(done, '/k/pki')).toBeUndefined();
    expect(keyTypes(done)).toEqual(all('rsa-2048'));
    for (const ca of cas) expect(done.get(ca)).toEqual(rsa.get(ca));
  });

  it('--key-type with some CAs left out is refused: one algorithm per cluster', async () => {
    const { state, snapshot } = rotationUnderWay(layout, rsa, { ...typed, cas: ['cluster'], step: 'begin' });
    expect(() => decideRotation('begin', layout, snapshot, state, { ...typed, cas: ['cluster'], step: 'begin' }, NOW)).toThrow(
      "--key-type: changes every key's algorithm, so it rotates every CA (ca, front-proxy-ca, etcd-ca)",
    );
  });
});

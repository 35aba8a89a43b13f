/**
 * `kpki verify` across a real `kpki ca rotate begin → reissue → finish`: every phase is consistent
 * (no error, so each next step's preflight passes), the phase is reported, a file the phase has not
 * reached is a half-applied phase with the commands that complete it, and the controller manager's
 * signing file must hold exactly one certificate.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubeadmFlags as kubeadmFlagsFor } from '../support/verify-pki.js';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificates, parseKey } from '../../src/pki/pem.js';
import { bundlePem } from '../../src/plan/trust.js';
import { setKubeconfigData } from '../../src/kubeconfig/kubeconfig.js';
import type { Finding } from '../../src/verify/findings.js';
import { kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { makeCluster } from './day2-support.js';

const dirs = (dir: string) => ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir];

function verifyJson(args: string[]): { status: number | null; findings: Finding[] } {
  const r = kpki(['verify', '--json', ...args]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`kpki verify failed: ${r.stderr}`);
  return { status: r.status, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

function rotate(dir: string, step: string, ...extra: string[]): void {
  const r = kpki(['ca', 'rotate', step, '--offline', ...dirs(dir), ...extra]);
  expect(r.status, `kpki ca rotate ${step}: ${r.stderr}`).toBe(0);
}

/** Errors and warnings, as lines naming code and subject. */
const problems = (findings: Finding[]) =>
  findings.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.code} ${f.subject}: ${f.diagnosis}`);
const codes = (findings: Finding[], code: string) => findings.filter((f) => f.code === code);

function initSingle(): string {
  const dir = tempDir();
  const r = kpki(['init', ...dirs(dir), '--key-type', 'ecdsa-p256']);
  expect(r.status, r.stderr).toBe(0);
  return dir;
}

/** The certificates of a CA file, in file order. */
const bundle = (file: string) => parseCertificates(readFileSync(file), file);

describe('kpki verify during kpki ca rotate, single node', () => {
  it('is clean in every phase, reports the phase and the signer file, and nothing of the rotation afterwards', () => {
    const dir = initSingle();
    const pki = path.join(dir, 'pki');
    expect(problems(verifyJson(dirs(dir)).findings)).toEqual([]);

    for (const [step, phase] of [
      ['begin', 'begun'],
      ['reissue', 'reissued'],
    ] as const) {
      rotate(dir, step, ...(step === 'begin' ? ['--service-account'] : []));
      expect(bundle(path.join(pki, 'ca.crt'))).toHaveLength(2);
      const { status, findings } = verifyJson(dirs(dir));
      // The overlap of old and new (CA files, kubeconfigs' CA data, sa.pub with two keys) is consistent; the rotation's 0600 keys are no stray files.
      expect(problems(findings), phase).toEqual([]);
      expect(status).toBe(0);
      const [underWay] = codes(findings, 'ROTATION_UNDER_WAY');
      expect(underWay?.severity).toBe('info');
      expect(underWay?.subject).toBe(path.join(pki, 'kpki-rotation.json'));
      expect(underWay?.diagnosis).toContain(`phase ${phase}`);
      expect(underWay?.fix).toContain(`kpki ca rotate ${phase === 'begun' ? 'reissue' : 'finish'}`);
      // kubeadm's flags would name ca.crt: kpki checks the signer file its plan names, and says so.
      const [signer] = codes(findings, 'SIGNING_CERT_NOT_SINGLE');
      expect(signer?.severity).toBe('info');
      expect(signer?.diagnosis).toContain(path.join(pki, 'ca-signer.crt'));
      expect(signer?.diagnosis).toContain('expected 1 certificate, found 2');
    }

    rotate(dir, 'finish');
    const after = verifyJson(dirs(dir));
    expect(problems(after.findings)).toEqual([]);
    expect(after.findings.filter((f) => f.code.startsWith('ROTATION') || f.code === 'SIGNING_CERT_NOT_SINGLE')).toEqual([]);
  });

  it('reports a half-applied reissue: a CA file led by the old certificate beside the new key, with the commands that complete it', () => {
    const dir = initSingle();
    const pki = path.join(dir, 'pki');
    rotate(dir, 'begin');
    rotate(dir, 'reissue');
    // Revert ca.crt to begin's order (old first) while ca.key is the new key.
    const caFile = path.join(pki, 'ca.crt');
    const [fresh, old] = bundle(caFile);
    writeFileSync(caFile, bundlePem([old!, fresh!]));
    expect(sameKeyPair(parseKey(readFileSync(path.join(pki, 'ca.key')), 'ca.key'), publicKeyObject(fresh!))).toBe(true);

    const { status, findings } = verifyJson(dirs(dir));
    expect(status).toBe(1);
    const mismatch = codes(findings, 'KEY_MISMATCH');
    expect(mismatch.map((f) => [f.severity, f.subject])).toEqual([['error', caFile]]);
    expect(mismatch[0]!.diagnosis).toContain('certificate 2 of 2');
    const halfApplied = codes(findings, 'ROTATION_HALF_APPLIED');
    expect(halfApplied.map((f) => [f.severity, f.subject])).toEqual([['warning', caFile]]);
    expect(halfApplied[0]!.diagnosis).toContain('is ca old+new, but phase reissued wants ca new+old');
    const complete = `kpki ca rotate abort --cert-dir ${pki} --kubeconfig-dir ${dir} && kpki ca rotate reissue --cert-dir ${pki} --kubeconfig-dir ${dir}`;
    expect(halfApplied[0]!.fix).toContain(complete);
    expect(mismatch[0]!.fix).toContain(complete);
    // Every leaf (new) still chains to ca.crt's second certificate, as Go's CertPool allows.
    expect(codes(findings, 'CHAIN_UNTRUSTED')).toEqual([]);

    // The named commands complete the phase.
    rotate(dir, 'abort');
    rotate(dir, 'reissue');
    expect(problems(verifyJson(dirs(dir)).findings)).toEqual([]);
  });

  it('reports a kubeconfig begin did not reach as half-applied, without blocking the next step', () => {
    const dir = initSingle();
    rotate(dir, 'begin');
    const admin = path.join(dir, 'admin.conf');
    const [old] = bundle(path.join(dir, 'pki/ca.crt'));
    writeFileSync(admin, setKubeconfigData(readFileSync(admin, 'utf8'), admin, { ca: bundlePem([old!]) }));
    const { status, findings } = verifyJson(dirs(dir));
    expect(status).toBe(0);
    expect(
      codes(findings, 'ROTATION_HALF_APPLIED').map((f) => [f.subject, f.diagnosis.includes('is ca old, but phase begun wants ca old+new')]),
    ).toEqual([[admin, true]]);
    expect(codes(findings, 'ROTATION_HALF_APPLIED')[0]!.fix).toContain(
      `kpki ca rotate begin --cert-dir ${path.join(dir, 'pki')} --kubeconfig-dir ${dir} --ca ca,front-proxy-ca,etcd-ca`,
    );
    // A warning: reissue's preflight lets it through, and reissue brings the kubeconfig along.
    rotate(dir, 'reissue');
    expect(problems(verifyJson(dirs(dir)).findings)).toEqual([]);
  });

  it("flags a controller manager run with kubeadm's --cluster-signing-cert-file=ca.crt mid-rotation, naming the signer file", () => {
    const dir = initSingle();
    const pki = path.join(dir, 'pki');
    rotate(dir, 'begin');
    const flagsFile = path.join(dir, 'kube-controller-manager.flags');
    const kubeadmFlags = kubeadmFlagsFor('controller-manager', pki, dir);
    writeFileSync(flagsFile, kubeadmFlags.map(([n, v]) => `--${n}=${v}\n`).join(''));
    const withCaCrt = verifyJson([...dirs(dir), '--controller-manager-args', flagsFile]);
    expect(withCaCrt.status).toBe(1);
    const signing = codes(withCaCrt.findings, 'SIGNING_CERT_NOT_SINGLE');
    expect(signing.map((f) => [f.severity, f.subject])).toEqual([['error', 'kube-controller-manager --cluster-signing-cert-file']]);
    expect(signing[0]!.symptom).toBe(
      `failed to start kubernetes.io/kubelet-serving certificate controller: error reading CA cert file "csr-controller::${pki}/ca.crt::${pki}/ca.key": expected 1 certificate, found 2`,
    );
    expect(signing[0]!.fix).toContain(`point --cluster-signing-cert-file at ${pki}/ca-signer.crt`);

    // As the restart plan says: the signer file, which holds the one certificate matching ca.key.
    writeFileSync(
      flagsFile,
      kubeadmFlags.map(([n, v]) => `--${n}=${n === 'cluster-signing-cert-file' ? path.join(pki, 'ca-signer.crt') : v}\n`).join(''),
    );
    const withSigner = verifyJson([...dirs(dir), '--controller-manager-args', flagsFile]);
    expect(problems(withSigner.findings)).toEqual([]);
    expect(codes(withSigner.findings, 'SIGNING_CERT_NOT_SINGLE')).toEqual([]);

    // A signer file whose certificate is not the key's is an error in any phase.
    writeFileSync(path.join(pki, 'ca-signer.crt'), bundlePem([bundle(path.join(pki, 'ca.crt'))[1]!]));
    const mismatched = verifyJson([...dirs(dir), '--controller-manager-args', flagsFile]);
    expect(codes(mismatched.findings, 'KEY_MISMATCH').map((f) => f.subject)).toEqual([
      'kube-controller-manager --cluster-signing-key-file',
    ]);
  });
});

describe('kpki verify and a damaged rotation', () => {
  it('reports an unreadable rotation record, and rotation material it cannot find as not checked', () => {
    const dir = initSingle();
    const pki = path.join(dir, 'pki');
    rotate(dir, 'begin');
    const record = path.join(pki, 'kpki-rotation.json');
    const saved = readFileSync(record);
    writeFileSync(record, '{"phase": "halfway"}');
    const broken = verifyJson(dirs(dir));
    expect(broken.status).toBe(1);
    expect(codes(broken.findings, 'FILE_INVALID').map((f) => [f.severity, f.subject])).toEqual([['error', record]]);

    writeFileSync(record, saved);
    rmSync(path.join(pki, 'rotation/new/ca.key'));
    const { status, findings } = verifyJson(dirs(dir));
    expect(status).toBe(0);
    expect(codes(findings, 'ROTATION_UNDER_WAY')).toHaveLength(1);
    const unchecked = codes(findings, 'UNCHECKED');
    expect(unchecked.map((f) => [f.severity, f.subject])).toEqual([['warning', record]]);
    expect(unchecked[0]!.diagnosis).toContain('rotation/new/ca.key');
  });
});

describe('a CA file of several certificates without a rotation record', () => {
  it('is not taken for a rotation when it is a chain (another subject)', () => {
    const dir = initSingle();
    const pki = path.join(dir, 'pki');
    writeFileSync(
      path.join(pki, 'ca.crt'),
      Buffer.concat([readFileSync(path.join(pki, 'ca.crt')), readFileSync(path.join(pki, 'front-proxy-ca.crt'))]),
    );
    expect(codes(verifyJson(dirs(dir)).findings, 'ROTATION_UNDER_WAY')).toEqual([]);
  });
});

describe('kpki verify during kpki ca rotate, a cluster made with --control-plane-nodes', () => {
  it('is clean in every phase on the shared set and every control plane, and reports a node file the phase missed', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const node = (name: string) => [
      '--cert-dir',
      path.join(dir, 'nodes', name, 'etc/kubernetes/pki'),
      '--kubeconfig-dir',
      path.join(dir, 'nodes', name, 'etc/kubernetes'),
    ];
    const everywhere = () => [dirs(dir), node('cp1'), node('cp2')].map((args) => verifyJson(args));

    for (const [step, phase] of [
      ['begin', 'begun'],
      ['reissue', 'reissued'],
    ] as const) {
      rotate(dir, step, ...(step === 'begin' ? ['--service-account'] : []));
      const [shared, ...nodes] = everywhere();
      for (const result of nodes) {
        expect(problems(result.findings), phase).toEqual([]);
        // A node holds no rotation record: its overlapping trust files are said once, as not checked here.
        const [overlap, ...more] = codes(result.findings, 'ROTATION_UNDER_WAY');
        expect(more).toEqual([]);
        expect(overlap?.diagnosis).toMatch(/ca\.crt.*hold several CA certificates.*not checked here/);
      }
      // The shared set is no node (no serving certificates, no component kubeconfigs): those are missing there, nothing else is wrong.
      expect(problems(shared!.findings.filter((f) => f.code !== 'FILE_MISSING')), phase).toEqual([]);
      expect(codes(shared!.findings, 'ROTATION_UNDER_WAY')[0]?.diagnosis).toContain(`phase ${phase}`);
      // Each control plane's controller manager signs from its own signer file.
      for (const [i, result] of nodes.entries()) {
        expect(codes(result.findings, 'SIGNING_CERT_NOT_SINGLE')[0]?.diagnosis).toContain(
          path.join(dir, 'nodes', `cp${i + 1}`, 'etc/kubernetes/pki/ca-signer.crt'),
        );
      }
    }

    // cp2's front-proxy CA file left at the old CA alone: a half-applied phase, named with its node.
    const cp2FrontProxy = path.join(dir, 'nodes/cp2/etc/kubernetes/pki/front-proxy-ca.crt');
    const saved = readFileSync(cp2FrontProxy);
    const [, old] = bundle(cp2FrontProxy);
    writeFileSync(cp2FrontProxy, bundlePem([old!]));
    const halfApplied = codes(verifyJson(dirs(dir)).findings, 'ROTATION_HALF_APPLIED');
    expect(halfApplied.map((f) => f.subject)).toEqual([`${cp2FrontProxy} (node cp2)`]);
    expect(halfApplied[0]!.diagnosis).toContain('is front-proxy-ca old, but phase reissued wants front-proxy-ca new+old');
    writeFileSync(cp2FrontProxy, saved);

    rotate(dir, 'finish');
    for (const result of everywhere()) {
      expect(problems(result.findings.filter((f) => f.code !== 'FILE_MISSING'))).toEqual([]);
      expect(result.findings.filter((f) => f.code.startsWith('ROTATION') || f.code === 'SIGNING_CERT_NOT_SINGLE')).toEqual([]);
    }
  });
});

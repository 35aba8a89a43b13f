import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verify } from '../../src/commands/verify.js';
import type { Benchmark } from '../../src/verify/benchmarks.js';
import { kpki } from '../support/cli.js';
import { FIXTURE_ROOT } from '../support/tmp.js';
import { base, copy, flagsFile } from '../support/verify-pki.js';

const NOW = new Date('2026-12-01T00:00:00Z');

/** The distinct `code compliance-id` of the findings, sorted ("-": the benchmark has no such recommendation, or allows what was found). */
const labels = (findings: { code: string; compliance?: { id: string } }[]) =>
  [...new Set(findings.map((f) => `${f.code} ${f.compliance?.id ?? '-'}`))].sort();

describe('verify --benchmark: each finding names its recommendation in the benchmark of the cluster', () => {
  it('kubeadm v1.20.2 manifests choose cis-1.20, where 644 kubeconfigs pass; cis-1.24 and the STIG judge the same files by their own modes', async () => {
    const chosen = await verify({ root: FIXTURE_ROOT, now: NOW });
    expect(chosen.benchmark).toEqual({
      name: 'cis-1.20',
      chosenBy: `kube-apiserver v1.20.2 (${path.join(FIXTURE_ROOT, 'etc/kubernetes/manifests/kube-apiserver.yaml')})`,
    });
    // The fixture's keys and kubeconfigs are 0644: too open for every benchmark's keys, within cis-1.20's and the STIG's 644 for kubeconfigs.
    // And the note that kubeadm v1.20's kubelet.conf points at the control-plane endpoint (no benchmark id).
    expect(labels(chosen.findings)).toEqual([
      'KEY_PERMISSIONS 1.1.21',
      'KUBECONFIG_PERMISSIONS -',
      'KUBELET_CA_UNSET 1.2.5',
      'KUBELET_SERVER_MODE -',
    ]);
    const newer = await verify({ root: FIXTURE_ROOT, now: NOW, benchmark: 'cis-1.24' });
    expect(newer.benchmark).toEqual({ name: 'cis-1.24', chosenBy: '--benchmark' });
    // cis-1.24 asks for certificate files at 600: kubeadm's 0644 certificates fail 1.1.20 there.
    expect(labels(newer.findings)).toEqual([
      'CERT_PERMISSIONS 1.1.20',
      'KEY_PERMISSIONS 1.1.21',
      'KUBECONFIG_PERMISSIONS 1.1.13',
      'KUBECONFIG_PERMISSIONS 1.1.15',
      'KUBECONFIG_PERMISSIONS 1.1.17',
      'KUBECONFIG_PERMISSIONS 4.1.5',
      'KUBELET_CA_UNSET 1.2.5',
      'KUBELET_SERVER_MODE -',
    ]);
    const stig = await verify({ root: FIXTURE_ROOT, now: NOW, benchmark: 'stig' });
    expect(labels(stig.findings)).toEqual([
      'KEY_PERMISSIONS CNTR-K8-003340',
      'KUBECONFIG_PERMISSIONS -',
      'KUBELET_CA_UNSET -',
      'KUBELET_SERVER_MODE -',
    ]);
    expect(stig.findings.filter((f) => f.code === 'KUBECONFIG_PERMISSIONS')).toHaveLength(4);
    expect(stig.findings.find((f) => f.code === 'KEY_PERMISSIONS')!.compliance).toEqual({
      benchmark: 'stig',
      id: 'CNTR-K8-003340',
      level: 'CAT II',
    });
  });

  it.each([
    [undefined, 'cis-1.12', '1.2.25'],
    ['cis-1.6', 'cis-1.6', '1.2.31'],
    ['cis-1.20', 'cis-1.20', '1.2.30'],
    ['cis-1.23', 'cis-1.23', '1.2.28'],
    ['stig', 'stig', 'CNTR-K8-001410'],
  ] as const)('--benchmark %s: kube-apiserver without --client-ca-file fails %s %s', async (given, name, id) => {
    const dir = copy();
    const result = await verify({
      ...base(dir),
      apiserverArgs: flagsFile(dir, 'apiserver', { 'client-ca-file': null }),
      benchmark: given as Benchmark | undefined,
    });
    // A flags file says no version: the newest benchmark unless one is given.
    expect(result.benchmark.name).toBe(name);
    const missing = result.findings.filter((f) => f.code === 'FLAG_MISSING');
    expect(missing.map((f) => [f.subject, f.compliance])).toEqual([
      ['kube-apiserver --client-ca-file', { benchmark: name, id, level: name === 'stig' ? 'CAT II' : 'Level 1' }],
    ]);
  });

  it('the CLI: --json carries benchmark, id and level per finding; an unknown benchmark is one line, exit 2', () => {
    const manifests = path.join(FIXTURE_ROOT, 'etc/kubernetes/manifests');
    const json = kpki(['verify', '--root', FIXTURE_ROOT, '--manifests-dir', manifests, '--benchmark', 'cis-1.12', '--json']);
    const result = JSON.parse(json.stdout);
    expect(result.benchmark).toEqual({ name: 'cis-1.12', chosenBy: '--benchmark' });
    expect(result.findings.find((f: { code: string }) => f.code === 'KUBELET_CA_UNSET').compliance).toEqual({
      benchmark: 'cis-1.12',
      id: '1.2.5',
      level: 'Level 1',
    });
    const text = kpki(['verify', '--root', FIXTURE_ROOT, '--benchmark', 'stig']);
    expect(text.stdout).toMatch(/^WARN KEY_PERMISSIONS \/etc\/kubernetes\/pki\/\S+\.key \[stig CNTR-K8-003340\]$/m);
    expect(text.stdout).toMatch(/^WARN KUBELET_CA_UNSET kube-apiserver --kubelet-certificate-authority$/m);
    const bad = kpki(['verify', '--root', FIXTURE_ROOT, '--benchmark', 'cis-2.0']);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^kpki: --benchmark: "cis-2\.0" is not one of cis-1\.6, cis-1\.20, .*, stig\n$/);
    expect(bad.status).toBe(2);
  });

  describe('CIS 2.7: etcd trusts a CA of its own, compared by key', () => {
    /** A self-signed CA made by openssl with `key` (a new P-256 key when undefined), CN as given. */
    function opensslCa(dir: string, cn: string, key?: string): string {
      const out = path.join(dir, `${cn}-${key ? 'same-key' : 'new-key'}.crt`);
      const keyArgs = key ? ['-key', key] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${out}.key`];
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          ...keyArgs,
          '-subj',
          `/CN=${cn}`,
          '-days',
          '365',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
          '-out',
          out,
        ],
        { stdio: 'pipe' },
      );
      return out;
    }

    const shared = async (dir: string, trustedCa: string) => {
      const result = await verify({
        ...base(dir),
        etcdArgs: flagsFile(dir, 'etcd', { 'trusted-ca-file': trustedCa }),
        apiserverArgs: flagsFile(dir, 'apiserver'),
        benchmark: 'cis-1.24',
      });
      return result.findings.filter((f) => f.code === 'ETCD_CA_SHARED');
    };

    it("kpki's tree (etcd/ca.crt) passes; the cluster CA's key under another name and file is found, a stranger named like the cluster CA is not", async () => {
      const dir = copy();
      expect(await shared(dir, path.join(dir, 'pki/etcd/ca.crt'))).toEqual([]);
      const sameKey = opensslCa(dir, 'etcd-ca', path.join(dir, 'pki/ca.key'));
      const [found, ...more] = await shared(dir, sameKey);
      expect(more).toEqual([]);
      expect(found).toMatchObject({
        severity: 'warning',
        subject: 'etcd --trusted-ca-file',
        files: [sameKey, path.join(dir, 'pki/ca.crt')],
        compliance: { benchmark: 'cis-1.24', id: '2.7', level: 'Level 2' },
      });
      expect(found!.diagnosis).toContain('kube-apiserver --client-ca-file');
      expect(await shared(dir, opensslCa(dir, 'kubernetes'))).toEqual([]);
    });
  });
});

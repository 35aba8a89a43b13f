import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BENCHMARKS,
  benchmarkForVersion,
  certificateFileModes,
  CHECKS,
  chooseBenchmark,
  labelFindings,
  NEWEST_BENCHMARK,
  NEWEST_CHOSEN_BY,
  recommendationFor,
  type Benchmark,
} from '../../src/verify/benchmarks.js';
import { emptyFacts } from '../../src/verify/facts.js';
import type { ClusterInputs } from '../../src/verify/model.js';
import type { Finding } from '../../src/verify/findings.js';
import { filePermissions } from '../../src/verify/rules/file-permissions.js';
import { REPO_ROOT } from '../support/tmp.js';

/** Every CIS 1.6 number kpki's rules, flag table and kubeconfig table tag findings with, read from their source. */
function taggedNumbers(): Set<string> {
  const rules = path.join(REPO_ROOT, 'src/verify/rules');
  const files = [
    ...readdirSync(rules).map((f) => path.join(rules, f)),
    path.join(REPO_ROOT, 'src/model/flags.ts'),
    path.join(REPO_ROOT, 'src/model/kubeadm-files.ts'),
  ];
  return new Set(files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/'(\d+\.\d+(?:\.\d+)?)'/g)].map((m) => m[1]!)));
}

const idOf = (cis: string, benchmark: Benchmark, subject = 'x', modes: number[] = []) =>
  recommendationFor({ cis, subject }, benchmark, modes)?.id;

describe('the benchmark id table', () => {
  it('has a row for every number kpki tags a finding with, and none for numbers it no longer uses', () => {
    expect(new Set(Object.keys(CHECKS))).toEqual(taggedNumbers());
  });

  it('gives every check an id or an explicit "none" in every benchmark, CIS ids only in their own section', () => {
    for (const [cis, row] of Object.entries(CHECKS)) {
      expect(Object.keys(row.recommendations).sort(), cis).toEqual([...BENCHMARKS].sort());
      for (const benchmark of BENCHMARKS) {
        const recommendations = row.recommendations[benchmark];
        if (recommendations === 'none') continue;
        expect(recommendations.length, `${cis} ${benchmark}`).toBeGreaterThan(0);
        for (const r of recommendations) {
          if (benchmark === 'stig') expect(r).toMatchObject({ id: expect.stringMatching(/^CNTR-K8-\d{6}$/), level: 'CAT II' });
          else
            expect(r).toMatchObject({
              id: expect.stringMatching(new RegExp(`^${cis.split('.')[0]}\\.`)),
              level: cis === '2.7' ? 'Level 2' : 'Level 1',
            });
        }
      }
    }
  });

  it('cis-1.6 is the numbering the rules use', () => {
    for (const cis of Object.keys(CHECKS)) expect(idOf(cis, 'cis-1.6')).toBe(cis);
  });

  it('cis-1.20 numbers the apiserver certificate flags 1.2.4, 1.2.5, 1.2.27–1.2.31', () => {
    expect(['1.2.5', '1.2.6', '1.2.28', '1.2.29', '1.2.30', '1.2.31', '1.2.32'].map((c) => idOf(c, 'cis-1.20'))).toEqual([
      '1.2.4',
      '1.2.5',
      '1.2.27',
      '1.2.28',
      '1.2.29',
      '1.2.30',
      '1.2.31',
    ]);
  });

  it("cis-1.12 numbers them 1.2.4, 1.2.5, 1.2.22–1.2.26, and none of kpki's checks is its 1.2.29 (the cipher suites)", () => {
    expect(['1.2.5', '1.2.6', '1.2.28', '1.2.29', '1.2.30', '1.2.31', '1.2.32'].map((c) => idOf(c, 'cis-1.12'))).toEqual([
      '1.2.4',
      '1.2.5',
      '1.2.22',
      '1.2.23',
      '1.2.24',
      '1.2.25',
      '1.2.26',
    ]);
    expect(Object.keys(CHECKS).map((c) => idOf(c, 'cis-1.12'))).not.toContain('1.2.29');
  });

  it('STIG: one rule per flag where the STIG splits a pair, CNTR-K8-001410 for --client-ca-file, none for the service-account key', () => {
    expect(idOf('1.2.29', 'stig', 'kube-apiserver --etcd-certfile')).toBe('CNTR-K8-001520');
    expect(idOf('1.2.29', 'stig', 'kube-apiserver --etcd-keyfile')).toBe('CNTR-K8-001530');
    expect(idOf('2.1', 'stig', 'etcd --key-file')).toBe('CNTR-K8-001490');
    expect(idOf('1.2.31', 'stig', 'kube-apiserver --client-ca-file')).toBe('CNTR-K8-001410');
    expect(CHECKS['1.2.28']!.recommendations.stig).toBe('none');
  });

  it('a mode the benchmark allows is no failure of it: admin.conf 0644 fails cis-1.24 (600) but not cis-1.20 or the STIG (644)', () => {
    expect(idOf('1.1.13', 'cis-1.24', 'admin.conf', [0o644])).toBe('1.1.13');
    expect(idOf('1.1.13', 'cis-1.20', 'admin.conf', [0o644])).toBeUndefined();
    expect(idOf('1.1.13', 'stig', 'admin.conf', [0o644])).toBeUndefined();
    expect(idOf('1.1.13', 'stig', 'admin.conf', [0o666])).toBe('CNTR-K8-003270');
    expect(idOf('1.1.21', 'cis-1.20', 'ca.key', [0o640])).toBe('1.1.21');
  });

  it('picks the CIS benchmark for a Kubernetes version as kube-bench does', () => {
    const picked = [
      'v1.16.0',
      'v1.18.20',
      'v1.19.0',
      'v1.20.2',
      'v1.21.14',
      'v1.22.1',
      'v1.24.3',
      'v1.25.0',
      'v1.26.1',
      'v1.27.2',
      'v1.28.0',
      'v1.31.4',
      'v1.32.0',
      'v1.34.1',
      'v1.40.0',
      'v1.15.3',
      '1.30.0-eks-1',
    ];
    expect(picked.map(benchmarkForVersion)).toEqual([
      'cis-1.6',
      'cis-1.6',
      'cis-1.20',
      'cis-1.20',
      'cis-1.20',
      'cis-1.23',
      'cis-1.24',
      'cis-1.7',
      'cis-1.8',
      'cis-1.9',
      'cis-1.10',
      'cis-1.11',
      'cis-1.12',
      'cis-1.12',
      'cis-1.12',
      'cis-1.6',
      'cis-1.11',
    ]);
    expect(benchmarkForVersion('latest')).toBeUndefined();
  });
});

describe('certificate file modes follow the benchmark (CIS 1.1.20 / 4.1.7, kube-bench cfg/<benchmark>/master.yaml and node.yaml)', () => {
  // kube-bench a73ce378: "set to 600 or more restrictive" in cis-1.24 … cis-1.10, 644 before and again from cis-1.11.
  const ALLOWS_600_ONLY = new Set<Benchmark>(['cis-1.24', 'cis-1.7', 'cis-1.8', 'cis-1.9', 'cis-1.10']);

  /** The CERT_PERMISSIONS findings of the file-permission rule for one certificate file at `mode`. */
  function certFindings(mode: number, benchmark: Benchmark | undefined) {
    const facts = emptyFacts({} as ClusterInputs, {
      now: new Date(),
      warnWithinSeconds: 0,
      root: undefined,
      certDir: '/etc/kubernetes/pki',
      assumedFlags: true,
    });
    facts.benchmark = benchmark;
    const name = '/etc/kubernetes/pki/apiserver.crt';
    facts.files.set(name, { name, real: name, readAs: new Set(['tls-cert']), subjects: [], mode, uid: 0, gid: 0, data: Buffer.from('x') });
    return (filePermissions.check(facts) as Finding[]).filter((f) => f.code === 'CERT_PERMISSIONS');
  }

  it.each(BENCHMARKS.map((b) => [b]))('%s', (benchmark) => {
    const strict = ALLOWS_600_ONLY.has(benchmark);
    expect(certificateFileModes(benchmark)).toBe(strict ? 0o600 : 0o644);
    const kubeadmMode = certFindings(0o644, benchmark);
    expect(kubeadmMode).toHaveLength(strict ? 1 : 0);
    if (strict) {
      expect(kubeadmMode[0]).toMatchObject({
        diagnosis: expect.stringContaining(`more open than 0600: ${benchmark} asks for 0600 or more restrictive`),
        fix: 'chmod 600 /etc/kubernetes/pki/apiserver.crt',
      });
      const [labelled] = labelFindings(kubeadmMode, benchmark, () => 0o644);
      expect(labelled!.compliance).toEqual({ benchmark, id: '1.1.20', level: 'Level 1' });
    }
    expect(certFindings(0o600, benchmark)).toHaveLength(0);
    // Writable by its group: too open for every benchmark.
    expect(certFindings(0o664, benchmark)[0]).toMatchObject({
      diagnosis: expect.stringContaining('others may replace the trust it carries'),
    });
  });

  it('without a benchmark, the newest one (cis-1.12: 644) decides', () => {
    expect(certFindings(0o644, undefined)).toHaveLength(0);
    expect(certFindings(0o644, undefined)).toEqual(certFindings(0o644, NEWEST_BENCHMARK));
  });
});

describe('chooseBenchmark', () => {
  const manifest = { version: 'v1.20.2', origin: '/etc/kubernetes/manifests/kube-apiserver.yaml' };
  const served = { gitVersion: 'v1.27.3', origin: 'GET https://10.0.0.11:6443/version with admin.conf' };

  it("--benchmark first, then the manifest's version, then the version the apiserver served, then the newest", () => {
    expect(chooseBenchmark('stig', manifest, served)).toEqual({ name: 'stig', chosenBy: '--benchmark' });
    expect(chooseBenchmark(undefined, manifest, served)).toEqual({
      name: 'cis-1.20',
      chosenBy: `kube-apiserver v1.20.2 (${manifest.origin})`,
    });
    expect(chooseBenchmark(undefined, { origin: 'flags file' }, served)).toEqual({
      name: 'cis-1.9',
      chosenBy: `kube-apiserver v1.27.3 (${served.origin})`,
    });
    expect(chooseBenchmark(undefined, undefined, served)).toEqual({
      name: 'cis-1.9',
      chosenBy: `kube-apiserver v1.27.3 (${served.origin})`,
    });
    expect(chooseBenchmark(undefined, undefined, { ...served, gitVersion: 'latest' })).toEqual({
      name: NEWEST_BENCHMARK,
      chosenBy: NEWEST_CHOSEN_BY,
    });
    expect(chooseBenchmark(undefined, undefined, undefined)).toEqual({ name: NEWEST_BENCHMARK, chosenBy: NEWEST_CHOSEN_BY });
  });

  it.each([
    ['v1.18.20', 'cis-1.6'],
    ['v1.21.14', 'cis-1.20'],
    ['v1.23.17', 'cis-1.23'],
    ['v1.24.17', 'cis-1.24'],
    ['v1.25.16', 'cis-1.7'],
    ['v1.26.15', 'cis-1.8'],
    ['v1.27.16', 'cis-1.9'],
    ['v1.28.15', 'cis-1.10'],
    ['v1.31.4-eks-2d5f260', 'cis-1.11'],
    ['v1.33.1+k3s1', 'cis-1.12'],
  ] as const)('an apiserver serving gitVersion %s: %s (kube-bench cfg/config.yaml version_mapping)', (gitVersion, name) => {
    expect(chooseBenchmark(undefined, undefined, { gitVersion, origin: 'GET /version' }).name).toBe(name);
  });
});

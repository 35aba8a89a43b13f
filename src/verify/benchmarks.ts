import type { Finding } from './findings.js';

/**
 * Which recommendation of each compliance benchmark a kpki finding fails: checked-in data, keyed
 * by the CIS Kubernetes Benchmark v1.6 number the rules tag findings with (`Finding.cis`).
 *
 * Sources:
 * - CIS: aquasecurity/kube-bench, cfg/<benchmark>/{master,etcd,node}.yaml and cfg/config.yaml
 *   (version_mapping), commit a73ce378418c71c5861e6963753f50dec3badadf (2026-06-09). Each id is
 *   the one check there whose text names the same flag or file; the modes are the ones its text
 *   allows ("set to 644 or more restrictive"). kube-bench carries no profile levels: every
 *   recommendation below is Level 1 in the CIS Kubernetes Benchmark documents but 2.7 (Level 2).
 * - STIG: the DISA Kubernetes STIG (ids CNTR-K8-*, stable from V1R1 to V2R4; V1R8 listed at
 *   https://cyber.trackr.live/stig/Kubernetes_STIG/1/8), ids, checks and severities as encoded in
 *   mitre/k8s-node-stig-baseline controls/V-*.rb, commit ceed6f9faaaf4f74d28493aacb184d214f3b3fc3.
 *   Every one used here is severity medium: CAT II.
 */

/** The benchmarks `verify --benchmark` knows, oldest CIS first. */
export const BENCHMARKS = [
  'cis-1.6',
  'cis-1.20',
  'cis-1.23',
  'cis-1.24',
  'cis-1.7',
  'cis-1.8',
  'cis-1.9',
  'cis-1.10',
  'cis-1.11',
  'cis-1.12',
  'stig',
] as const;
export type Benchmark = (typeof BENCHMARKS)[number];

const CIS_BENCHMARKS = BENCHMARKS.filter((b) => b !== 'stig');
type CisBenchmark = Exclude<Benchmark, 'stig'>;

/** Used when kpki cannot see the cluster's version. */
export const NEWEST_BENCHMARK: Benchmark = 'cis-1.12';

/** The first Kubernetes minor version each CIS benchmark applies to (kube-bench's version_mapping). */
const FIRST_MINOR: [number, CisBenchmark][] = [
  [16, 'cis-1.6'],
  [19, 'cis-1.20'],
  [22, 'cis-1.23'],
  [24, 'cis-1.24'],
  [25, 'cis-1.7'],
  [26, 'cis-1.8'],
  [27, 'cis-1.9'],
  [28, 'cis-1.10'],
  [29, 'cis-1.11'],
  [32, 'cis-1.12'],
];

/** The CIS benchmark for a Kubernetes version such as `v1.20.2`; undefined when it is no 1.x version. */
export function benchmarkForVersion(version: string): Benchmark | undefined {
  const match = /^v?1\.(\d+)(?:[.+-]|$)/.exec(version.trim());
  if (!match) return undefined;
  const minor = Number(match[1]);
  // Older than 1.16 (kube-bench: cis-1.5): the oldest kpki has; newer than kube-bench knows: the newest.
  return FIRST_MINOR.findLast(([first]) => minor >= first)?.[1] ?? FIRST_MINOR[0]![1];
}

/** One recommendation a finding fails. */
export interface Recommendation {
  id: string;
  /** CIS profile level or STIG category. */
  level: string;
  /** For a file-permission recommendation: the mode bits it allows (a finding within them does not fail it). */
  allowsMode?: number;
  /** Where the benchmark has one recommendation per flag of a pair: the flag this one covers. */
  flag?: string;
}

/** A kpki check: what it looks at, and its recommendation in each benchmark (`none`: no equivalent). */
export interface CheckRow {
  check: string;
  recommendations: Record<Benchmark, Recommendation[] | 'none'>;
}

const CIS_LEVEL = 'Level 1';
const STIG_LEVEL = 'CAT II';

/** The ids of `CIS_BENCHMARKS`, in order, each with the mode its text allows where it states one. */
function cis(ids: string | string[], modes?: number[], level = CIS_LEVEL): Record<CisBenchmark, Recommendation[]> {
  const each = typeof ids === 'string' ? CIS_BENCHMARKS.map(() => ids) : ids;
  if (each.length !== CIS_BENCHMARKS.length || (modes && modes.length !== CIS_BENCHMARKS.length))
    throw new Error('benchmarks: one id per CIS benchmark');
  return Object.fromEntries(CIS_BENCHMARKS.map((b, i) => [b, [{ id: each[i]!, level, ...(modes && { allowsMode: modes[i] }) }]])) as Record<
    CisBenchmark,
    Recommendation[]
  >;
}

const stig = (id: string, more: Partial<Recommendation> = {}): Recommendation => ({ id, level: STIG_LEVEL, ...more });

const row = (check: string, cisIds: Record<CisBenchmark, Recommendation[]>, stigIds: Recommendation[] | 'none'): CheckRow => ({
  check,
  recommendations: { ...cisIds, stig: stigIds },
});

// Modes the CIS texts allow, per CIS benchmark in order (cis-1.6 … cis-1.12).
const M644 = 0o644;
const M600 = 0o600;
const ADMIN_CONF_MODES = [M644, M644, M600, M600, M600, M600, M600, M600, M600, M600];
const CONTROL_PLANE_CONF_MODES = [M644, M644, M644, M600, M600, M600, M600, M600, M600, M600];
const PKI_CERT_MODES = [M644, M644, M644, M600, M600, M600, M600, M600, M644, M644];
const KEY_MODES = CIS_BENCHMARKS.map(() => M600);

/** Every kpki check that a benchmark covers, by the CIS 1.6 number its findings carry. */
export const CHECKS: Record<string, CheckRow> = {
  '1.1.13': row('admin.conf (and super-admin.conf) permissions', cis('1.1.13', ADMIN_CONF_MODES), [
    stig('CNTR-K8-003270', { allowsMode: M644 }),
  ]),
  '1.1.14': row('admin.conf (and super-admin.conf) ownership', cis('1.1.14'), [stig('CNTR-K8-003130')]),
  '1.1.15': row('scheduler.conf permissions', cis('1.1.15', CONTROL_PLANE_CONF_MODES), [stig('CNTR-K8-003270', { allowsMode: M644 })]),
  '1.1.16': row('scheduler.conf ownership', cis('1.1.16'), [stig('CNTR-K8-003130')]),
  '1.1.17': row('controller-manager.conf permissions', cis('1.1.17', CONTROL_PLANE_CONF_MODES), [
    stig('CNTR-K8-003270', { allowsMode: M644 }),
  ]),
  '1.1.18': row('controller-manager.conf ownership', cis('1.1.18'), [stig('CNTR-K8-003130')]),
  '1.1.19': row('PKI directory and file ownership', cis('1.1.19'), [stig('CNTR-K8-003180')]),
  '1.1.20': row('PKI certificate file permissions', cis('1.1.20', PKI_CERT_MODES), [stig('CNTR-K8-003330', { allowsMode: M644 })]),
  '1.1.21': row('PKI key file permissions', cis('1.1.21', KEY_MODES), [stig('CNTR-K8-003340', { allowsMode: M600 })]),
  '1.2.5': row(
    'kube-apiserver --kubelet-client-certificate/--kubelet-client-key',
    cis(['1.2.5', '1.2.4', '1.2.5', '1.2.4', '1.2.4', '1.2.4', '1.2.4', '1.2.4', '1.2.4', '1.2.4']),
    [stig('CNTR-K8-002640')],
  ),
  '1.2.6': row(
    'kube-apiserver --kubelet-certificate-authority',
    cis(['1.2.6', '1.2.5', '1.2.6', '1.2.5', '1.2.5', '1.2.5', '1.2.5', '1.2.5', '1.2.5', '1.2.5']),
    'none',
  ),
  '1.2.28': row(
    'kube-apiserver --service-account-key-file',
    cis(['1.2.28', '1.2.27', '1.2.25', '1.2.24', '1.2.24', '1.2.23', '1.2.22', '1.2.22', '1.2.22', '1.2.22']),
    'none',
  ),
  '1.2.29': row(
    'kube-apiserver --etcd-certfile/--etcd-keyfile',
    cis(['1.2.29', '1.2.28', '1.2.26', '1.2.25', '1.2.25', '1.2.24', '1.2.23', '1.2.23', '1.2.23', '1.2.23']),
    [stig('CNTR-K8-001520', { flag: 'etcd-certfile' }), stig('CNTR-K8-001530', { flag: 'etcd-keyfile' })],
  ),
  '1.2.30': row(
    'kube-apiserver --tls-cert-file/--tls-private-key-file',
    cis(['1.2.30', '1.2.29', '1.2.27', '1.2.26', '1.2.26', '1.2.25', '1.2.24', '1.2.24', '1.2.24', '1.2.24']),
    [stig('CNTR-K8-001440')],
  ),
  '1.2.31': row(
    'kube-apiserver --client-ca-file',
    cis(['1.2.31', '1.2.30', '1.2.28', '1.2.27', '1.2.27', '1.2.26', '1.2.25', '1.2.25', '1.2.25', '1.2.25']),
    [stig('CNTR-K8-001410')],
  ),
  '1.2.32': row(
    'kube-apiserver --etcd-cafile',
    cis(['1.2.32', '1.2.31', '1.2.29', '1.2.28', '1.2.28', '1.2.27', '1.2.26', '1.2.26', '1.2.26', '1.2.26']),
    [stig('CNTR-K8-001510')],
  ),
  '1.3.4': row('kube-controller-manager --service-account-private-key-file', cis('1.3.4'), 'none'),
  '1.3.5': row('kube-controller-manager --root-ca-file', cis('1.3.5'), [stig('CNTR-K8-001430')]),
  '2.1': row('etcd --cert-file/--key-file', cis('2.1'), [
    stig('CNTR-K8-001500', { flag: 'cert-file' }),
    stig('CNTR-K8-001490', { flag: 'key-file' }),
  ]),
  '2.2': row('etcd --client-cert-auth', cis('2.2'), [stig('CNTR-K8-001450')]),
  '2.3': row('etcd --auto-tls', cis('2.3'), [stig('CNTR-K8-000180')]),
  '2.4': row('etcd --peer-cert-file/--peer-key-file', cis('2.4'), [
    stig('CNTR-K8-001540', { flag: 'peer-cert-file' }),
    stig('CNTR-K8-001550', { flag: 'peer-key-file' }),
  ]),
  '2.5': row('etcd --peer-client-cert-auth', cis('2.5'), [stig('CNTR-K8-001480')]),
  '2.6': row('etcd --peer-auto-tls', cis('2.6'), [stig('CNTR-K8-000190')]),
  '2.7': row('etcd --trusted-ca-file: a CA of its own, by key', cis('2.7', undefined, 'Level 2'), 'none'),
  '4.1.5': row('kubelet.conf permissions', cis('4.1.5', CONTROL_PLANE_CONF_MODES), 'none'),
  '4.1.6': row('kubelet.conf ownership', cis('4.1.6'), 'none'),
};

/**
 * The mode bits a benchmark allows a certificate file (CIS 1.1.20 and 4.1.7: 644 in cis-1.6 to
 * cis-1.23 and again from cis-1.11, 600 in cis-1.24 to cis-1.10; the STIG's CNTR-K8-003330: 644).
 * Without a benchmark: the newest's.
 */
export function certificateFileModes(benchmark: Benchmark = NEWEST_BENCHMARK): number {
  const recommendations = CHECKS['1.1.20']!.recommendations[benchmark];
  return (recommendations !== 'none' && recommendations[0]?.allowsMode) || M644;
}

/** A finding's recommendation in a benchmark: undefined when it has none there, or the benchmark allows the modes found. */
export function recommendationFor(
  finding: Pick<Finding, 'cis' | 'subject'>,
  benchmark: Benchmark,
  modes: number[],
): Recommendation | undefined {
  const recommendations = finding.cis === undefined ? undefined : CHECKS[finding.cis]?.recommendations[benchmark];
  if (!recommendations || recommendations === 'none') return undefined;
  const flag = /--([\w-]+)$/.exec(finding.subject)?.[1];
  const match = recommendations.find((r) => r.flag === undefined || r.flag === flag);
  const allows = match?.allowsMode;
  if (allows !== undefined && modes.length && modes.every((mode) => (mode & 0o777 & ~allows) === 0)) return undefined;
  return match;
}

/** Why the newest benchmark is used: no version was seen. */
export const NEWEST_CHOSEN_BY = "the newest: the cluster's Kubernetes version is not known";

/**
 * The benchmark verify reports against: the one asked for, else the one for the apiserver's
 * version (from its manifest, else as the running apiserver answered `/version` under --live),
 * else the newest.
 */
export function chooseBenchmark(
  given: Benchmark | undefined,
  apiserver: { version?: string; origin: string } | undefined,
  served?: { gitVersion: string; origin: string },
): { name: Benchmark; chosenBy: string } {
  if (given) return { name: given, chosenBy: '--benchmark' };
  for (const seen of [
    apiserver?.version ? { version: apiserver.version, origin: apiserver.origin } : undefined,
    served && { version: served.gitVersion, origin: served.origin },
  ]) {
    const forVersion = seen && benchmarkForVersion(seen.version);
    if (forVersion) return { name: forVersion, chosenBy: `kube-apiserver ${seen.version} (${seen.origin})` };
  }
  return { name: NEWEST_BENCHMARK, chosenBy: NEWEST_CHOSEN_BY };
}

/** Each finding with its recommendation in `benchmark`; `modeOf` gives the mode of a file a finding names. */
export function labelFindings(findings: Finding[], benchmark: Benchmark, modeOf: (file: string) => number | undefined): Finding[] {
  return findings.map((f) => {
    const modes = f.files.map(modeOf).filter((m): m is number => m !== undefined);
    const recommendation = recommendationFor(f, benchmark, modes);
    return recommendation ? { ...f, compliance: { benchmark, id: recommendation.id, level: recommendation.level } } : f;
  });
}

/**
 * `kpki verify --kubeconfig F [--live]` for a user who holds nothing but a kubeconfig, against a
 * real v1.20.2 control plane: for a good kubeconfig and each seeded fault, what kubectl really
 * prints, and the finding kpki reports for it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import type { Finding } from '../../src/verify/findings.js';
import { describeRun, type RunResult } from '../interop/helpers.js';
import { seedKubeconfigs, type SeededKubeconfigs } from '../support/kubeconfig-faults.js';
import { useCluster, waitUntil, type Cluster } from './harness.js';

const { live } = useCluster();

let seeded: Promise<SeededKubeconfigs> | undefined;

/** The seeded kubeconfigs for this cluster's endpoint, and RBAC that lets group developers view. */
function seeds(c: Cluster): Promise<SeededKubeconfigs> {
  seeded ??= (async () => {
    const dir = await c.scratch('kubeconfig-only');
    const foreignCertDir = path.join(dir, 'foreign/pki');
    await initPki({
      nodeName: 'elsewhere',
      advertiseAddress: '127.0.0.1',
      certDir: foreignCertDir,
      kubeconfigDir: path.join(dir, 'foreign'),
    });
    const bound = await c.kubectl(c.admin, [
      'create',
      'clusterrolebinding',
      'kpki-developers-view',
      '--clusterrole',
      'view',
      '--group',
      'developers',
    ]);
    expect(bound.code, describeRun(bound)).toBe(0);
    const kubeconfigs = await seedKubeconfigs({ certDir: c.certDir, foreignCertDir, dir, server: c.endpoint });
    // Each apiserver's RBAC authorizer learns of the binding from its own informer: wait for all of
    // them, or a request balanced to a lagging one is Forbidden for a moment.
    for (const node of Object.values(c.nodes)) {
      await waitUntil(
        `RBAC on ${node.name} lets group developers list pods`,
        30_000,
        async () => (await c.kubectl(kubeconfigs.good, ['--server', node.url, 'get', 'pods', '-n', 'default'])).code === 0,
      );
    }
    return kubeconfigs;
  })();
  return seeded;
}

/** `kpki verify --kubeconfig FILE --live --json` (from a directory with no PKI): exit code and findings. */
async function verifyKubeconfig(c: Cluster, file: string): Promise<{ code: number | null; findings: Finding[] }> {
  const r = await c.kpki(['verify', '--kubeconfig', file, '--live', '--json']);
  if (r.code !== 0 && r.code !== 1) throw new Error(`kpki verify failed:\n${describeRun(r)}`);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

/** kubectl's own message: the last line it prints (client-go's discovery retries log above it). */
const lastLine = (r: RunResult) => r.stderr.trim().split('\n').at(-1)!;
const problems = (findings: Finding[]) => findings.filter((f) => f.severity !== 'info');

describe('kpki verify with only a kubeconfig, against the real cluster', () => {
  it('admin.conf: no problem; the apiserver lets it do everything', async () => {
    const c = live();
    const { code, findings } = await verifyKubeconfig(c, c.admin);
    expect(problems(findings).filter((f) => f.code !== 'SYSTEM_MASTERS')).toEqual([]);
    expect(code).toBe(0);
    expect(findings.filter((f) => f.code === 'CLIENT_IDENTITY').map((f) => f.diagnosis)).toContainEqual(
      expect.stringContaining('allows it everything, cluster-wide'),
    );
    const r = await c.kubectl(c.admin, ['get', 'namespaces', '-o', 'name']);
    expect(r.code, describeRun(r)).toBe(0);
  });

  it('a kpki kubeconfig user one: no problem; what RBAC lets it do, as kubectl finds it', async () => {
    const c = live();
    const { good } = await seeds(c);
    const { code, findings } = await verifyKubeconfig(c, good);
    expect(problems(findings)).toEqual([]);
    expect(code).toBe(0);
    const identity = findings.filter((f) => f.code === 'CLIENT_IDENTITY').map((f) => f.diagnosis);
    expect(identity).toContainEqual(
      expect.stringMatching(
        /authenticates User "alice", groups \[developers, system:authenticated\]; in namespace default it may .*list.*pods/,
      ),
    );
    const r = await c.kubectl(good, ['get', 'pods', '-n', 'default']);
    expect(r.code, describeRun(r)).toBe(0);
  });

  it("the wrong CA: kubectl's x509 error is the finding's symptom, which names the CA that did sign", async () => {
    const c = live();
    const { wrongCa } = await seeds(c);
    const r = await c.kubectl(wrongCa, ['get', 'pods']);
    expect(r.code).not.toBe(0);
    const { code, findings } = await verifyKubeconfig(c, wrongCa);
    const untrusted = findings.filter((f) => f.code === 'CHAIN_UNTRUSTED' && f.severity === 'error');
    expect(untrusted).toHaveLength(1);
    expect(untrusted[0]!.symptom).toBe(lastLine(r));
    expect(untrusted[0]!.symptom).toMatch(
      /^Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
    expect(untrusted[0]!.diagnosis).toContain('the served certificate was signed by CN=kubernetes');
    expect(untrusted[0]!.diagnosis).toContain('it is the certificate-authority data that is wrong');
    expect(code).toBe(1);
  });

  it.each([
    [
      'an expired client certificate',
      'expired',
      /the client certificate is outside its validity period \(x509: certificate has expired or is not yet valid/,
    ],
    [
      'a client certificate of another CA',
      'foreignClient',
      /signed by CN=kubernetes \(key id [0-9a-f]+\), not by the CA that signed the server's certificate/,
    ],
  ] as const)("%s: kubectl's Unauthorized is the finding's symptom, with the likely reason", async (_, fault, reason) => {
    const c = live();
    const file = (await seeds(c))[fault];
    const r = await c.kubectl(file, ['get', 'pods']);
    expect(r.code).not.toBe(0);
    const { findings } = await verifyKubeconfig(c, file);
    const [rejected] = findings.filter((f) => f.code === 'CLIENT_REJECTED');
    expect(rejected!.symptom).toBe(lastLine(r));
    expect(rejected!.symptom).toBe('error: You must be logged in to the server (Unauthorized)');
    expect(rejected!.diagnosis).toMatch(reason);
  });

  it("an expired client certificate is found offline too, with Go's message", async () => {
    const c = live();
    const { findings } = await verifyKubeconfig(c, (await seeds(c)).expired);
    expect(findings.filter((f) => f.code === 'EXPIRED').map((f) => f.symptom)).toEqual([
      expect.stringMatching(/^x509: certificate has expired or is not yet valid: current time \S+ is after \S+$/),
    ]);
  });

  it("a wrong group: kubectl's Forbidden line is the finding's symptom", async () => {
    const c = live();
    const { wrongGroup } = await seeds(c);
    const r = await c.kubectl(wrongGroup, ['get', 'pods', '-n', 'default']);
    expect(r.code).not.toBe(0);
    const { findings } = await verifyKubeconfig(c, wrongGroup);
    const [forbidden] = findings.filter((f) => f.code === 'CLIENT_FORBIDDEN');
    expect(forbidden!.symptom).toBe(lastLine(r));
    expect(forbidden!.diagnosis).toContain('groups [developer, system:authenticated]');
  });
});

/**
 * Dual-stack service ranges on loopback addresses only (harness.ts with serviceCidr): `kpki init
 * --service-cidr 10.96.0.0/12,fd00:10::/108` with cp1 a dual-stack node (127.A.B.11 and ::1), the
 * apiservers with IPv6DualStack (alpha in 1.20, refused without it) and
 * `--service-cluster-ip-range=<v4>,<v6>`; then restarted with the ranges the other way round, cp1
 * serving on ::1. Kubernetes gives the `kubernetes` Service the first IP of the primary range
 * (pkg/controlplane: APIServerServiceIP), and pods dial that IP: without kube-proxy it leads
 * nowhere here, so clients dial the apiserver itself with that IP as the name to verify (kubectl
 * --tls-server-name: Go's crypto/x509 host-name verification).
 */
import { describe, expect, it } from 'vitest';
import { describeRun } from '../interop/helpers.js';
import { expectNoProblems, NODE_NAMES, verifyNode } from './checks.js';
import { httpsRequest, kubeconfigCredentials, useCluster, waitUntil, type Cluster } from './harness.js';

const V4 = { range: '10.96.0.0/12', first: '10.96.0.1', family: 'IPv4' };
const V6 = { range: 'fd00:10::/108', first: 'fd00:10::1', family: 'IPv6' };
const IPV6_LOOPBACK = '::1';

const { live } = useCluster({ serviceCidr: `${V4.range},${V6.range}`, cp1ExtraAddresses: [IPV6_LOOPBACK] });

/** kubectl as super-admin (RBAC bootstrapped for it), failing with the transcript unless it succeeds. */
async function kubectlOk(c: Cluster, args: string[]): Promise<string> {
  const r = await c.kubectl(c.superAdmin, args);
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

/** The kubernetes Service's `clusterIP ipFamilies`, or why kubectl could not say. */
async function kubernetesService(c: Cluster): Promise<string> {
  const r = await c.kubectl(c.superAdmin, [
    'get',
    'service',
    'kubernetes',
    '-n',
    'default',
    '-o',
    'jsonpath={.spec.clusterIP} {.spec.ipFamilies}',
  ]);
  return r.code === 0 ? r.stdout : `kubectl failed: ${r.stderr.trim()}`;
}

/** Go verifies the apiserver at `url` for `name` (and refuses a name its certificate lacks). */
async function expectServedFor(c: Cluster, url: string, name: string): Promise<void> {
  expect(await kubectlOk(c, ['--server', url, '--tls-server-name', name, 'get', '--raw', '/healthz']), `${url} as ${name}`).toBe('ok');
}

describe('dual-stack service ranges', () => {
  it("IPv4 primary: the kubernetes Service gets the IPv4 range's first IP, and each apiserver is verified for it", async () => {
    const c = live();
    expect(await kubernetesService(c)).toBe(`${V4.first} ["${V4.family}"]`);
    for (const n of NODE_NAMES) await expectServedFor(c, c.nodes[n].url, V4.first);
    // The refusal a name outside the certificate gets, so the acceptance above means something.
    const r = await c.kubectl(c.superAdmin, ['--server', c.nodes.cp1.url, '--tls-server-name', '10.96.0.2', 'get', '--raw', '/healthz']);
    expect(r.stderr).toMatch(/x509: certificate is valid for .*, not 10\.96\.0\.2/);
  });

  it('IPv4 primary: kpki verify finds no problems on either control plane as it runs', async () => {
    const c = live();
    for (const n of NODE_NAMES) expectNoProblems(await verifyNode(c, n));
  });

  it("IPv6 primary (apiservers restarted with the ranges reversed, cp1 on ::1): the recreated kubernetes Service gets the IPv6 range's first IP, verified on [::1]", async () => {
    const c = live();
    const reversed = `${V6.range},${V4.range}`;
    const cp1Url = `https://[${IPV6_LOOPBACK}]:${c.bindPort}`;
    await c.restart('kube-apiserver', 'cp2', { 'service-cluster-ip-range': reversed });
    // Bound to ::1 only: the harness's readiness probe dials cp1's IPv4 address, so wait here.
    await c.restart(
      'kube-apiserver',
      'cp1',
      { 'service-cluster-ip-range': reversed, 'bind-address': IPV6_LOOPBACK, 'advertise-address': IPV6_LOOPBACK },
      { waitReady: false },
    );
    const creds = () => ({ ...kubeconfigCredentials(c.superAdmin), servername: IPV6_LOOPBACK });
    await waitUntil(
      `cp1 ready on ${cp1Url}`,
      120_000,
      async () => (await httpsRequest(`${cp1Url}/readyz`, creds(), { timeoutMs: 5_000 })).status === 200,
      () => c.process('kube-apiserver', 'cp1').tail(3000),
    );
    // An existing Service keeps its IP; both apiservers now recreate it from the IPv6 range.
    await kubectlOk(c, ['--server', cp1Url, 'delete', 'service', 'kubernetes', '-n', 'default']);
    let service = '';
    await waitUntil(
      'the kubernetes Service recreated',
      60_000,
      async () => {
        service = await kubernetesService(c);
        return !service.startsWith('kubectl failed');
      },
      () => service,
    );
    expect(service).toBe(`${V6.first} ["${V6.family}"]`);
    await expectServedFor(c, cp1Url, V6.first);
    await expectServedFor(c, cp1Url, IPV6_LOOPBACK);
    await expectServedFor(c, c.nodes.cp2.url, V6.first);
  });

  it('IPv6 primary: kpki verify finds no problems on either control plane as it runs', async () => {
    const c = live();
    for (const n of NODE_NAMES) expectNoProblems(await verifyNode(c, n));
  });
});

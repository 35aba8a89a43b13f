/**
 * A real kubelet v1.20.2 on worker w1 of the stacked-HA cluster (harness.ts with node.ts), on the
 * files `kpki init --workers w1=… --kubelet-serving-certs` wrote: the node's identity under the
 * Node authorizer and NodeRestriction, kubectl logs/exec through --kubelet-certificate-authority
 * with the offline serving certificate and with one from serverTLSBootstrap approved by
 * `kpki approve kubelet-serving`, and seeded kubelet faults that the real node, `kpki verify` and
 * `kpki verify --live` must agree on.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, type RunResult } from '../interop/helpers.js';
import { expectFinding, expectNoProblems, kpkiVerify, type VerifyRun } from './checks.js';
import { useCluster, waitUntil, type Cluster } from './harness.js';
import { adminConf, csrState, submitCsr, withCaOf } from './live-support.js';
import type { Worker } from './node.js';

const { live } = useCluster({ kubelet: 'offline' });

const SERVING_USAGES = ['digital signature', 'key encipherment', 'server auth'];

function worker(c: Cluster): Worker {
  const w = c.worker.node;
  if (!w) throw new Error('the cluster runs no kubelet');
  return w;
}

/** `kpki verify --json [--live]` for the worker as its kubelet runs, with cp1's apiserver flags. */
async function verifyWorker(c: Cluster, opts: { live?: boolean; extra?: string[] } = {}): Promise<VerifyRun> {
  const w = worker(c);
  return kpkiVerify(c, [
    // --live reads the APIServices with admin.conf.
    ...(opts.live ? ['--live', '--kubeconfig', adminConf(c)] : []),
    '--apiserver-args',
    c.flagsFile('kube-apiserver', 'cp1'),
    '--kubelet-config',
    w.flags,
    '--node-address',
    `InternalIP=${w.address}`,
    ...(opts.extra ?? []),
  ]);
}

/** kubectl as admin.conf (through the VIP), never rejecting on the exit code. */
function admin(c: Cluster, args: string[], input?: string): Promise<RunResult> {
  return c.kubectl(adminConf(c), args, input);
}

async function adminOk(c: Cluster, args: string[], input?: string): Promise<string> {
  const r = await admin(c, args, input);
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

function logs(c: Cluster): Promise<RunResult> {
  const { pod } = worker(c);
  return admin(c, ['logs', '-n', pod.namespace, pod.name, '-c', pod.container]);
}

function exec(c: Cluster): Promise<RunResult> {
  const { pod } = worker(c);
  return admin(c, ['exec', '-n', pod.namespace, pod.name, '-c', pod.container, '--', 'sh', '-c', 'echo exec-through-the-kubelet']);
}

async function expectLogsAndExecWork(c: Cluster): Promise<void> {
  const l = await logs(c);
  expect(l.code, describeRun(l)).toBe(0);
  expect(l.stdout).toContain('kpki static pod up');
  const e = await exec(c);
  expect(e.code, describeRun(e)).toBe(0);
  expect(e.stdout.trim()).toBe('exec-through-the-kubelet');
}

/** The last line kubectl printed on stderr. */
const lastLine = (r: RunResult) => r.stderr.trim().split('\n').at(-1) ?? '';

describe('a worker with a real kubelet on the kubeconfig and certificates kpki wrote', () => {
  it("registers its Node with kubelet.conf's identity system:node:w1, under the Node authorizer and NodeRestriction, and is Ready", async () => {
    const c = live();
    const w = worker(c);
    const node = JSON.parse(await adminOk(c, ['get', 'node', w.name, '-o', 'json'])) as {
      status: {
        nodeInfo: { kubeletVersion: string };
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
        daemonEndpoints: { kubeletEndpoint: { Port: number } };
      };
    };
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.20.2');
    expect(node.status.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: w.address });
    expect(node.status.daemonEndpoints.kubeletEndpoint.Port).toBe(10250);
    // The kubelet's own credentials: the Node authorizer lets it read its Node, never secrets at large.
    const own = await c.kubectl(w.kubeconfig, ['get', 'node', w.name, '-o', 'name']);
    expect(own.code, describeRun(own)).toBe(0);
    const secrets = await c.kubectl(w.kubeconfig, ['get', 'secrets', '-A']);
    expect(secrets.stderr).toContain('User "system:node:w1" cannot list resource "secrets"');
    // NodeRestriction: another Node and the node-restriction labels of its own are off limits.
    await adminOk(c, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'w9' } }));
    const other = await c.kubectl(w.kubeconfig, ['annotate', 'node', 'w9', 'kpki.test/by=w1']);
    expect(other.stderr).toContain('node "w1" is not allowed to modify node "w9"');
    const restricted = await c.kubectl(w.kubeconfig, ['label', 'node', w.name, 'node-restriction.kubernetes.io/pool=a']);
    expect(restricted.stderr).toContain('is not allowed to modify labels: node-restriction.kubernetes.io/pool');
    await adminOk(c, ['delete', 'node', 'w9']);
  });

  it('is clean to kpki verify offline and --live, with the kubelet dialed where the apiserver dials it', async () => {
    const c = live();
    expectNoProblems(await verifyWorker(c));
    const withLive = await verifyWorker(c, { live: true });
    expectNoProblems(withLive);
  });

  it('serves kubectl logs and exec on its static pod through --kubelet-certificate-authority, with the serving certificate kpki issued offline', async () => {
    const c = live();
    await expectLogsAndExecWork(c);
    // Both apiservers dial it, each with its own --kubelet-client-certificate.
    for (const node of ['cp1', 'cp2'] as const) {
      const r = await admin(c, ['--server', c.nodes[node].url, 'logs', '-n', 'default', worker(c).pod.name]);
      expect(r.code, describeRun(r)).toBe(0);
    }
  });
});

describe('serverTLSBootstrap: the kubelet asks for its serving certificate, kpki approve kubelet-serving approves it', () => {
  it("approves the kubelet's own CSR and leaves one naming a foreign IP pending; kubectl logs/exec then work", async () => {
    const c = live();
    const w = worker(c);
    type CsrList = { items: { metadata: { name: string }; spec: { signerName: string; username: string } }[] };
    const servingCsrs = async () =>
      (JSON.parse(await adminOk(c, ['get', 'csr', '-o', 'json'])) as CsrList).items
        .filter((x) => x.spec.signerName === 'kubernetes.io/kubelet-serving' && x.spec.username === `system:node:${w.name}`)
        .map((x) => x.metadata.name);
    const before = await servingCsrs();
    // Submitted with the node's own credentials, as a compromised kubelet could.
    await submitCsr(w.kubeconfig, {
      name: 'w1-foreign-ip',
      commonName: `system:node:${w.name}`,
      organizations: ['system:nodes'],
      dnsNames: [w.name],
      ips: ['10.9.9.9'],
      usages: SERVING_USAGES,
    });
    await w.restart({ config: { tlsCertFile: null, tlsPrivateKeyFile: null, serverTLSBootstrap: true } });
    try {
      let kubeletCsr: string | undefined;
      await waitUntil(
        'the kubelet submitting its kubelet-serving CSR',
        120_000,
        async () => {
          kubeletCsr = (await servingCsrs()).find((n) => !before.includes(n) && n !== 'w1-foreign-ip');
          return kubeletCsr !== undefined;
        },
        () => w.kubelet().tail(3000),
      );
      const approved = await c.kpki(['approve', 'kubelet-serving', '--kubeconfig', adminConf(c)]);
      expect(approved.code, describeRun(approved)).toBe(0);
      expect(approved.stdout).toContain(`approved ${kubeletCsr}: node ${w.name} asks only for its own addresses`);
      expect(approved.stdout).toContain(`left pending w1-foreign-ip: IP 10.9.9.9 is not an address of Node ${w.name}`);
      // The controller manager signs it; the kubelet picks it up without a restart.
      await waitUntil(
        'kubectl logs through the bootstrapped serving certificate',
        120_000,
        async () => (await logs(c)).code === 0,
        () => w.kubelet().tail(3000),
      );
      await expectLogsAndExecWork(c);
      expect(await csrState(adminConf(c), 'w1-foreign-ip')).toEqual({ conditions: [], issued: false });
      expectNoProblems(await verifyWorker(c, { live: true }));
    } finally {
      await w.restart();
    }
  });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * Go's x509 error in a kubectl or kubelet line, without what Go versions word differently: newer
 * ones put "tls: failed to verify certificate: " before it, and some add a "(possibly because of …)"
 * hint to an unknown authority.
 */
const goError = (line: string) => line.slice(line.indexOf('x509: ')).replace(/ \(possibly because of .*$/, '');

describe('seeded kubelet faults: the real node, kpki verify and kpki verify --live agree', () => {
  it("the kubelet's self-signed default serving certificate: kubectl logs fails, verify names the certificate with the same x509 error", async () => {
    const c = live();
    const w = worker(c);
    // No tlsCertFile, no serverTLSBootstrap, an empty --cert-dir: the kubelet makes its own certificate there.
    await w.restart({ config: { tlsCertFile: null, tlsPrivateKeyFile: null }, flags: { 'cert-dir': await c.scratch('self-signed-pki') } });
    try {
      const l = await logs(c);
      expect(l.code).not.toBe(0);
      const real = lastLine(l);
      expect(real).toMatch(
        new RegExp(`x509: cannot validate certificate for ${escape(w.address)} because it doesn't contain any IP SANs$`),
      );
      const offline = expectFinding(await verifyWorker(c), 'KUBELET_SERVING_SELF_SIGNED', /kubelet\.crt/);
      expect(goError(offline.symptom)).toBe(goError(real));
      const withLive = await verifyWorker(c, { live: true });
      const dialed = withLive.findings.filter((f) => f.subject === `kubelet at ${w.url}`);
      expect(dialed.map((f) => f.code)).toEqual(['KUBELET_SERVING_SELF_SIGNED']);
      expect(goError(dialed[0]!.symptom)).toBe(goError(real));
      expect(dialed[0]!.fix).toMatch(/serverTLSBootstrap: true/);
    } finally {
      await w.restart();
    }
  });

  it("a kubelet clientCAFile without the CA of the apiserver's --kubelet-client-certificate: kubectl logs is refused (401), verify says why", async () => {
    const c = live();
    const w = worker(c);
    const wrongCa = c.nodes.cp1.pki('front-proxy-ca.crt');
    await w.restart({
      config: { authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: wrongCa } } },
    });
    try {
      const l = await logs(c);
      expect(l.code).not.toBe(0);
      expect(lastLine(l)).toMatch(
        /^error: You must be logged in to the server \(the server has asked for the client to provide credentials/,
      );
      const offline = expectFinding(await verifyWorker(c), 'CHAIN_UNTRUSTED', /--kubelet-client-certificate/);
      expect(offline.files).toContain(wrongCa);
      expect(offline.symptom).toContain('You must be logged in to the server (the server has asked for the client to provide credentials');
      const withLive = await verifyWorker(c, { live: true });
      const rejected = withLive.findings.filter((f) => f.code === 'CLIENT_REJECTED' && f.subject === `kubelet at ${w.url}`);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.symptom).toContain(
        'You must be logged in to the server (the server has asked for the client to provide credentials',
      );
      expect(rejected[0]!.diagnosis).toContain(`against kubelet clientCAFile (${wrongCa}), x509: certificate signed by unknown authority`);
    } finally {
      await w.restart();
    }
  });

  it('a kubelet.conf with a CA that did not sign the apiserver certificate: the kubelet cannot register, verify reports the kubeconfig', async () => {
    const c = live();
    const w = worker(c);
    const dir = await c.scratch('kubelet-wrong-ca');
    const foreign = await c.kpki([
      'init',
      '--cert-dir',
      path.join(dir, 'pki'),
      '--node-name',
      'x',
      '--advertise-address',
      '127.0.0.1',
      '--key-type',
      'ecdsa-p256',
    ]);
    expect(foreign.code, describeRun(foreign)).toBe(0);
    const wrongCa = await withCaOf(w.kubeconfig, path.join(dir, 'admin.conf'), path.join(dir, 'kubelet-wrong-ca.conf'));
    const proc = await w.restart({ flags: { kubeconfig: wrongCa } }, { waitReady: false });
    try {
      const seen = await proc.waitFor(/Unable to register node "w1" with API server: .*x509: certificate signed by unknown authority/, {
        timeoutMs: 120_000,
      });
      const offline = expectFinding(await verifyWorker(c), 'CHAIN_UNTRUSTED', /kubelet-wrong-ca\.conf/);
      expect(offline.symptom).toMatch(/x509: certificate signed by unknown authority/);
      expect(seen[0]).toContain(goError(offline.symptom));
      const withLive = await verifyWorker(c, { live: true });
      const untrusted = withLive.findings.filter(
        (f) => f.code === 'CHAIN_UNTRUSTED' && f.subject === `kubelet-wrong-ca.conf → ${c.endpoint}`,
      );
      expect(untrusted).toHaveLength(1);
      expect(untrusted[0]!.symptom).toMatch(/x509: certificate signed by unknown authority/);
    } finally {
      await w.restart();
    }
  });

  it.each([
    [
      'another node (CN=system:node:w2)',
      ['node', '--node-name', 'w2'],
      /nodes "w1" is forbidden: node "w2" is not allowed to modify node "w1"/,
    ],
    [
      'no system:nodes group (O=devs)',
      ['user', '--client-name', 'system:node:w1', '--org', 'devs'],
      /nodes is forbidden: User "system:node:w1" cannot create resource "nodes"/,
    ],
  ])('a kubelet.conf for %s: the Node authorizer refuses it, verify reports the identity', async (_, kind, refusal) => {
    const c = live();
    const w = worker(c);
    const file = path.join(await c.scratch('kubelet-identity'), 'kubelet-identity.conf');
    const issued = await c.kpki(['kubeconfig', ...kind, '--cert-dir', c.certDir, '--server', c.endpoint, '--out', file]);
    expect(issued.code, describeRun(issued)).toBe(0);
    const proc = await w.restart({ flags: { kubeconfig: file } }, { waitReady: false });
    try {
      await proc.waitFor(refusal, { timeoutMs: 120_000 });
      const offline = expectFinding(await verifyWorker(c), 'IDENTITY_UNEXPECTED', /kubelet-identity\.conf/);
      expect(offline.symptom).toMatch(refusal);
      const withLive = await verifyWorker(c, { live: true });
      expect(withLive.findings.filter((f) => f.code === 'IDENTITY_UNEXPECTED').map((f) => f.subject)).toEqual([offline.subject]);
    } finally {
      await w.restart();
    }
  });
});

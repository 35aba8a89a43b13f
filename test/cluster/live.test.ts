/**
 * `kpki verify --live` against a real v1.20.2 control plane: read-only probes agree with what the
 * running components and kubectl do.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { probe } from '../../src/live/probe.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { describeRun } from '../interop/helpers.js';
import { readFileSync } from 'node:fs';
import { useCluster, waitUntil, WARDLE_APISERVICE, type Cluster, type NodeName } from './harness.js';
import { adminConf, kubectl, kubectlOk, nodeInputs, renewInCluster, verifyLive, withCaOf, type Finding } from './live-support.js';

const { live } = useCluster();

/** A user kubeconfig for the cluster's endpoint whose client certificate comes from another CA. */
async function foreignKubeconfig(c: Cluster): Promise<{ foreignAdmin: string; mallory: string }> {
  const dir = await c.scratch('foreign');
  const init = await c.kpki([
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
  expect(init.code, describeRun(init)).toBe(0);
  const own = path.join(dir, 'mallory-own.conf');
  const issued = await c.kpki([
    'kubeconfig',
    'user',
    '--client-name',
    'mallory',
    '--cert-dir',
    path.join(dir, 'pki'),
    '--server',
    c.endpoint,
    '--out',
    own,
  ]);
  expect(issued.code, describeRun(issued)).toBe(0);
  return { foreignAdmin: path.join(dir, 'admin.conf'), mallory: await withCaOf(own, adminConf(c), path.join(dir, 'mallory.conf')) };
}

describe('kpki verify --live on a healthy cluster', () => {
  it.each(['cp1', 'cp2'] as const)('adds no finding for %s, its etcd, its kubeconfigs and the APIService', async (node) => {
    const c = live();
    const inputs = nodeInputs(c, node, ['--apiservice', c.wardle.apiservice, '--serving-cert', c.wardle.servingCert]);
    // The offline verdict on this cluster is control-plane.test.ts's subject; --live must add nothing to it.
    const offline = await c.kpki(['verify', '--json', ...inputs]);
    const withLive = await verifyLive(c, inputs);
    expect(withLive.findings).toEqual((JSON.parse(offline.stdout) as { findings: Finding[] }).findings);
    expect(withLive.code).toBe(offline.code);
  });
});

describe('kpki verify --live and the real cluster agree', () => {
  it('reports a kubeconfig whose client certificate the apiserver rejects, as kubectl meets it (401)', async () => {
    const c = live();
    const { mallory } = await foreignKubeconfig(c);
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1', ['--kubeconfig', mallory]));
    const rejected = findings.filter((f) => f.code === 'CLIENT_REJECTED');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.subject).toBe(`mallory.conf → ${c.endpoint}`);
    expect(rejected[0]!.diagnosis).toMatch(/against kube-apiserver --client-ca-file, x509: certificate signed by unknown authority/);
    const r = await kubectl(mallory, ['get', 'pods']);
    expect(r.code).not.toBe(0);
    // kubectl ends the line with "(Unauthorized)", or with the Status message when discovery failed first.
    const loggedIn = 'error: You must be logged in to the server (';
    expect(rejected[0]!.symptom.startsWith(loggedIn)).toBe(true);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)$/,
    );
  });

  it("reports a kubeconfig whose CA does not sign the served chain, with kubectl's x509 error", async () => {
    const c = live();
    const { foreignAdmin } = await foreignKubeconfig(c);
    const wrongCa = await withCaOf(adminConf(c), foreignAdmin, path.join(await c.scratch('wrong-ca'), 'wrong-ca.conf'));
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1', ['--kubeconfig', wrongCa]));
    const untrusted = findings.filter((f) => f.code === 'CHAIN_UNTRUSTED' && f.subject.startsWith('wrong-ca.conf'));
    expect(untrusted).toHaveLength(1);
    expect(untrusted[0]!.symptom).toMatch(/^Unable to connect to the server: x509: certificate signed by unknown authority/);
    const r = await kubectl(wrongCa, ['get', 'pods']);
    expect(r.stderr).toMatch(/x509: certificate signed by unknown authority/);
  });

  it('reports the serving certificate a running apiserver keeps because it cannot load the file on disk', async () => {
    const c = live();
    const cp2 = c.nodes.cp2;
    const own = path.join(await c.scratch('cp2-apiserver'), 'apiserver.crt');
    await copyFile(cp2.pki('apiserver.crt'), own);
    // A renewal gone wrong: the certificate replaced, its key not (cp1's certificate has cp1's key).
    await copyFile(c.nodes.cp1.pki('apiserver.crt'), cp2.pki('apiserver.crt'));
    try {
      const { findings } = await verifyLive(c, nodeInputs(c, 'cp2'));
      const stale = findings.filter((f) => f.code === 'SERVING_CERT_STALE');
      expect(stale.map((f) => f.subject)).toEqual([`kube-apiserver at ${cp2.url}`]);
      const served = await probe({ host: cp2.address, port: c.bindPort, path: '/healthz', timeoutMs: 5_000 });
      expect(stale[0]!.diagnosis).toContain(`serves CN=kube-apiserver, serial ${served.served![0]!.serialNumber}`);
      expect(stale[0]!.diagnosis).toMatch(/does not match the key file: the component cannot load it/);
      expect(findings.some((f) => f.code === 'KEY_MISMATCH')).toBe(true);
    } finally {
      await copyFile(own, cp2.pki('apiserver.crt'));
    }
  });

  it('sees the renewed certificate once the apiserver has reloaded it (1.20 reloads --tls-cert-file by itself)', async () => {
    const c = live();
    const cp1 = c.nodes.cp1;
    await renewInCluster(c, 'apiserver');
    const onDisk = parseCertificate(readFileSync(cp1.pki('apiserver.crt')), 'apiserver.crt').serialNumber;
    await waitUntil('kube-apiserver on cp1 serving the renewed certificate', 120_000, async () => {
      const served = await probe({ host: cp1.address, port: c.bindPort, path: '/healthz', timeoutMs: 5_000 });
      return served.served?.[0]?.serialNumber === onDisk;
    });
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
    expect(findings.filter((f) => f.code === 'SERVING_CERT_STALE')).toEqual([]);
  });
  it('reports an APIService the aggregator marks unavailable because the backend refuses its front-proxy certificate', async () => {
    const c = live();
    // Both apiservers present a client certificate of the etcd CA as the front proxy: the
    // sample-apiserver trusts neither that CA for the front proxy nor for users (401). A cluster-CA
    // certificate would pass as an ordinary user, and discovery is open to every authenticated user.
    const wrongProxy = (node: NodeName) => ({
      'proxy-client-cert-file': c.nodes[node].pki('apiserver-etcd-client.crt'),
      'proxy-client-key-file': c.nodes[node].pki('apiserver-etcd-client.key'),
    });
    await Promise.all((['cp1', 'cp2'] as const).map((node) => c.restart('kube-apiserver', node, wrongProxy(node))));
    try {
      let condition = '';
      // The availability controller rechecks every 30 s.
      await waitUntil(
        `APIService ${WARDLE_APISERVICE} unavailable`,
        150_000,
        async () => {
          condition = (
            await kubectlOk(adminConf(c), [
              'get',
              'apiservice',
              WARDLE_APISERVICE,
              '-o',
              'jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}',
            ])
          ).stdout;
          return condition.startsWith('False');
        },
        () => `last Available condition: ${condition}`,
      );
      const { findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
      const unavailable = findings.filter((f) => f.code === 'APISERVICE_UNAVAILABLE');
      expect(unavailable.map((f) => f.subject)).toEqual([`APIService ${WARDLE_APISERVICE}`]);
      expect(unavailable[0]!.symptom).toMatch(/^FailedDiscoveryCheck: .*bad status from .*: 401$/);
      expect(unavailable[0]!.diagnosis).toMatch(/front-proxy client certificate \(--proxy-client-cert-file\)/);
      // Dialing the backend with cp1's front-proxy certificate meets the same answer, in the same words.
      const backend = findings.filter(
        (f) =>
          f.code === 'CLIENT_REJECTED' && f.subject === `APIService ${WARDLE_APISERVICE} → https://${c.wardle.address}:${c.wardle.port}`,
      );
      expect(backend.map((f) => f.symptom)).toEqual([unavailable[0]!.symptom]);
      expect(backend[0]!.diagnosis).toMatch(/kpki presented kube-apiserver --proxy-client-cert-file \(.*apiserver-etcd-client\.crt\)/);
      // The offline checks see the same fault in the files.
      expect(findings.some((f) => f.subject.startsWith('kube-apiserver --proxy-client-cert-file'))).toBe(true);
    } finally {
      await Promise.all((['cp1', 'cp2'] as const).map((node) => c.restart('kube-apiserver', node)));
    }
  }, 480_000);
});

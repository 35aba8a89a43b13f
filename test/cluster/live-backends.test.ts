/**
 * `kpki verify --live` dials the APIService's backend where the real aggregator dials it, and
 * compares served certificates with the files on disk, against a real v1.20.2 control plane.
 */
import { readFileSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { probe } from '../../src/live/probe.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { describeRun } from '../interop/helpers.js';
import { httpsRequest, kubeconfigCredentials, useCluster, waitUntil, WARDLE, WARDLE_APISERVICE, type Cluster } from './harness.js';
import { adminConf, kubectl, kubectlOk, nodeInputs, renewInCluster, verifyLive } from './live-support.js';

const { live } = useCluster();

const backendUrl = (c: Cluster) => `https://${c.wardle.address}:${c.wardle.port}`;
const backendSubject = (c: Cluster) => `APIService ${WARDLE_APISERVICE} → ${backendUrl(c)}`;
const servedSerial = async (host: string, port: number, servername?: string) =>
  (await probe({ host, port, servername, path: '/', timeoutMs: 5_000 })).served?.[0]?.serialNumber;
const serialOf = (file: string) => parseCertificate(readFileSync(file), file).serialNumber;

/** A discovery request through the aggregator (the control-plane endpoint), as admin.conf. */
function throughAggregator(c: Cluster) {
  return httpsRequest(`${c.endpoint}/apis/${WARDLE.group}/${WARDLE.version}`, kubeconfigCredentials(adminConf(c)), { timeoutMs: 15_000 });
}

describe('kpki verify --live and the APIService backend', () => {
  it('dials the sample-apiserver where the aggregator does and finds its chain good for the caBundle', async () => {
    const c = live();
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1', ['--serving-cert', c.wardle.servingCert]));
    expect(findings.filter((f) => f.subject.startsWith('APIService'))).toEqual([]);
    expect((await throughAggregator(c)).status).toBe(200);
  });

  it("reports a caBundle that does not verify the backend with Go's unknown authority, as the aggregator's proxy meets it", async () => {
    const c = live();
    const good = await readFile(c.wardle.apiservice, 'utf8');
    const doc = parseYaml(good) as { spec: { caBundle: string } };
    // The cluster CA: a real CA, but not the one that signed the sample-apiserver's certificate.
    doc.spec.caBundle = readFileSync(path.join(c.certDir, 'ca.crt')).toString('base64');
    const wrong = path.join(await c.scratch('wrong-cabundle'), 'apiservice.yaml');
    await writeFile(wrong, stringifyYaml(doc));
    await kubectlOk(adminConf(c), ['apply', '-f', wrong]);
    try {
      let answer = { status: 0, body: '' };
      await waitUntil(
        'the aggregator proxying with the wrong caBundle',
        60_000,
        async () => {
          answer = await throughAggregator(c);
          return answer.status === 503;
        },
        () => `last answer: ${JSON.stringify(answer)}`,
      );
      // kube-apiserver 1.20's availability check skips verification; its proxy verifies, and answers 503 with Go's error.
      expect(answer.body.trim()).toBe('error trying to reach service: x509: certificate signed by unknown authority');
      const k = await kubectl(adminConf(c), ['get', '--raw', `/apis/${WARDLE.group}/${WARDLE.version}`]);
      expect(k.code).not.toBe(0);
      const { findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
      const untrusted = findings.filter((f) => f.subject === backendSubject(c));
      expect(untrusted.map((f) => f.code)).toEqual(['CHAIN_UNTRUSTED']);
      expect(untrusted[0]!.symptom).toBe(
        `${k.stderr.trim()} (kube-apiserver's 503 for ${WARDLE.group}/${WARDLE.version}: ${answer.body.trim()})`,
      );
      expect(untrusted[0]!.diagnosis).toContain(
        `a client trusting APIService ${WARDLE_APISERVICE}'s caBundle and dialing ${WARDLE.service}.${WARDLE.namespace}.svc rejects`,
      );
    } finally {
      await kubectlOk(adminConf(c), ['apply', '-f', c.wardle.apiservice]);
    }
    await waitUntil('the aggregator proxying with the good caBundle', 60_000, async () => (await throughAggregator(c)).status === 200);
    expect((await verifyLive(c, nodeInputs(c, 'cp1'))).findings.filter((f) => f.subject === backendSubject(c))).toEqual([]);
  });
});

describe('kpki verify --live and certificates renewed on disk', () => {
  it('reports the sample-apiserver serving its old certificate when the renewed one cannot load, and nothing once it is restarted with the pair', async () => {
    const c = live();
    const servingCert = c.wardle.servingCert;
    const servingKey = servingCert.replace(/\.crt$/, '.key');
    const dir = await c.scratch('wardle-renewal');
    const kept = { cert: path.join(dir, 'kept.crt'), key: path.join(dir, 'kept.key') };
    await copyFile(servingCert, kept.cert);
    await copyFile(servingKey, kept.key);
    const facts = certificateFacts(parseCertificate(readFileSync(servingCert), servingCert));
    const renewedPrefix = path.join(dir, 'renewed');
    const issued = await c.kpki([
      'cert',
      'issue',
      '--profile',
      'server',
      '--cn',
      facts.commonName,
      '--san',
      facts.dnsNames.join(','),
      '--ca',
      path.join(c.wardle.dir, 'wardle-ca.crt'),
      '--out',
      renewedPrefix,
    ]);
    expect(issued.code, describeRun(issued)).toBe(0);
    const before = await servedSerial(c.wardle.address, c.wardle.port);
    // A renewal half done: the certificate replaced, its key not yet. The sample-apiserver keeps the pair it has.
    await copyFile(`${renewedPrefix}.crt`, servingCert);
    try {
      const { findings } = await verifyLive(c, nodeInputs(c, 'cp1', ['--serving-cert', servingCert]));
      const stale = findings.filter((f) => f.code === 'SERVING_CERT_STALE');
      const component = `the extension apiserver behind service ${WARDLE.namespace}/${WARDLE.service}`;
      expect(stale.map((f) => f.subject)).toEqual([`${component} at ${backendUrl(c)}`]);
      expect(stale[0]!.diagnosis).toContain(`serves CN=${facts.commonName}, serial ${before}`);
      expect(stale[0]!.diagnosis).toMatch(/does not match the key file: the component cannot load it/);
      expect(stale[0]!.fix).toContain(`restart ${component} on the node at ${backendUrl(c)}`);
      // The renewal completed and the component restarted: the finding is gone, the new certificate served.
      await copyFile(`${renewedPrefix}.key`, servingKey);
      await c.restart('sample-apiserver');
      expect(await servedSerial(c.wardle.address, c.wardle.port)).toBe(serialOf(servingCert));
      const after = await verifyLive(c, nodeInputs(c, 'cp1', ['--serving-cert', servingCert]));
      expect(after.findings.filter((f) => f.code === 'SERVING_CERT_STALE' || f.subject.startsWith('APIService'))).toEqual([]);
    } finally {
      await copyFile(kept.cert, servingCert);
      await copyFile(kept.key, servingKey);
      await c.restart('sample-apiserver');
    }
  }, 300_000);

  it('sees etcd serve its renewed certificate at the next handshake: etcd 3.4 reads the files for each connection, nothing to restart', async () => {
    const c = live();
    const cp1 = c.nodes.cp1;
    const serverCert = cp1.pki('etcd/server.crt');
    const etcd = new URL(c.etcdUrl);
    const before = await servedSerial(etcd.hostname, Number(etcd.port));
    expect(before).toBe(serialOf(serverCert));
    await renewInCluster(c, 'etcd-server');
    const onDisk = serialOf(serverCert);
    expect(onDisk).not.toBe(before);
    // No wait: the very next handshake already presents the new file.
    expect(await servedSerial(etcd.hostname, Number(etcd.port))).toBe(onDisk);
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
    expect(findings.filter((f) => f.code === 'SERVING_CERT_STALE' || f.subject.startsWith('etcd at'))).toEqual([]);
  });
});

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo, type Server } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import { issueExtensionApiserver } from '../../src/issue/extension.js';
import { buildKubeconfig, parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { verify, verifyLive } from '../../src/commands/verify.js';
import { type Finding, type VerifyOptions } from '../../src/verify/index.js';
import { tempDir } from '../support/tmp.js';
import { kubeadmFlags } from '../support/verify-pki.js';

/**
 * verify --live against stand-ins on 127.0.0.1: an "apiserver" that authenticates client
 * certificates against ca.crt as kube-apiserver does (401 otherwise), an "etcd" that requires
 * client certificates in the handshake, and a listener that never answers.
 */

const dir = tempDir('kpki-live-');
const pki = path.join(dir, 'pki');
const other = path.join(dir, 'other');
const kc = path.join(dir, 'kc');
const read = (file: string) => readFileSync(file);
const servers: Server[] = [];

/** The wardle APIService; unless `available`, with the condition of an aggregator that fails to verify it. */
const wardleApiService = (port: number, caBundle: string, spec: Record<string, unknown> = {}, available = false) => ({
  metadata: { name: 'v1alpha1.wardle.example.com' },
  spec: { group: 'wardle.example.com', version: 'v1alpha1', service: { name: 'api', namespace: 'wardle', port }, caBundle, ...spec },
  status: {
    conditions: available
      ? [{ type: 'Available', status: 'True', reason: 'Passed' }]
      : [
          {
            type: 'Available',
            status: 'False',
            reason: 'FailedDiscoveryCheck',
            message:
              'failing or missing response from https://10.96.0.55:443/apis/wardle.example.com/v1alpha1: Get "https://10.96.0.55:443/apis/wardle.example.com/v1alpha1": x509: certificate signed by unknown authority',
          },
        ],
  },
});

/** What the fake apiserver answers for the APIService, its Service and Endpoints; tests change it. */
const cluster = {
  apiServices: {} as unknown,
  service: {} as unknown,
  endpoints: {} as unknown,
};

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const ADMIN_READS: Record<string, () => unknown> = {
  '/apis/apiregistration.k8s.io/v1/apiservices': () => cluster.apiServices,
  '/api/v1/namespaces/wardle/services/api': () => cluster.service,
  '/api/v1/namespaces/wardle/endpoints/api': () => cluster.endpoints,
};

/** Serves whatever apiserver.crt holds when called; authenticates like kube-apiserver's x509 authenticator. */
function fakeApiserver(): Promise<number> {
  const server = https.createServer(
    {
      cert: read(`${pki}/apiserver.crt`),
      key: read(`${pki}/apiserver.key`),
      ca: read(`${pki}/ca.crt`),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      const presented = Boolean(socket.getPeerCertificate()?.raw);
      if (presented && !socket.authorized) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ kind: 'Status', message: 'Unauthorized', code: 401 }));
      } else if (ADMIN_READS[req.url ?? '']) {
        res.writeHead(presented ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(ADMIN_READS[req.url!]!()));
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
  );
  return listen(server);
}

/**
 * The extension apiserver: wardle.crt for api.wardle.svc; a client passes as the front proxy
 * (200) only with a certificate of front-proxy-ca.crt and the identity headers, else 401.
 */
function fakeBackend(): Promise<number> {
  const server = https.createServer(
    {
      cert: read(`${dir}/wardle.crt`),
      key: read(`${dir}/wardle.key`),
      ca: read(`${pki}/front-proxy-ca.crt`),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const proxied = (req.socket as tls.TLSSocket).authorized && req.headers['x-remote-user'] === 'system:kube-aggregator';
      res
        .writeHead(proxied && req.url === '/apis/wardle.example.com/v1alpha1' ? 200 : 401, { 'content-type': 'application/json' })
        .end('{}');
    },
  );
  return listen(server);
}

let apiserverPort: number;
let backendPort: number;
let wardleCaBundle: string;
let etcdPort: number;
let silentPort: number;
let options: VerifyOptions;

function kubeconfig(name: string, server: string, caFrom: string, userFrom: string): string {
  const creds = (file: string) => parseKubeconfig(readFileSync(file, 'utf8'), file);
  const ca = creds(caFrom).certificateAuthority!.data!.toString();
  const user = creds(userFrom);
  const file = path.join(kc, name);
  writeFileSync(
    file,
    buildKubeconfig({
      clusterName: 'kubernetes',
      server,
      userName: 'u',
      contextName: 'c',
      ca: { pem: ca },
      cert: { pem: user.clientCertificate!.data!.toString() },
      key: { pem: user.clientKey!.data!.toString() },
    }),
  );
  return file;
}

function flagsFile(name: string, flags: [string, string][]): string {
  const file = path.join(dir, name);
  writeFileSync(file, flags.map(([n, v]) => `--${n}=${v}`).join('\n'));
  return file;
}

/** What --live adds to the offline result. */
async function liveFindings(extra: Partial<VerifyOptions> = {}, timeout = '3s'): Promise<Finding[]> {
  const all = { ...options, ...extra };
  const offline = await verify(all);
  const live = await verifyLive({ ...all, timeout });
  return live.findings.filter((f) => !offline.findings.some((o) => JSON.stringify(o) === JSON.stringify(f)));
}

beforeAll(async () => {
  const settings = { nodeName: 'cp1', advertiseAddress: '127.0.0.1', keyType: 'ecdsa-p256' };
  await initPki({ ...settings, certDir: pki, kubeconfigDir: dir });
  await initPki({ ...settings, certDir: path.join(other, 'pki'), kubeconfigDir: other });
  mkdirSync(kc);
  apiserverPort = await fakeApiserver();
  etcdPort = await listen(
    tls.createServer(
      {
        cert: read(`${pki}/etcd/server.crt`),
        key: read(`${pki}/etcd/server.key`),
        ca: read(`${pki}/etcd/ca.crt`),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'),
    ),
  );
  silentPort = await listen(net.createServer(() => {}));
  wardleCaBundle = (
    await issueExtensionApiserver({
      service: 'api',
      namespace: 'wardle',
      ca: 'new',
      out: `${dir}/wardle`,
      apiGroup: 'wardle.example.com',
      keyType: 'ecdsa-p256',
    })
  ).caBundle;
  backendPort = await fakeBackend();
  kubeconfig('admin.conf', `https://127.0.0.1:${apiserverPort}`, `${dir}/admin.conf`, `${dir}/admin.conf`);
  const apiserverFlags = [
    ...kubeadmFlags('apiserver', pki, kc),
    ['advertise-address', '127.0.0.1'],
    ['secure-port', String(apiserverPort)],
    ['etcd-servers', `https://127.0.0.1:${etcdPort}`],
  ] as [string, string][];
  options = { certDir: pki, kubeconfigDir: kc, apiserverArgs: flagsFile('apiserver.flags', apiserverFlags) };
});

afterAll(() => servers.forEach((s) => s.close()));

/** The healthy wardle APIService: an ExternalName Service for 127.0.0.1, Endpoints on the backend. */
beforeEach(() => {
  cluster.apiServices = {
    kind: 'APIServiceList',
    items: [
      { metadata: { name: 'v1.' }, spec: {}, status: { conditions: [{ type: 'Available', status: 'True', reason: 'Local' }] } },
      wardleApiService(backendPort, wardleCaBundle),
    ],
  };
  cluster.service = { spec: { type: 'ExternalName', externalName: '127.0.0.1' } };
  cluster.endpoints = { subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: backendPort }] }] };
});

describe('verify --live against local stand-ins', () => {
  it('adds nothing but the APIService the aggregator reports unavailable, with its PKI cause', async () => {
    const findings = await liveFindings();
    expect(findings.map((f) => [f.code, f.subject])).toEqual([['APISERVICE_UNAVAILABLE', 'APIService v1alpha1.wardle.example.com']]);
    expect(findings[0]!.diagnosis).toMatch(/caBundle of APIService v1alpha1\.wardle\.example\.com does not hold the CA/);
  });

  it('reports a kubeconfig whose client certificate the apiserver rejects (401), with the offline reason', async () => {
    const file = kubeconfig('alice.conf', `https://127.0.0.1:${apiserverPort}`, `${dir}/admin.conf`, `${other}/admin.conf`);
    const [finding, ...rest] = await liveFindings({ kubeconfigs: [file] });
    expect(rest.filter((f) => f.code !== 'APISERVICE_UNAVAILABLE')).toEqual([]);
    expect(finding).toMatchObject({
      code: 'CLIENT_REJECTED',
      severity: 'error',
      symptom: 'error: You must be logged in to the server (Unauthorized)',
    });
    expect(finding!.diagnosis).toMatch(
      /alice\.conf .*against kube-apiserver --client-ca-file, x509: certificate signed by unknown authority/,
    );
  });

  it("reports a served chain the kubeconfig's CA does not trust, and a host the certificate does not name, in Go's words", async () => {
    const untrusted = kubeconfig('wrong-ca.conf', `https://127.0.0.1:${apiserverPort}`, `${other}/admin.conf`, `${dir}/admin.conf`);
    const wrongHost = kubeconfig('by-name.conf', `https://localhost:${apiserverPort}`, `${dir}/admin.conf`, `${dir}/admin.conf`);
    const findings = await liveFindings({ kubeconfigs: [untrusted, wrongHost] });
    const untrustedFinding = findings.find((f) => f.subject.startsWith('wrong-ca.conf'));
    expect(untrustedFinding?.code).toBe('CHAIN_UNTRUSTED');
    // Both CAs are named "kubernetes": Go adds why the candidate failed.
    expect(untrustedFinding?.symptom).toMatch(
      /^Unable to connect to the server: x509: certificate signed by unknown authority \(possibly because of "x509: ECDSA verification failure"/,
    );
    // Which CA did sign: the PKI's own, the one the apiserver's flags name.
    expect(untrustedFinding?.diagnosis).toMatch(
      /the served certificate was signed by CN=kubernetes, key id [0-9a-f]+; that is the CA in kube-apiserver --client-ca-file \(.*ca\.crt\)/,
    );
    expect(findings.find((f) => f.subject.startsWith('by-name.conf'))?.symptom).toMatch(
      /^Unable to connect to the server: x509: certificate is valid for .*, not localhost$/,
    );
  });

  it('reports an endpoint that does not answer in time as not checked', async () => {
    const file = kubeconfig('silent.conf', `https://127.0.0.1:${silentPort}`, `${dir}/admin.conf`, `${dir}/admin.conf`);
    const finding = (await liveFindings({ kubeconfigs: [file] }, '1s')).find((f) => f.subject.startsWith('silent.conf'));
    expect(finding).toMatchObject({ code: 'UNCHECKED', severity: 'warning', symptom: 'no answer within 1s' });
    expect(finding!.diagnosis).toMatch(/not checked: the endpoint did not answer in time/);
  });

  it('reports the TLS alert of an etcd that refuses the apiserver’s etcd client certificate', async () => {
    const flags = [
      ...kubeadmFlags('apiserver', pki, kc),
      ['etcd-servers', `https://127.0.0.1:${etcdPort}`],
      ['etcd-certfile', `${pki}/apiserver-kubelet-client.crt`],
      ['etcd-keyfile', `${pki}/apiserver-kubelet-client.key`],
    ] as [string, string][];
    const findings = await liveFindings({ apiserverArgs: flagsFile('wrong-etcd-client.flags', flags) });
    const etcd = findings.filter((f) => f.subject.startsWith('etcd'));
    expect(etcd).toHaveLength(1);
    expect(etcd[0]).toMatchObject({ code: 'CLIENT_REJECTED', severity: 'error' });
    expect(etcd[0]!.diagnosis).toMatch(
      /rejected the TLS handshake with kube-apiserver --etcd-certfile .*apiserver-kubelet-client\.crt.*: against kube-apiserver --etcd-cafile .*x509: certificate signed by unknown authority/,
    );
  });

  it('reports a renewed serving certificate the running apiserver has not loaded, naming what to restart', async () => {
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '127.0.0.1',
      keyType: 'ecdsa-p256',
      certDir: pki,
      kubeconfigDir: dir,
      renew: ['apiserver'],
    });
    const stale = (await liveFindings()).filter((f) => f.code === 'SERVING_CERT_STALE');
    expect(stale).toHaveLength(1);
    expect(stale[0]).toMatchObject({ severity: 'error', subject: `kube-apiserver at https://127.0.0.1:${apiserverPort}` });
    expect(stale[0]!.fix).toMatch(/^restart kube-apiserver on the node at https:\/\/127\.0\.0\.1:\d+ .*so it loads .*apiserver\.crt/);
    expect(stale[0]!.diagnosis).toMatch(/renewed on disk, not yet loaded$/);
  });
});

describe("verify --live and an APIService's backend, dialed where the aggregator dials it", () => {
  const backend = () => `APIService v1alpha1.wardle.example.com → https://127.0.0.1:${backendPort}`;
  const withApiService = (spec: Record<string, unknown>) => {
    cluster.apiServices = { kind: 'APIServiceList', items: [wardleApiService(backendPort, wardleCaBundle, spec, true)] };
  };
  beforeEach(() => withApiService({}));

  it('verifies the chain against the caBundle for api.wardle.svc and presents the front-proxy certificate: nothing to report', async () => {
    expect((await liveFindings()).filter((f) => f.subject.startsWith('APIService'))).toEqual([]);
  });

  it("reports a caBundle that does not verify the served chain, in Go's words", async () => {
    withApiService({ caBundle: readFileSync(`${other}/pki/ca.crt`).toString('base64') });
    const findings = (await liveFindings()).filter((f) => f.subject === backend());
    expect(findings.map((f) => f.code)).toEqual(['CHAIN_UNTRUSTED']);
    expect(findings[0]!.symptom).toBe(
      "Error from server (ServiceUnavailable): the server is currently unable to handle the request (kube-apiserver's 503 for wardle.example.com/v1alpha1: error trying to reach service: x509: certificate signed by unknown authority)",
    );
    expect(findings[0]!.fix).toMatch(
      /^put the CA that signed api\.wardle\.svc's serving certificate into APIService v1alpha1\.wardle\.example\.com's caBundle/,
    );
  });

  it('reports the answer to a front-proxy certificate the backend does not trust, as the availability check words it', async () => {
    const flags = [
      ...kubeadmFlags('apiserver', pki, kc),
      ['proxy-client-cert-file', `${other}/pki/front-proxy-client.crt`],
      ['proxy-client-key-file', `${other}/pki/front-proxy-client.key`],
    ] as [string, string][];
    const findings = (await liveFindings({ apiserverArgs: flagsFile('other-proxy.flags', flags) })).filter((f) => f.subject === backend());
    const url = `https://127.0.0.1:${backendPort}/apis/wardle.example.com/v1alpha1`;
    expect(findings.map((f) => [f.code, f.symptom])).toEqual([
      ['CLIENT_REJECTED', `FailedDiscoveryCheck: failing or missing response from ${url}: bad status from ${url}: 401`],
    ]);
    expect(findings[0]!.diagnosis).toMatch(
      /does not accept the apiserver's front-proxy client certificate .*\(kpki presented kube-apiserver --proxy-client-cert-file \(.*other\/pki\/front-proxy-client\.crt\)\)$/,
    );
  });

  it('dials every endpoint with --enable-aggregator-routing and reports the one that does not answer as not checked', async () => {
    cluster.service = { spec: { type: 'ClusterIP', clusterIP: '10.96.0.55', ports: [{ name: 'https', port: backendPort }] } };
    cluster.endpoints = {
      subsets: [
        { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: backendPort }] },
        { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: silentPort }] },
      ],
    };
    const flags = [...kubeadmFlags('apiserver', pki, kc), ['enable-aggregator-routing', 'true']] as [string, string][];
    const findings = (await liveFindings({ apiserverArgs: flagsFile('endpoint-routing.flags', flags) }, '1s')).filter((f) =>
      f.subject.startsWith('APIService v1alpha1.wardle.example.com'),
    );
    expect(findings.map((f) => [f.code, f.subject])).toEqual([
      ['UNCHECKED', `APIService v1alpha1.wardle.example.com → https://127.0.0.1:${silentPort}`],
    ]);
    expect(findings[0]!.diagnosis).toMatch(
      /not checked: the endpoint did not answer in time \(an endpoint of service wardle\/api, as the aggregator dials it; kpki may run where that address does not route\)$/,
    );
  });

  it('reports a backend the aggregator has no route to as not checked, with its reason', async () => {
    cluster.service = { spec: { type: 'ClusterIP', clusterIP: '10.96.0.55', ports: [{ name: 'https', port: backendPort }] } };
    cluster.endpoints = { subsets: [] };
    const flags = [...kubeadmFlags('apiserver', pki, kc), ['enable-aggregator-routing', 'true']] as [string, string][];
    const findings = (await liveFindings({ apiserverArgs: flagsFile('endpoint-routing.flags', flags) })).filter((f) =>
      f.subject.startsWith('APIService v1alpha1.wardle.example.com'),
    );
    expect(findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ['UNCHECKED', 'warning', 'APIService v1alpha1.wardle.example.com'],
    ]);
    expect(findings[0]!.diagnosis).toBe(
      `the backend's serving certificate not checked: the aggregator has nowhere to send requests (no endpoints available for service "api")`,
    );
  });

  it('reports insecureSkipTLSVerify in the cluster with the offline check’s code, once', async () => {
    withApiService({ insecureSkipTLSVerify: true, caBundle: undefined });
    const findings = (await liveFindings()).filter((f) => f.subject.startsWith('APIService v1alpha1.wardle.example.com'));
    expect(findings.map((f) => [f.code, f.subject])).toEqual([['APISERVICE_INSECURE', 'APIService v1alpha1.wardle.example.com']]);
    // Given the same object as a manifest, the offline finding stands alone.
    const manifest = path.join(dir, 'insecure-apiservice.yaml');
    writeFileSync(
      manifest,
      JSON.stringify({
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        ...wardleApiService(backendPort, '', { insecureSkipTLSVerify: true }),
      }),
    );
    const live = await verifyLive({ ...options, apiServices: [manifest], timeout: '3s' });
    expect(live.findings.filter((f) => f.code === 'APISERVICE_INSECURE')).toHaveLength(1);
  });

  it('reports a backend serving another certificate than the --serving-cert file for its service, naming what to restart', async () => {
    await issueExtensionApiserver({
      service: 'api',
      namespace: 'wardle',
      ca: 'new',
      out: `${dir}/renewed-wardle`,
      apiGroup: 'wardle.example.com',
      keyType: 'ecdsa-p256',
    });
    const stale = (await liveFindings({ servingCerts: [`${dir}/renewed-wardle.crt`] })).filter(
      (f) => f.code === 'SERVING_CERT_STALE' && f.subject.startsWith('the extension apiserver'),
    );
    expect(stale.map((f) => [f.severity, f.subject])).toEqual([
      ['error', `the extension apiserver behind service wardle/api at https://127.0.0.1:${backendPort}`],
    ]);
    expect(stale[0]!.diagnosis).toMatch(/renewed on disk, not yet loaded$/);
  });
});

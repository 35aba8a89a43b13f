import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Server } from 'node:net';
import path from 'node:path';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { initPki } from '../../src/commands/init.js';
import { verifyKubeconfigs, verifyKubeconfigsLive } from '../../src/commands/verify-kubeconfig.js';
import { proxyFor } from '../../src/live/proxy.js';
import { x509 } from '../../src/pki/crypto.js';
import type { Finding } from '../../src/verify/findings.js';
import { seedKubeconfigs, type SeededKubeconfigs } from '../support/kubeconfig-faults.js';
import { tempDir } from '../support/tmp.js';

/**
 * `verify --kubeconfig F --live` with only a kubeconfig, against a stand-in apiserver on 127.0.0.1
 * that authenticates client certificates against ca.crt (401 otherwise, as kube-apiserver's x509
 * authenticator) and answers the self-subject reviews as RBAC would for a few groups; and a CONNECT
 * proxy that records what it tunnels.
 */

const dir = tempDir('kpki-live-kc-');
const pki = path.join(dir, 'pki');
const servers: Server[] = [];
let seeded: SeededKubeconfigs;
let port: number;
let proxyPort: number;
const tunnelled: string[] = [];
const sniSeen: (string | false)[] = [];

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** RBAC as the stand-in sees it: groups → what SelfSubjectRulesReview returns in any namespace. */
const RULES: Record<string, object[]> = { developers: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }] };
const SELF_RULES = [
  { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
];

function json(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function fakeApiserver(): Promise<number> {
  const read = (f: string) => readFileSync(path.join(pki, f));
  const server = https.createServer(
    { cert: read('apiserver.crt'), key: read('apiserver.key'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      sniSeen.push((socket as unknown as { servername: string | false }).servername);
      const peer = socket.getPeerCertificate();
      if (!peer?.raw || !socket.authorized) return json(res, 401, { kind: 'Status', message: 'Unauthorized', code: 401 });
      const groups = new x509.X509Certificate(new Uint8Array(peer.raw)).subjectName.getField('O');
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'] });
        const review = JSON.parse(body || '{}') as { kind?: string; spec?: { resourceAttributes?: { verb?: string; resource?: string } } };
        if (req.url === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
          const attrs = review.spec?.resourceAttributes ?? {};
          const allowed = groups.includes('admins') || (attrs.verb === 'list' && attrs.resource === 'pods' && groups.some((g) => RULES[g]));
          return json(res, 201, { ...review, status: { allowed } });
        }
        if (req.url === '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews') {
          return json(res, 201, {
            ...review,
            status: {
              resourceRules: [...SELF_RULES, ...groups.flatMap((g) => RULES[g] ?? [])],
              nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*'] }],
              incomplete: false,
            },
          });
        }
        json(res, 404, { kind: 'Status', code: 404 });
      });
    },
  );
  return listen(server);
}

/** An HTTP CONNECT proxy that records each tunnel's target. */
function connectProxy(): Promise<number> {
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    tunnelled.push(req.url ?? '');
    const [host, targetPort] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(targetPort), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  return listen(proxy);
}

beforeAll(async () => {
  await initPki({ nodeName: 'cp1', advertiseAddress: '127.0.0.1', keyType: 'ecdsa-p256', certDir: pki, kubeconfigDir: dir });
  await initPki({
    nodeName: 'other',
    advertiseAddress: '127.0.0.1',
    keyType: 'ecdsa-p256',
    certDir: path.join(dir, 'foreign/pki'),
    kubeconfigDir: path.join(dir, 'foreign'),
  });
  port = await fakeApiserver();
  proxyPort = await connectProxy();
  seeded = await seedKubeconfigs({ certDir: pki, foreignCertDir: path.join(dir, 'foreign/pki'), dir, server: `https://127.0.0.1:${port}` });
});

afterAll(() => {
  for (const server of servers) server.close();
});

async function live(file: string): Promise<Finding[]> {
  const options = { kubeconfigs: [file] };
  return (await verifyKubeconfigsLive(options, await verifyKubeconfigs(options), 5000)).findings;
}

const only = (findings: Finding[], code: string) => findings.filter((f) => f.code === code);

/** `file` with its cluster entry changed. */
function withCluster(file: string, name: string, change: Record<string, unknown>): string {
  const doc = parse(readFileSync(file, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
  Object.assign(doc.clusters[0]!.cluster, change);
  const out = path.join(dir, name);
  // Private, as the seeded file it copies: it holds the client key.
  writeFileSync(out, stringify(doc), { mode: 0o600 });
  return out;
}

describe('verify --kubeconfig --live', () => {
  it('a good kubeconfig: authenticated, and what RBAC lets it do in the namespace', async () => {
    const findings = await live(seeded.good);
    expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const identity = only(findings, 'CLIENT_IDENTITY').map((f) => f.diagnosis);
    expect(identity).toContainEqual(
      expect.stringContaining(
        'authenticates User "alice", groups [developers, system:authenticated]; in namespace default it may get,list pods',
      ),
    );
  });

  it('a wrong group: authenticated, allowed nothing, with the Forbidden line kubectl get pods prints', async () => {
    const [forbidden] = only(await live(seeded.wrongGroup), 'CLIENT_FORBIDDEN');
    expect(forbidden).toMatchObject({
      severity: 'warning',
      symptom:
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    });
    expect(forbidden!.diagnosis).toContain('groups [developer, system:authenticated]');
  });

  it("the wrong CA data: Go's unknown authority, who signed the served certificate, and that the CA data is what is wrong", async () => {
    const [untrusted] = only(await live(seeded.wrongCa), 'CHAIN_UNTRUSTED').filter((f) => f.severity === 'error');
    // Go names the CA of the same name whose signature did not verify.
    expect(untrusted!.symptom).toBe(
      'Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "x509: ECDSA verification failure" while trying to verify candidate authority certificate "kubernetes")',
    );
    expect(untrusted!.diagnosis).toMatch(
      /the served certificate was signed by CN=kubernetes, key id [0-9a-f]+; the kubeconfig's CA has the same name but another key/,
    );
    expect(untrusted!.diagnosis).toContain(
      "the kubeconfig's client certificate comes from that same CA, so it is the certificate-authority data that is wrong",
    );
    expect(untrusted!.fix).toContain(
      `kubectl config set-cluster kubernetes --kubeconfig ${seeded.wrongCa} --certificate-authority CA.crt --embed-certs`,
    );
  });

  it("a client certificate of another CA and an expired one: kubectl's Unauthorized, with the likely reason", async () => {
    const [foreign] = only(await live(seeded.foreignClient), 'CLIENT_REJECTED');
    expect(foreign!.symptom).toBe('error: You must be logged in to the server (Unauthorized)');
    expect(foreign!.diagnosis).toMatch(/not by the CA that signed the server's certificate/);
    const [expired] = only(await live(seeded.expired), 'CLIENT_REJECTED');
    expect(expired!.symptom).toBe('error: You must be logged in to the server (Unauthorized)');
    expect(expired!.diagnosis).toContain('x509: certificate has expired or is not yet valid');
  });

  it('tls-server-name is the name verified and sent as SNI', async () => {
    sniSeen.length = 0;
    expect(
      (await live(withCluster(seeded.good, 'sni-ok.conf', { 'tls-server-name': 'kubernetes.default.svc' }))).filter(
        (f) => f.severity !== 'info',
      ),
    ).toEqual([]);
    expect(sniSeen).toContain('kubernetes.default.svc');
    const [wrongName] = only(await live(withCluster(seeded.good, 'sni-bad.conf', { 'tls-server-name': 'api.example.org' })), 'SAN_MISSING');
    expect(wrongName!.symptom).toMatch(
      /^Unable to connect to the server: tls: failed to verify certificate: x509: certificate is valid for .*, not api\.example\.org$/,
    );
  });

  it("insecure-skip-tls-verify: the server's chain is not judged, the offline warning stands", async () => {
    const findings = await live(
      withCluster(seeded.wrongCa, 'insecure.conf', { 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined }),
    );
    expect(only(findings, 'TLS_VERIFY_SKIPPED')).toHaveLength(1);
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it("the cluster's proxy-url: dialled through the proxy's CONNECT tunnel", async () => {
    tunnelled.length = 0;
    const findings = await live(withCluster(seeded.good, 'proxied.conf', { 'proxy-url': `http://127.0.0.1:${proxyPort}` }));
    expect(tunnelled).toContain(`127.0.0.1:${port}`);
    expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('a server that does not answer: not checked, said so', async () => {
    const closed = await listen(net.createServer((socket) => socket.destroy()));
    const [unchecked] = only(await live(withCluster(seeded.good, 'closed.conf', { server: `https://127.0.0.1:${closed}` })), 'UNCHECKED');
    expect(unchecked!.diagnosis).toContain('not checked');
  });
});

describe("proxyFor: Go's ProxyFromEnvironment, and proxy-url first", () => {
  const url = new URL('https://api.example.com:6443');
  it('HTTPS_PROXY (or https_proxy) for https servers, http:// assumed', () => {
    expect(proxyFor(url, { HTTPS_PROXY: 'proxy.corp:3128' })).toMatchObject({ proxy: { host: 'proxy.corp', port: 3128 } });
    expect(proxyFor(url, { https_proxy: 'http://u:p@proxy.corp:8080' })).toMatchObject({
      proxy: { host: 'proxy.corp', port: 8080, authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
    });
    expect(proxyFor(url, { HTTP_PROXY: 'proxy.corp:3128' })).toEqual({ proxy: undefined });
  });
  it('NO_PROXY: names with their subdomains, a leading dot for subdomains only, IPs, CIDRs, ports, *', () => {
    const via = (noProxy: string, server = url) =>
      proxyFor(server, { HTTPS_PROXY: 'proxy.corp:3128', NO_PROXY: noProxy }).proxy !== undefined;
    expect(via('example.com')).toBe(false);
    expect(via('.example.com')).toBe(false);
    expect(via('.api.example.com')).toBe(true);
    expect(via('api.example.com:443')).toBe(true);
    expect(via('api.example.com:6443')).toBe(false);
    expect(via('10.0.0.0/8', new URL('https://10.1.2.3:6443'))).toBe(false);
    expect(via('10.0.0.0/8', new URL('https://11.1.2.3:6443'))).toBe(true);
    expect(via('*')).toBe(false);
  });
  it('loopback and localhost never go through the environment proxy; proxy-url always does; SOCKS is not supported', () => {
    expect(proxyFor(new URL('https://127.0.0.5:6443'), { HTTPS_PROXY: 'proxy.corp:3128' })).toEqual({ proxy: undefined });
    expect(proxyFor(new URL('https://localhost:6443'), { HTTPS_PROXY: 'proxy.corp:3128' })).toEqual({ proxy: undefined });
    expect(proxyFor(new URL('https://127.0.0.5:6443'), {}, 'http://127.0.0.1:9')).toMatchObject({ proxy: { host: '127.0.0.1', port: 9 } });
    expect(proxyFor(url, {}, 'socks5://127.0.0.1:1080')).toMatchObject({ unsupported: expect.stringContaining('socks5') });
  });
});

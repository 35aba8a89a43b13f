/**
 * Everything `kpki init` generates, proven against a real v1.20.2 control plane (harness.ts): two
 * kube-apiservers behind haproxy, etcd with client-cert auth, the controller manager and the
 * sample-apiserver behind an APIService whose caBundle kpki made. Then seeded faults: for each,
 * `kpki verify` reports the finding and the cluster fails with the symptom the finding names.
 * Faults are grouped so that a few apiserver restarts serve them all.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { requireTool, run } from '../interop/helpers.js';
import {
  derCopy,
  expectFinding,
  expectKubeconfigsAuthenticate,
  NODE_NAMES,
  servers,
  expectNoProblems,
  foreignPublicKey,
  notValidFor,
  signServiceAccountToken,
  verifyNode,
} from './checks.js';
import {
  DNS_DOMAIN,
  httpsRequest,
  SERVICE_IP,
  useCluster,
  waitUntil,
  WARDLE,
  WARDLE_APISERVICE,
  type Cluster,
  type FlagOverrides,
} from './harness.js';

const FLUNDERS = `/apis/${WARDLE.group}/${WARDLE.version}/namespaces/default/flunders`;

const { live, started } = useCluster();

/** A describe block's set-up, run only on a started cluster (otherwise its tests fail on live()). */
function beforeAllLive(setUp: (c: Cluster) => Promise<void>): void {
  beforeAll(async () => {
    const c = started();
    if (c) await setUp(c);
  });
}

/** kubectl as admin.conf, failing the test with the transcript unless it succeeds. */
async function adminKubectl(c: Cluster, args: string[], server?: string): Promise<string> {
  const r = await c.kubectl(c.admin, [...(server ? ['--server', server] : []), ...args]);
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** admin.conf reaches the aggregated wardle API through the VIP and through each apiserver. */
async function expectAggregatedApiServes(c: Cluster): Promise<void> {
  for (const s of servers(c)) {
    const list = JSON.parse(await adminKubectl(c, ['get', '--raw', FLUNDERS], s.url)) as {
      kind: string;
      items: { metadata: { name: string } }[];
    };
    expect(list.kind, s.label).toBe('FlunderList');
    expect(
      list.items.map((i) => i.metadata.name),
      s.label,
    ).toContain('kpki-flunder');
  }
}

let robotUid = '';

/** What a token for default/robot gets: RBAC's 403 naming the service account, or 401. */
async function tokenAnswer(c: Cluster, url: string, token: string): Promise<{ status: number; body: string }> {
  const ca = await readFile(path.join(c.certDir, 'ca.crt'), 'utf8');
  return httpsRequest(`${url}/api/v1/namespaces/default/pods`, { ca, token });
}

async function serviceAccountTokens(c: Cluster): Promise<{ label: string; token: string }[]> {
  // Through cp1: while seeded faults break cp2's serving certificate, the VIP may land there.
  const issued = (await adminKubectl(c, ['create', 'token', 'robot', '-n', 'default'], c.nodes.cp1.url)).trim();
  const signedHere = signServiceAccountToken(path.join(c.certDir, 'sa.key'), { namespace: 'default', name: 'robot', uid: robotUid });
  return [
    { label: 'TokenRequest', token: issued },
    { label: 'signed with sa.key', token: signedHere },
  ];
}

async function expectServiceAccountTokensAccepted(c: Cluster, on: { label: string; url: string }[]): Promise<void> {
  for (const { label, token } of await serviceAccountTokens(c)) {
    for (const s of on) {
      const answer = await tokenAnswer(c, s.url, token);
      expect(answer.status, `${label} token via ${s.label}: ${answer.body}`).toBe(403);
      expect(answer.body).toContain('User \\"system:serviceaccount:default:robot\\" cannot list resource \\"pods\\"');
    }
  }
}

/** kubectl (Go's crypto/x509) accepts each apiserver's certificate for every name clients dial. */
async function expectServingNamesAccepted(c: Cluster): Promise<void> {
  for (const n of NODE_NAMES) {
    const node = c.nodes[n];
    for (const name of [c.vip, node.address, `kubernetes.default.svc.${DNS_DOMAIN}`, SERVICE_IP]) {
      expect(await adminKubectl(c, ['--tls-server-name', name, 'get', '--raw', '/healthz'], node.url), `${n} as ${name}`).toBe('ok');
    }
  }
}

describe('everything kpki init generates works on a real control plane', () => {
  it('the control plane starts from the kpki init PKI', () => {
    expect(live().nodes.cp2.url).toMatch(/^https:\/\/127\./);
  });

  it('kpki verify finds no problems on either node or in the shared kubeconfigs', async () => {
    const c = live();
    for (const n of NODE_NAMES) expectNoProblems(await verifyNode(c, n));
    expectNoProblems(await verifyNode(c, 'cp1', { certDir: c.certDir, kubeconfigDir: c.root }));
  });

  it('admin, super-admin, controller-manager, scheduler and kubelet kubeconfigs authenticate through the VIP and each apiserver', async () => {
    await expectKubeconfigsAuthenticate(live());
  });

  it('a kpki user kubeconfig is Forbidden until RBAC binds its group, then allowed on every apiserver', async () => {
    const c = live();
    const alice = path.join(await c.scratch('alice'), 'alice.conf');
    const issued = await c.kpki([
      'kubeconfig',
      'user',
      '--client-name',
      'alice',
      '--org',
      'devs',
      '--cert-dir',
      c.certDir,
      '--kubeconfig-dir',
      c.root,
      '--out',
      alice,
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    const before = await c.kubectl(alice, ['get', 'pods', '-n', 'default']);
    expect(before.code).not.toBe(0);
    expect(before.stderr).toContain(
      'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    await adminKubectl(c, ['create', 'rolebinding', 'devs-view', '--clusterrole', 'view', '--group', 'devs', '-n', 'default']);
    for (const s of servers(c)) {
      let last = '';
      // Each apiserver's RBAC cache sees the binding a moment after it is stored.
      await waitUntil(
        `alice allowed via ${s.label}`,
        20_000,
        async () => {
          const r = await c.kubectl(alice, ['--server', s.url, 'get', 'pods', '-n', 'default']);
          last = r.stderr;
          return r.code === 0;
        },
        () => last,
      );
    }
  });

  it('service-account tokens signed with sa.key are accepted: TokenRequest and a token signed here', async () => {
    const c = live();
    await adminKubectl(c, ['create', 'serviceaccount', 'robot', '-n', 'default']);
    robotUid = (await adminKubectl(c, ['get', 'serviceaccount', 'robot', '-n', 'default', '-o', 'jsonpath={.metadata.uid}'])).trim();
    await expectServiceAccountTokensAccepted(c, servers(c));
  });

  it('the front proxy: sample-apiserver authenticates requests the apiservers proxy for admin.conf', async () => {
    const c = live();
    const flunder = {
      apiVersion: `${WARDLE.group}/${WARDLE.version}`,
      kind: 'Flunder',
      metadata: { name: 'kpki-flunder', namespace: 'default' },
    };
    const r = await c.kubectl(c.admin, ['create', '-o', 'name', '-f', '-'], JSON.stringify(flunder));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('flunder.wardle.example.com/kpki-flunder');
    await expectAggregatedApiServes(c);
  });

  it('the front-proxy client certificate itself: the sample-apiserver takes X-Remote-User from it', async () => {
    const c = live();
    const answer = await frontProxyRequest(c, path.join(c.certDir, 'front-proxy-client'));
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'FlunderList' });
  });

  it('the controller manager signs an approved kube-apiserver-client CSR with the cluster CA, and the certificate authenticates', async () => {
    const c = live();
    const prefix = path.join(await c.scratch('csr'), 'carol');
    const made = await c.kpki([
      'kubeconfig',
      'user',
      '--client-name',
      'carol',
      '--org',
      'devs',
      '--csr-only',
      '--out',
      prefix,
      '--cert-dir',
      c.certDir,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const csr = {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name: 'carol' },
      spec: {
        request: (await readFile(`${prefix}.csr`)).toString('base64'),
        signerName: 'kubernetes.io/kube-apiserver-client',
        usages: ['digital signature', 'key encipherment', 'client auth'],
      },
    };
    const created = await c.kubectl(c.admin, ['create', '-f', '-'], JSON.stringify(csr));
    expect(created.code, created.stderr).toBe(0);
    await adminKubectl(c, ['certificate', 'approve', 'carol']);
    let issued = '';
    await waitUntil('CSR carol issued', 30_000, async () => {
      issued = await adminKubectl(c, ['get', 'csr', 'carol', '-o', 'jsonpath={.status.certificate}']);
      return issued !== '';
    });
    const cert = new X509Certificate(Buffer.from(issued, 'base64'));
    expect(cert.checkIssued(new X509Certificate(await readFile(path.join(c.certDir, 'ca.crt'))))).toBe(true);
    const answer = await httpsRequest(`${c.endpoint}/api/v1/namespaces/kube-system/secrets`, {
      ca: await readFile(path.join(c.certDir, 'ca.crt'), 'utf8'),
      cert: cert.toString(),
      key: await readFile(`${prefix}.key`, 'utf8'),
    });
    expect(answer.status, answer.body).toBe(403);
    expect(answer.body).toContain('User \\"carol\\" cannot list resource \\"secrets\\"');
  });

  it('each apiserver certificate is accepted for the VIP, its node address, kubernetes.default.svc and the service IP, not for the other node', async () => {
    const c = live();
    await expectServingNamesAccepted(c);
    const r = await c.kubectl(c.admin, ['--server', c.nodes.cp1.url, '--tls-server-name', c.nodes.cp2.address, 'get', '--raw', '/healthz']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(notValidFor(c.nodes.cp2.address));
  });
});

/**
 * What the aggregator sends the sample-apiserver: the front-proxy client certificate and
 * X-Remote-* headers naming admin.conf's user.
 */
async function frontProxyRequest(c: Cluster, proxyPrefix: string): Promise<{ status: number; body: string }> {
  return httpsRequest(
    `https://${c.wardle.address}:${c.wardle.port}${FLUNDERS}`,
    {
      ca: await readFile(path.join(c.wardle.dir, 'wardle-ca.crt'), 'utf8'),
      cert: await readFile(`${proxyPrefix}.crt`, 'utf8'),
      key: await readFile(`${proxyPrefix}.key`, 'utf8'),
      servername: `${WARDLE.service}.${WARDLE.namespace}.svc`,
    },
    { headers: { 'X-Remote-User': 'kubernetes-admin', 'X-Remote-Group': 'kubeadm:cluster-admins' } },
  );
}

/** etcdctl reading secrets' keys with etcd's CA but no client certificate. */
function etcdctlWithoutCertificate(c: Cluster) {
  return run(
    requireTool('etcdctl'),
    [
      '--endpoints',
      c.etcdUrl,
      '--cacert',
      c.nodes.cp1.pki('etcd/ca.crt'),
      '--dial-timeout',
      '2s',
      '--command-timeout',
      '5s',
      'get',
      '/registry/secrets',
      '--prefix',
      '--keys-only',
    ],
    { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 },
  );
}

/** kpki cert issue into dir/NAME.{crt,key}; returns the prefix. */
async function issue(c: Cluster, dir: string, name: string, args: string[]): Promise<string> {
  const prefix = path.join(dir, name);
  const r = await c.kpki(['cert', 'issue', '--cert-dir', c.certDir, '--out', prefix, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return prefix;
}

/** The APIService's Available condition as the apiservers last wrote it. */
async function apiServiceAvailability(c: Cluster): Promise<string> {
  const jsonpath =
    'jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].reason}: {.status.conditions[?(@.type=="Available")].message}';
  return adminKubectl(c, ['get', 'apiservice', WARDLE_APISERVICE, '-o', jsonpath], c.nodes.cp1.url);
}

/** Both apiservers fail the aggregator's discovery check with the sample-apiserver's 401. */
async function expectAggregatedApi401(c: Cluster): Promise<void> {
  let condition = '';
  await waitUntil(
    `APIService ${WARDLE_APISERVICE} unavailable with a 401`,
    60_000,
    async () => {
      condition = await apiServiceAvailability(c);
      return /^False FailedDiscoveryCheck: .*: 401$/.test(condition.trim());
    },
    () => `last condition: ${condition}`,
  );
  const r = await c.kubectl(c.admin, ['--server', c.nodes.cp1.url, 'get', '--raw', FLUNDERS]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('Error from server (ServiceUnavailable)');
}

describe('seeded faults: kpki verify reports each, and the cluster fails as the finding says', () => {
  it('a kubeconfig with the wrong CA: CHAIN_UNTRUSTED, kubectl "x509: certificate signed by unknown authority"', async () => {
    const c = live();
    const file = path.join(await c.scratch('wrong-ca'), 'admin.conf');
    const doc = parseYaml(await readFile(c.admin, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
    // The front-proxy CA: a CA of the same PKI, the classic copy-paste mix-up.
    doc.clusters[0]!.cluster['certificate-authority-data'] = (await readFile(path.join(c.certDir, 'front-proxy-ca.crt'))).toString(
      'base64',
    );
    await writeFile(file, stringifyYaml(doc), { mode: 0o600 });
    expectFinding(await verifyNode(c, 'cp1', { extra: ['--kubeconfig', file] }), 'CHAIN_UNTRUSTED', /wrong-ca\/admin\.conf/);
    const r = await c.kubectl(file, ['get', '--raw', '/healthz']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('x509: certificate signed by unknown authority');
  });

  it('admin.conf with a wrong O: IDENTITY_UNEXPECTED, RBAC Forbidden', async () => {
    const c = live();
    const dir = await c.scratch('wrong-o');
    for (const name of ['controller-manager.conf', 'scheduler.conf', 'kubelet.conf'])
      await copyFile(c.nodes.cp1.kubeconfig(name), path.join(dir, name));
    const admin = path.join(dir, 'admin.conf');
    // One letter short of kubeadm:cluster-admins, the group the ClusterRoleBinding names.
    const issued = await c.kpki([
      'kubeconfig',
      'user',
      '--client-name',
      'kubernetes-admin',
      '--org',
      'kubeadm:cluster-admin',
      '--cert-dir',
      c.certDir,
      '--kubeconfig-dir',
      c.root,
      '--out',
      admin,
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    expectFinding(await verifyNode(c, 'cp1', { kubeconfigDir: dir }), 'IDENTITY_UNEXPECTED', /admin\.conf/);
    const r = await c.kubectl(admin, ['get', 'pods', '-n', 'kube-system']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden): pods is forbidden: User "kubernetes-admin" cannot list resource "pods"');
  });

  describe('apiservers restarted with a front-proxy client whose CN is not allowed; cp2 also without the VIP in its certificate and with a foreign sa.pub', () => {
    let proxy = '';
    let roundOneLog = 0;
    beforeAllLive(async (c) => {
      roundOneLog = c.process('sample-apiserver').output.length;
      const dir = await c.scratch('round1');
      proxy = await issue(c, dir, 'proxy-cn', ['--profile', 'client', '--cn', 'kube-apiserver-proxy', '--ca', 'front-proxy']);
      const cp2 = c.nodes.cp2;
      const noVip = await issue(c, dir, 'apiserver-no-vip', [
        '--profile',
        'server',
        '--cn',
        'kube-apiserver',
        '--ca',
        'cluster',
        '--san',
        [
          'cp2',
          cp2.address,
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          `kubernetes.default.svc.${DNS_DOMAIN}`,
          SERVICE_IP,
        ].join(','),
      ]);
      const proxyFlags: FlagOverrides = { 'proxy-client-cert-file': `${proxy}.crt`, 'proxy-client-key-file': `${proxy}.key` };
      await Promise.all([
        c.restart('kube-apiserver', 'cp1', proxyFlags),
        c.restart('kube-apiserver', 'cp2', {
          ...proxyFlags,
          'tls-cert-file': `${noVip}.crt`,
          'tls-private-key-file': `${noVip}.key`,
          'service-account-key-file': await foreignPublicKey(path.join(dir, 'foreign-sa.pub')),
        }),
      ]);
    });

    it('PROXY_NAME_NOT_ALLOWED; the aggregated API answers 401 (discovery check) and kubectl gets ServiceUnavailable', async () => {
      const c = live();
      for (const n of NODE_NAMES)
        expectFinding(await verifyNode(c, n), 'PROXY_NAME_NOT_ALLOWED', /proxy-client-cert-file|requestheader-allowed-names/);
      await expectAggregatedApi401(c);
      const answer = await frontProxyRequest(c, proxy);
      expect(answer.status, answer.body).toBe(401);
      // The extension's own account of the refusal, as the finding quotes it.
      await c
        .process('sample-apiserver')
        .waitFor(/x509: subject with cn=kube-apiserver-proxy is not in the allowed list/, { from: roundOneLog, timeoutMs: 10_000 });
    });

    it('SAN_MISSING for the VIP; through the VIP cp2 serves a certificate Go refuses: "certificate is valid for …, not VIP"', async () => {
      const c = live();
      const v = await verifyNode(c, 'cp2');
      expect(expectFinding(v, 'SAN_MISSING', /tls-cert-file/).symptom).toMatch(notValidFor(c.vip));
      // haproxy alternates connections between the apiservers: within a few connections to the
      // VIP one gets cp2's certificate, which fails verification for the VIP.
      const ca = await readFile(path.join(c.certDir, 'ca.crt'), 'utf8');
      const refusals: string[] = [];
      for (let attempt = 0; attempt < 6 && !refusals.length; attempt++) {
        await httpsRequest(`${c.endpoint}/healthz`, { ca }).catch((err: NodeJS.ErrnoException) =>
          refusals.push(`${err.code}: ${err.message}`),
        );
      }
      expect(refusals.join('\n'), 'no connection through the VIP reached cp2 in six attempts').toMatch(
        /^ERR_TLS_CERT_ALTNAME_INVALID: .*IP: .* is not in the cert's list/,
      );
      // Go's verdict (kubectl) on a connection that reaches cp2 for the VIP. client-go retries a
      // failed handshake on a new connection, so through haproxy kubectl mostly lands on cp1.
      const r = await c.kubectl(c.admin, ['--server', c.nodes.cp2.url, '--tls-server-name', c.vip, 'get', '--raw', '/healthz']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(notValidFor(c.vip));
      expect(await adminKubectl(c, ['get', '--raw', '/healthz'], c.nodes.cp2.url)).toBe('ok');
    });

    it('SA_KEY_MISMATCH; cp2 answers service-account tokens with 401, cp1 still accepts them', async () => {
      const c = live();
      expectFinding(await verifyNode(c, 'cp2'), 'SA_KEY_MISMATCH', /service-account-key-file|sa\.key|sa\.pub/);
      for (const { label, token } of await serviceAccountTokens(c)) {
        const refused = await tokenAnswer(c, c.nodes.cp2.url, token);
        expect(refused.status, `${label}: ${refused.body}`).toBe(401);
        expect(JSON.parse(refused.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
      }
      await expectServiceAccountTokensAccepted(c, [{ label: 'cp1', url: c.nodes.cp1.url }]);
    });
  });

  describe('apiservers restarted with a front-proxy client signed by the cluster CA instead of the front-proxy CA, and any proxy name allowed', () => {
    let proxy = '';
    beforeAllLive(async (c) => {
      proxy = await issue(c, await c.scratch('round2'), 'proxy-cluster-ca', [
        '--profile',
        'client',
        '--cn',
        'front-proxy-client',
        '--ca',
        'cluster',
      ]);
      // Also an empty --requestheader-allowed-names: any certificate from the front-proxy CA may proxy.
      await Promise.all(
        NODE_NAMES.map((n) =>
          c.restart('kube-apiserver', n, {
            'proxy-client-cert-file': `${proxy}.crt`,
            'proxy-client-key-file': `${proxy}.key`,
            'requestheader-allowed-names': '',
          }),
        ),
      );
      // Discovery is open to every authenticated user, so the APIService turns Available again.
      await c.ready('sample-apiserver');
    });

    it('CHAIN_UNTRUSTED for --proxy-client-cert-file; the sample-apiserver takes the proxy for a user of its own: 403 for "front-proxy-client"', async () => {
      const c = live();
      // The cluster CA is also the extension's client CA (from the kube-system configmap): the
      // request is authenticated as the certificate's CN, X-Remote-User ignored, and RBAC refuses.
      const r = await c.kubectl(c.admin, ['get', '--raw', FLUNDERS]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Error from server (Forbidden)');
      expect(r.stderr).toMatch(/User \\?"front-proxy-client\\?" cannot list resource \\?"flunders\\?"/);
      const answer = await frontProxyRequest(c, proxy);
      expect(answer.status, answer.body).toBe(403);
      for (const n of NODE_NAMES) {
        const finding = expectFinding(await verifyNode(c, n), 'CHAIN_UNTRUSTED', /proxy-client-cert-file/);
        expect(finding.symptom).toMatch(/\b403\b/);
      }
    });

    it('PROXY_ANY_NAME_ALLOWED; the sample-apiserver now takes X-Remote-User from any front-proxy CA certificate', async () => {
      const c = live();
      // Extension apiservers read the names from the kube-system/extension-apiserver-authentication
      // ConfigMap, into which kube-apiserver merges its flags: names once published stay until the
      // ConfigMap is recreated, as on a new cluster. Recreate it to meet the setting as it is.
      await adminKubectl(c, ['delete', 'configmap', 'extension-apiserver-authentication', '-n', 'kube-system']);
      const stranger = await issue(c, await c.scratch('any-name'), 'stranger', [
        '--profile',
        'client',
        '--cn',
        'anyone-at-all',
        '--ca',
        'front-proxy',
      ]);
      let last = { status: 0, body: '' };
      await waitUntil(
        'the sample-apiserver to accept any proxy name',
        30_000,
        async () => {
          last = await frontProxyRequest(c, stranger);
          return last.status === 200;
        },
        () => `last answer: ${last.status} ${last.body}`,
      );
      for (const n of NODE_NAMES) expectFinding(await verifyNode(c, n), 'PROXY_ANY_NAME_ALLOWED', /requestheader-allowed-names/);
    });

    it('a front-proxy client from a CA the sample-apiserver does not know (etcd CA): CHAIN_UNTRUSTED, 401', async () => {
      const c = live();
      const foreign = await issue(c, await c.scratch('proxy-etcd-ca'), 'proxy-etcd-ca', [
        '--profile',
        'client',
        '--cn',
        'front-proxy-client',
        '--ca',
        'etcd',
      ]);
      const flags = path.join(path.dirname(foreign), 'kube-apiserver.flags');
      const running = await readFile(c.flagsFile('kube-apiserver', 'cp1'), 'utf8');
      await writeFile(
        flags,
        running
          .replace(/^--proxy-client-cert-file=.*$/m, `--proxy-client-cert-file=${foreign}.crt`)
          .replace(/^--proxy-client-key-file=.*$/m, `--proxy-client-key-file=${foreign}.key`),
      );
      const finding = expectFinding(await verifyNode(c, 'cp1', { apiserverArgs: flags }), 'CHAIN_UNTRUSTED', /proxy-client-cert-file/);
      expect(finding.symptom).toMatch(/\b401\b/);
      const wardle = c.process('sample-apiserver');
      const from = wardle.output.length;
      const answer = await frontProxyRequest(c, foreign);
      expect(answer.status, answer.body).toBe(401);
      await wardle.waitFor(/x509: certificate signed by unknown authority/, { from, timeoutMs: 10_000 });
    });
  });

  it('an etcd client certificate from the cluster CA: CHAIN_UNTRUSTED; etcd rejects the apiserver and etcdctl', async () => {
    const c = live();
    const client = await issue(c, await c.scratch('etcd-client'), 'apiserver-etcd-client', [
      '--profile',
      'client',
      '--cn',
      'kube-apiserver-etcd-client',
      '--ca',
      'cluster',
    ]);
    const etcd = c.process('etcd');
    const from = etcd.output.length;
    await c.restart('kube-apiserver', 'cp2', { 'etcd-certfile': `${client}.crt`, 'etcd-keyfile': `${client}.key` }, { waitReady: false });
    expectFinding(await verifyNode(c, 'cp2'), 'CHAIN_UNTRUSTED', /etcd-certfile/);
    await etcd.waitFor(/"msg":"rejected connection".*certificate signed by unknown authority/, { from, timeoutMs: 60_000 });
    const ctl = await run(
      requireTool('etcdctl'),
      [
        '--endpoints',
        c.etcdUrl,
        '--cacert',
        c.nodes.cp2.pki('etcd/ca.crt'),
        '--cert',
        `${client}.crt`,
        '--key',
        `${client}.key`,
        '--dial-timeout',
        '2s',
        '--command-timeout',
        '3s',
        'get',
        '/registry',
        '--prefix',
        '--keys-only',
      ],
      { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 },
    );
    expect(ctl.code).not.toBe(0);
    expect(ctl.stdout).toBe('');
  });

  it('a DER serving certificate: FILE_INVALID; kube-apiserver exits with "tls: failed to find any PEM data"', async () => {
    const c = live();
    const der = await derCopy(c.nodes.cp2.pki('apiserver.crt'), path.join(await c.scratch('der'), 'apiserver.crt'));
    const proc = await c.restart('kube-apiserver', 'cp2', { 'tls-cert-file': der }, { waitReady: false });
    await proc.waitFor(/Error: tls: failed to find any PEM data in certificate input/, { timeoutMs: 60_000 });
    expectFinding(await verifyNode(c, 'cp2'), 'FILE_INVALID', /tls-cert-file|apiserver\.crt/);
  });

  it('a serving key that is not the certificate\'s: KEY_MISMATCH; kube-apiserver exits with "tls: private key does not match public key"', async () => {
    const c = live();
    // cp1's key: a key of the same cluster, the mix-up that happens when copying node directories.
    const proc = await c.restart(
      'kube-apiserver',
      'cp2',
      { 'tls-private-key-file': c.nodes.cp1.pki('apiserver.key') },
      { waitReady: false },
    );
    await proc.waitFor(/Error: tls: private key does not match public key/, { timeoutMs: 60_000 });
    expectFinding(await verifyNode(c, 'cp2'), 'KEY_MISMATCH', /tls-private-key-file|tls-cert-file|apiserver\.(crt|key)/);
  });

  it('a client certificate as serving certificate: USAGE_INCOMPATIBLE; kubectl "x509: certificate specifies an incompatible key usage"', async () => {
    const c = live();
    const cp2 = c.nodes.cp2;
    const names = [
      'cp2',
      cp2.address,
      c.vip,
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      `kubernetes.default.svc.${DNS_DOMAIN}`,
      SERVICE_IP,
    ];
    const clientCert = await issue(c, await c.scratch('usage'), 'apiserver-client-usage', [
      '--profile',
      'client',
      '--cn',
      'kube-apiserver',
      '--san',
      names.join(','),
      '--ca',
      'cluster',
    ]);
    const proc = await c.restart(
      'kube-apiserver',
      'cp2',
      { 'tls-cert-file': `${clientCert}.crt`, 'tls-private-key-file': `${clientCert}.key` },
      { waitReady: false },
    );
    await proc.waitFor(/Serving securely on/, { timeoutMs: 90_000 });
    expectFinding(await verifyNode(c, 'cp2'), 'USAGE_INCOMPATIBLE', /tls-cert-file/);
    const direct = await c.kubectl(c.admin, ['--server', cp2.url, 'get', '--raw', '/healthz']);
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('x509: certificate specifies an incompatible key usage');
  });

  it('a leaf as --client-ca-file: NOT_CA; every client certificate gets "You must be logged in to the server (Unauthorized)"', async () => {
    const c = live();
    const cp2 = c.nodes.cp2;
    const proc = await c.restart('kube-apiserver', 'cp2', { 'client-ca-file': cp2.pki('apiserver.crt') }, { waitReady: false });
    await proc.waitFor(/Serving securely on/, { timeoutMs: 90_000 });
    const r = await c.kubectl(c.admin, ['--server', cp2.url, 'get', 'pods', '-n', 'default']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error: You must be logged in to the server (Unauthorized)');
    expectFinding(await verifyNode(c, 'cp2'), 'NOT_CA', /client-ca-file/);
  });

  it("etcd without client-certificate auth: ETCD_CLIENT_AUTH_OFF; etcdctl without any certificate reads the cluster's keys", async () => {
    const c = live();
    await c.restart('etcd', 'cp1', { 'client-cert-auth': 'false', 'trusted-ca-file': null });
    const ctl = await etcdctlWithoutCertificate(c);
    expect(ctl.code, ctl.stderr).toBe(0);
    expect(ctl.stdout).toContain('/registry/secrets/kube-system/');
    expectFinding(await verifyNode(c, 'cp1'), 'ETCD_CLIENT_AUTH_OFF', /client-cert-auth|trusted-ca-file|etcd/);
  });

  it('etcd with --client-cert-auth=false but a --trusted-ca-file still demands client certificates: no ETCD_CLIENT_AUTH_OFF', async () => {
    const c = live();
    // etcd's TLS server requires and verifies client certificates whenever it has a client CA.
    await c.restart('etcd', 'cp1', { 'client-cert-auth': 'false' });
    const ctl = await etcdctlWithoutCertificate(c);
    expect(ctl.code).not.toBe(0);
    expect(ctl.stdout).toBe('');
    const v = await verifyNode(c, 'cp1');
    expect(
      v.findings.filter((f) => f.code === 'ETCD_CLIENT_AUTH_OFF'),
      JSON.stringify(v.findings, null, 2),
    ).toEqual([]);
  });

  describe('once the seeded faults are undone', () => {
    beforeAllLive(async (c) => {
      await c.restart('etcd', 'cp1');
      await Promise.all(NODE_NAMES.map((n) => c.restart('kube-apiserver', n)));
      await c.ready('sample-apiserver');
    });

    it('kpki verify finds no problems again and every request succeeds', async () => {
      const c = live();
      for (const n of NODE_NAMES) expectNoProblems(await verifyNode(c, n));
      await expectKubeconfigsAuthenticate(c);
      await expectServiceAccountTokensAccepted(c, servers(c));
      await expectAggregatedApiServes(c);
      await expectServingNamesAccepted(c);
    });
  });
});

/**
 * Go's crypto/x509 and crypto/tls as the peer: the exact verification Kubernetes components run
 * (x509.VerifyOptions with Roots, KeyUsages and DNSName) and tls.LoadX509KeyPair, through the
 * goverify program in ./goverify, built once per run with the Debian Go 1.19 toolchain.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CA_NAMES,
  KUBEADM_FIXTURE,
  type CaName,
  type Leaf,
  type Pki,
  type PkiSource,
  Resources,
  describeRun,
  hostOf,
  isIp,
  kpkiSource,
  leafPlan,
  requireTool,
  runOk,
  usePki,
} from './helpers.js';

const go = requireTool('go');
const res = new Resources();
afterAll(() => res.dispose());

const GOVERIFY_SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'goverify');
let goverify!: string;

beforeAll(async () => {
  const dir = await res.tempDir('goverify');
  goverify = path.join(dir, 'goverify');
  await runOk(go, ['build', '-o', goverify, '.'], {
    cwd: GOVERIFY_SRC,
    env: {
      GOFLAGS: '-mod=mod',
      GOTOOLCHAIN: 'local',
      GOCACHE: path.join(dir, 'gocache'),
      GOPATH: path.join(dir, 'gopath'),
      CGO_ENABLED: '0',
    },
    timeoutMs: 180_000,
  });
}, 200_000);

type Usage = 'server' | 'client' | 'any';

interface VerifyCheck {
  kind: 'verify';
  cert: string;
  roots: string;
  usage: Usage;
  host?: string;
  at?: string;
}

interface KeypairCheck {
  kind: 'keypair';
  cert: string;
  key: string;
}

type Check = VerifyCheck | KeypairCheck;

interface Result {
  ok: boolean;
  error: string;
}

/** Runs checks through goverify; results come back in order. */
async function goCheck(checks: Check[]): Promise<Result[]> {
  const r = await runOk(goverify, [], { input: JSON.stringify(checks), timeoutMs: 30_000 });
  const results = JSON.parse(r.stdout) as Result[];
  if (results.length !== checks.length) throw new Error(`goverify answered ${results.length} of ${checks.length} checks:\n${describeRun(r)}`);
  return results;
}

/** Verify `leaf` for `usage` against its CA (or `roots`), at the PKI's check time unless `at`. */
function verifyCheck(pki: Pki, leaf: Leaf, usage: Usage, opts: { roots?: CaName; host?: string; at?: string } = {}): VerifyCheck {
  const at = opts.at ?? pki.at?.toISOString();
  return {
    kind: 'verify',
    cert: leaf.cert,
    roots: pki.caCert(opts.roots ?? leaf.ca),
    usage,
    ...(opts.host === undefined ? {} : { host: opts.host }),
    ...(at === undefined ? {} : { at }),
  };
}

/** Runs one check per item and pairs results with a label, so a failure names its case. */
async function checkAll<T>(items: T[], label: (item: T) => string, check: (item: T) => Check): Promise<Record<string, Result>> {
  const results = await goCheck(items.map(check));
  return Object.fromEntries(items.map((item, i) => [label(item), results[i]!]));
}

const OK: Result = { ok: true, error: '' };
const fail = (error: string): Result => ({ ok: false, error });

const SOURCES: PkiSource[] = [kpkiSource('rsa-2048'), KUBEADM_FIXTURE];

for (const source of SOURCES) {
  describe(source.label, () => {
    const pki = usePki(res, source);
    const plan = leafPlan(source);

    it.each(plan.map((l) => [l.id, l.usages.join('+')]))('%s verifies for %s against its CA', async (id) => {
      const leaf = pki().leaf(id);
      const usages: Usage[] = [...leaf.usages, 'any'];
      expect(await checkAll(usages, (u) => u, (u) => verifyCheck(pki(), leaf, u))).toEqual(
        Object.fromEntries(usages.map((u) => [u, OK])),
      );
    });

    it.each(plan.filter((l) => l.usages.includes('server')).map((l) => l.id))('%s is valid for every expected host name and IP', async (id) => {
      const leaf = pki().leaf(id);
      const hosts = [...leaf.dnsSans, ...leaf.ipSans];
      expect(hosts.length).toBeGreaterThan(0);
      expect(await checkAll(hosts, (h) => h, (host) => verifyCheck(pki(), leaf, 'server', { host }))).toEqual(
        Object.fromEntries(hosts.map((h) => [h, OK])),
      );
    });

    it('apiserver covers what clients dial: node name, service names, service VIP, advertise address, endpoint host', async () => {
      const s = source.settings;
      const hosts = [
        s.nodeName,
        'kubernetes.default.svc.cluster.local',
        'kubernetes.default.svc',
        'kubernetes',
        '10.96.0.1',
        s.advertiseAddress,
        hostOf(s.controlPlaneEndpoint),
        ...s.apiserverExtraSans,
        // Go ignores one trailing dot and letter case, as every Kubernetes client does.
        'KUBERNETES.default.svc.cluster.local.',
      ];
      const leaf = pki().leaf('apiserver');
      expect(await checkAll(hosts, (h) => h, (host) => verifyCheck(pki(), leaf, 'server', { host }))).toEqual(
        Object.fromEntries(hosts.map((h) => [h, OK])),
      );
    });

    it('etcd server and peer cover localhost, 127.0.0.1 and ::1 (what the apiserver and etcdctl dial)', async () => {
      const cases = ['etcd/server', 'etcd/peer'].flatMap((id) => ['localhost', '127.0.0.1', '::1', source.settings.nodeName, source.settings.advertiseAddress].map((host) => ({ id, host })));
      expect(await checkAll(cases, (c) => `${c.id} ${c.host}`, (c) => verifyCheck(pki(), pki().leaf(c.id), 'server', { host: c.host }))).toEqual(
        Object.fromEntries(cases.map((c) => [`${c.id} ${c.host}`, OK])),
      );
    });

    it('apiserver is not valid for a name or IP outside its SANs (Go lists the SANs of the same kind)', async () => {
      const leaf = pki().leaf('apiserver');
      const results = await checkAll(['localhost', 'k8s-api.example.com', '192.0.2.1', '::1'], (h) => h, (host) => verifyCheck(pki(), leaf, 'server', { host }));
      const dns = leaf.dnsSans.join(', ');
      const ips = leaf.ipSans.join(', ');
      expect(results).toEqual({
        localhost: fail(`x509: certificate is valid for ${dns}, not localhost`),
        'k8s-api.example.com': fail(`x509: certificate is valid for ${dns}, not k8s-api.example.com`),
        '192.0.2.1': fail(`x509: certificate is valid for ${ips}, not 192.0.2.1`),
        '::1': fail(`x509: certificate is valid for ${ips}, not ::1`),
      });
    });

    const etcdExtras = source.settings.etcdServerExtraSans;
    if (etcdExtras.length > 0) it(`etcd server extra SANs (${etcdExtras.join(', ')}) are in etcd/server only, not in etcd/peer`, async () => {
      const extras = etcdExtras;
      const peer = pki().leaf('etcd/peer');
      const expected: Record<string, Result> = {};
      for (const host of extras) {
        expected[`etcd/server ${host}`] = OK;
        expected[`etcd/peer ${host}`] = fail(`x509: certificate is valid for ${(isIp(host) ? peer.ipSans : peer.dnsSans).join(', ')}, not ${host}`);
      }
      const cases = extras.flatMap((host) => ['etcd/server', 'etcd/peer'].map((id) => ({ id, host })));
      expect(await checkAll(cases, (c) => `${c.id} ${c.host}`, (c) => verifyCheck(pki(), pki().leaf(c.id), 'server', { host: c.host }))).toEqual(expected);
    });

    it('client-only certs are refused as serving certs and serving-only certs as client certs', async () => {
      const misuse = plan.flatMap((l) => (['server', 'client'] as const).filter((u) => !l.usages.includes(u)).map((usage) => ({ id: l.id, usage })));
      expect(misuse.length).toBe(plan.length - 2); // all but etcd server/peer lack one usage
      expect(await checkAll(misuse, (m) => `${m.id} as ${m.usage}`, (m) => verifyCheck(pki(), pki().leaf(m.id), m.usage))).toEqual(
        Object.fromEntries(misuse.map((m) => [`${m.id} as ${m.usage}`, fail('x509: certificate specifies an incompatible key usage')])),
      );
    });

    it('every leaf is refused by the two CAs that did not sign it', async () => {
      const cases = plan.flatMap((l) => CA_NAMES.filter((ca) => ca !== l.ca).map((roots) => ({ id: l.id, roots })));
      expect(await checkAll(cases, (c) => `${c.id} vs ${c.roots}`, (c) => verifyCheck(pki(), pki().leaf(c.id), 'any', { roots: c.roots }))).toEqual(
        Object.fromEntries(cases.map((c) => [`${c.id} vs ${c.roots}`, fail('x509: certificate signed by unknown authority')])),
      );
    });

    it('leaves are refused before their validity starts and after it ends', async () => {
      const leaf = pki().leaf('apiserver');
      const [early, late] = await goCheck([
        verifyCheck(pki(), leaf, 'server', { at: '2000-01-01T00:00:00Z' }),
        verifyCheck(pki(), leaf, 'server', { at: '2100-01-01T00:00:00Z' }),
      ]);
      const rfc3339 = '20\\d\\d-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
      const prefix = 'x509: certificate has expired or is not yet valid: current time';
      expect(early).toEqual({ ok: false, error: expect.stringMatching(new RegExp(`^${prefix} 2000-01-01T00:00:00Z is before ${rfc3339}$`)) });
      expect(late).toEqual({ ok: false, error: expect.stringMatching(new RegExp(`^${prefix} 2100-01-01T00:00:00Z is after ${rfc3339}$`)) });
    });

    it('every certificate/key pair loads with tls.LoadX509KeyPair', async () => {
      const pairs = [
        ...CA_NAMES.map((ca) => ({ id: ca, cert: pki().caCert(ca), key: pki().caKey(ca) })),
        ...pki().allLeaves.map((l) => ({ id: l.id, cert: l.cert, key: l.key })),
      ];
      expect(await checkAll(pairs, (p) => p.id, (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }))).toEqual(
        Object.fromEntries(pairs.map((p) => [p.id, OK])),
      );
    });

    it('a key from another pair is refused with Go\'s exact message', async () => {
      const leaves = pki().allLeaves;
      const swapped = leaves.map((l, i) => ({ id: l.id, cert: l.cert, key: leaves[(i + 1) % leaves.length]!.key }));
      expect(await checkAll(swapped, (p) => p.id, (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }))).toEqual(
        Object.fromEntries(swapped.map((p) => [p.id, fail('tls: private key does not match public key')])),
      );
    });
  });
}

/**
 * Go's crypto/x509 and crypto/tls as the peer: the exact verification Kubernetes components run
 * (x509.VerifyOptions with Roots, KeyUsages and DNSName) and tls.LoadX509KeyPair, through the
 * goverify program in ./goverify, built once per run with the Debian Go 1.19 toolchain.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CA_NAMES,
  KUBEADM_FIXTURE,
  type CaName,
  type Leaf,
  type Pki,
  type PkiSource,
  Resources,
  hostOf,
  isIp,
  kpkiSource,
  leafPlan,
  usePki,
} from './helpers.js';
import { useGoverify, type Check, type Result, type Usage, type VerifyCheck } from './goverify.js';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificates, parseKey } from '../../src/pki/pem.js';
import { verifyCertificate } from '../../src/pki/verify.js';

const res = new Resources();
afterAll(() => res.dispose());

const goCheck = useGoverify(res);

const KPKI_USAGE = { server: 'serverAuth', client: 'clientAuth', any: 'any' } as const;

/** The same check through kpki's own verifier, which `kpki verify` uses to predict Go's verdict. */
async function kpkiCheck(check: Check): Promise<Result> {
  if (check.kind === 'keypair') {
    const [cert] = parseCertificates(await readFile(check.cert), check.cert);
    const key = parseKey(await readFile(check.key), check.key);
    return sameKeyPair(key, publicKeyObject(cert!)) ? OK : fail('tls: private key does not match public key');
  }
  const [leaf, ...intermediates] = parseCertificates(await readFile(check.cert), check.cert);
  const result = await verifyCertificate(leaf!, {
    roots: parseCertificates(await readFile(check.roots), check.roots),
    intermediates,
    usage: KPKI_USAGE[check.usage],
    host: check.host,
    now: check.at ? new Date(check.at) : new Date(),
  });
  return result.ok ? OK : fail(result.error);
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

/**
 * Runs one goverify check per item and compares every result with `expected`, keyed by label so
 * a failure names each case that went wrong.
 */
async function expectGo<T>(items: T[], label: (item: T) => string, check: (item: T) => Check, expected: (item: T) => Result): Promise<void> {
  expect(items.length, 'no cases').toBeGreaterThan(0);
  const checks = items.map(check);
  const results = await goCheck(checks);
  const table = (f: (item: T, i: number) => Result): Record<string, Result> => Object.fromEntries(items.map((item, i) => [label(item), f(item, i)]));
  expect(table((_, i) => results[i]!)).toEqual(table((item) => expected(item)));
  // kpki verify reports what Go would say: its verifier must agree with Go on every case.
  const kpkiResults = await Promise.all(checks.map(kpkiCheck));
  expect(table((_, i) => kpkiResults[i]!), 'kpki verifier vs Go crypto/x509').toEqual(table((_, i) => results[i]!));
}

const OK: Result = { ok: true, error: '' };
const fail = (error: string): Result => ({ ok: false, error });
const always = (result: Result) => (): Result => result;

/** Go's RFC 3339 rendering of a certificate time (UTC, whole seconds). */
async function goTime(cert: string, field: 'validFrom' | 'validTo'): Promise<string> {
  return new Date(new X509Certificate(await readFile(cert))[field]).toISOString().replace('.000Z', 'Z');
}

const SOURCES: PkiSource[] = [kpkiSource('rsa-2048'), KUBEADM_FIXTURE];

for (const source of SOURCES) {
  describe(source.label, () => {
    const pki = usePki(res, source);
    const plan = leafPlan(source);
    const s = source.settings;

    it.each(plan.map((l) => [l.id, l.usages.join('+')]))('%s verifies for %s (and any) against its CA', async (id) => {
      const leaf = pki().leaf(id);
      await expectGo([...leaf.usages, 'any' as const], (u) => u, (u) => verifyCheck(pki(), leaf, u), always(OK));
    });

    it.each(plan.filter((l) => l.usages.includes('server')).map((l) => l.id))('%s is valid for every name and IP it should carry', async (id) => {
      const leaf = pki().leaf(id);
      await expectGo([...leaf.dnsSans, ...leaf.ipSans], (h) => h, (host) => verifyCheck(pki(), leaf, 'server', { host }), always(OK));
    });

    it('apiserver covers what clients dial: node name, service names, service VIP, advertise address, endpoint host', async () => {
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
      await expectGo(hosts, (h) => h, (host) => verifyCheck(pki(), pki().leaf('apiserver'), 'server', { host }), always(OK));
    });

    it('etcd server and peer cover localhost, 127.0.0.1, ::1, node name and advertise address', async () => {
      const cases = ['etcd/server', 'etcd/peer'].flatMap((id) => ['localhost', '127.0.0.1', '::1', s.nodeName, s.advertiseAddress].map((host) => ({ id, host })));
      await expectGo(cases, (c) => `${c.id} ${c.host}`, (c) => verifyCheck(pki(), pki().leaf(c.id), 'server', { host: c.host }), always(OK));
    });

    it('apiserver is not valid for a name or IP outside its SANs (Go lists the SANs of the same kind)', async () => {
      const leaf = pki().leaf('apiserver');
      await expectGo(
        ['localhost', 'k8s-api.example.com', '192.0.2.1', '::1'],
        (h) => h,
        (host) => verifyCheck(pki(), leaf, 'server', { host }),
        (host) => fail(`x509: certificate is valid for ${(isIp(host) ? leaf.ipSans : leaf.dnsSans).join(', ')}, not ${host}`),
      );
    });

    if (s.etcdServerExtraSans.length > 0) {
      it(`etcd server extra SANs (${s.etcdServerExtraSans.join(', ')}) are in etcd/server only, not in etcd/peer`, async () => {
        const peer = pki().leaf('etcd/peer');
        await expectGo(
          s.etcdServerExtraSans.flatMap((host) => ['etcd/server', 'etcd/peer'].map((id) => ({ id, host }))),
          (c) => `${c.id} ${c.host}`,
          (c) => verifyCheck(pki(), pki().leaf(c.id), 'server', { host: c.host }),
          (c) => (c.id === 'etcd/server' ? OK : fail(`x509: certificate is valid for ${(isIp(c.host) ? peer.ipSans : peer.dnsSans).join(', ')}, not ${c.host}`)),
        );
      });
    }

    it('client-only certs are refused as serving certs and serving-only certs as client certs', async () => {
      const misuse = plan.flatMap((l) => (['server', 'client'] as const).filter((u) => !l.usages.includes(u)).map((usage) => ({ id: l.id, usage })));
      expect(misuse.length).toBe(plan.length - 2); // all but etcd server/peer lack one usage
      await expectGo(misuse, (m) => `${m.id} as ${m.usage}`, (m) => verifyCheck(pki(), pki().leaf(m.id), m.usage), always(fail('x509: certificate specifies an incompatible key usage')));
    });

    it('every leaf is refused by the two CAs that did not sign it', async () => {
      const cases = plan.flatMap((l) => CA_NAMES.filter((ca) => ca !== l.ca).map((roots) => ({ id: l.id, roots })));
      await expectGo(cases, (c) => `${c.id} vs ${c.roots}`, (c) => verifyCheck(pki(), pki().leaf(c.id), 'any', { roots: c.roots }), always(fail('x509: certificate signed by unknown authority')));
    });

    it('every leaf is refused before its NotBefore and after its NotAfter', async () => {
      const prefix = 'x509: certificate has expired or is not yet valid: current time';
      const [early, late] = ['2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z'];
      const cases = plan.flatMap((l) => [early, late].map((at) => ({ id: l.id, at: at! })));
      const times = new Map<string, { from: string; to: string }>();
      for (const l of pki().allLeaves) times.set(l.id, { from: await goTime(l.cert, 'validFrom'), to: await goTime(l.cert, 'validTo') });
      await expectGo(
        cases,
        (c) => `${c.id} at ${c.at}`,
        (c) => verifyCheck(pki(), pki().leaf(c.id), 'any', { at: c.at }),
        (c) => fail(c.at === early ? `${prefix} ${c.at} is before ${times.get(c.id)!.from}` : `${prefix} ${c.at} is after ${times.get(c.id)!.to}`),
      );
    });

    it('every certificate/key pair loads with tls.LoadX509KeyPair', async () => {
      const pairs = [
        ...CA_NAMES.map((ca) => ({ id: ca, cert: pki().caCert(ca), key: pki().caKey(ca) })),
        ...pki().allLeaves.map((l) => ({ id: l.id, cert: l.cert, key: l.key })),
      ];
      await expectGo(pairs, (p) => p.id, (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }), always(OK));
    });

    it("a key from another pair is refused with Go's exact message", async () => {
      const leaves = pki().allLeaves;
      const swapped = leaves.map((l, i) => ({ id: l.id, cert: l.cert, key: leaves[(i + 1) % leaves.length]!.key }));
      await expectGo(swapped, (p) => p.id, (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }), always(fail('tls: private key does not match public key')));
    });
  });
}

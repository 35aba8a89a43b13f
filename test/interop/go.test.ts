/**
 * Go's crypto/x509 and crypto/tls as the peer: the exact verification Kubernetes components run
 * (x509.VerifyOptions with Roots, KeyUsages and DNSName) and tls.LoadX509KeyPair, through the
 * goverify program in ./goverify, built once per run with the Debian Go 1.23 toolchain.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import {
  CA_EXT,
  CHECK_TIME,
  ChainFactory,
  leafExt,
  withDuplicateExtension,
  withOuterSignatureAlgorithm,
  type IssueOptions,
  type Issued,
} from './gochains.js';
import { KpkiError } from '../../src/errors.js';
import { REPO_ROOT } from '../support/tmp.js';
import { publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificates, parseKey } from '../../src/pki/pem.js';
import { verifyCertificate } from '../../src/pki/verify.js';

const res = new Resources();
afterAll(() => res.dispose());

const goCheck = useGoverify(res);

const KPKI_USAGE = { server: 'serverAuth', client: 'clientAuth', any: 'any' } as const;

/**
 * The same check through kpki's own loader and verifier, which `kpki verify` uses to predict
 * Go's verdict. A file kpki refuses to load is a KpkiError whose message is `<file>: <Go's
 * parse error>`, which is also how goverify reports a file Go cannot parse.
 */
async function kpkiCheck(check: Check): Promise<Result> {
  try {
    return await kpkiVerdict(check);
  } catch (error) {
    if (error instanceof KpkiError) return fail(error.message);
    throw error;
  }
}

async function kpkiVerdict(check: Check): Promise<Result> {
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
async function expectGo<T>(
  items: T[],
  label: (item: T) => string,
  check: (item: T) => Check,
  expected: (item: T) => Result,
): Promise<void> {
  expect(items.length, 'no cases').toBeGreaterThan(0);
  const checks = items.map(check);
  const results = await goCheck(checks);
  const table = (f: (item: T, i: number) => Result): Record<string, Result> =>
    Object.fromEntries(items.map((item, i) => [label(item), f(item, i)]));
  expect(table((_, i) => results[i]!)).toEqual(table((item) => expected(item)));
  // kpki verify reports what Go would say: its verifier must agree with Go on every case.
  const kpkiResults = await Promise.all(checks.map(kpkiCheck));
  expect(
    table((_, i) => kpkiResults[i]!),
    'kpki verifier vs Go crypto/x509',
  ).toEqual(table((_, i) => results[i]!));
}

const OK: Result = { ok: true, error: '' };
const fail = (error: string): Result => ({ ok: false, error });
const always = (result: Result) => (): Result => result;

/** Go's RFC 3339 rendering of a certificate time (UTC, whole seconds). */
async function goTime(cert: string, field: 'validFrom' | 'validTo'): Promise<string> {
  return new Date(new X509Certificate(await readFile(cert))[field]).toISOString().replace('.000Z', 'Z');
}

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures');

const SOURCES: PkiSource[] = [kpkiSource('rsa-2048'), KUBEADM_FIXTURE];

/**
 * Chains made with openssl for each rule of Go's parser and Certificate.Verify that kubeadm's
 * own PKI never exercises: name constraints, path length, critical extensions, what Go refuses
 * to parse, empty KeyUsage, expired intermediates, signature algorithm mismatches. Each case
 * states Go's exact verdict; Go 1.23 must give it and kpki must agree with Go.
 */
describe('generated chains (openssl) against Go crypto/x509', () => {
  let f!: ChainFactory;
  let root!: Issued;
  let mid!: Issued;
  beforeAll(async () => {
    f = new ChainFactory(await res.tempDir('gochains'));
    root = await f.issue({ cn: 'Root CA', ext: CA_EXT });
    mid = await f.issue({ cn: 'Intermediate CA', issuer: root, ext: [...CA_EXT, 'authorityKeyIdentifier = keyid'] });
  }, 120_000);

  const SANS = 'subjectAltName = DNS:app.example.test,IP:10.0.0.5';
  const leaf = (cn: string, issuer: Issued, ...ext: string[]) =>
    f.issue({ cn, issuer, ext: leafExt('authorityKeyIdentifier = keyid', ...(ext.length ? ext : [SANS])) });
  const ca = (o: Omit<IssueOptions, 'ext'> & { ext?: string[] }) =>
    f.issue({ ...o, ext: [...CA_EXT, ...(o.issuer ? ['authorityKeyIdentifier = keyid'] : []), ...(o.ext ?? [])] });

  interface Case {
    label: string;
    /** Leaf first, then the intermediates sent with it. */
    chain: (Issued | string)[];
    roots: (Issued | string)[];
    usage?: Usage;
    host?: string;
    at?: string;
    expected: Result;
  }

  async function expectCases(make: () => Promise<Case[]>): Promise<void> {
    const cases = await make();
    const checks = new Map<string, VerifyCheck>();
    for (const [i, c] of cases.entries()) {
      const name = `case${i}`;
      checks.set(c.label, {
        kind: 'verify',
        cert: await f.bundle(`${name}-chain`, c.chain),
        roots: await f.bundle(`${name}-roots`, c.roots),
        usage: c.usage ?? 'any',
        at: c.at ?? CHECK_TIME,
        ...(c.host ? { host: c.host } : {}),
      });
    }
    await expectGo(
      cases,
      (c) => c.label,
      (c) => checks.get(c.label)!,
      (c) =>
        c.expected.ok
          ? OK
          : fail(c.expected.error.replace('<chain>', checks.get(c.label)!.cert).replace('<roots>', checks.get(c.label)!.roots)),
    );
  }

  const notAuthorizedForName = (detail: string) =>
    fail(`x509: a root or intermediate certificate is not authorized to sign for this name: ${detail}`);

  it('name constraints: permitted and excluded DNS, IP, email and URI subtrees, on roots and intermediates', async () => {
    await expectCases(async () => {
      const dnsRoot = await ca({ cn: 'DNS Permitted Root', ext: ['nameConstraints = critical,permitted;DNS:example.test'] });
      const ipRoot = await ca({ cn: 'IP Permitted Root', ext: ['nameConstraints = critical,permitted;IP:10.0.0.0/255.0.0.0'] });
      const ipExcludedRoot = await ca({ cn: 'IP Excluded Root', ext: ['nameConstraints = critical,excluded;IP:10.0.0.0/255.255.255.0'] });
      const emailRoot = await ca({ cn: 'Email Root', ext: ['nameConstraints = critical,permitted;email:example.test'] });
      const uriRoot = await ca({ cn: 'URI Root', ext: ['nameConstraints = critical,permitted;URI:.example.test'] });
      const excludingMid = await ca({
        cn: 'Excluding Intermediate',
        issuer: root,
        ext: ['nameConstraints = critical,excluded;DNS:bad.example.test'],
      });
      return [
        { label: 'DNS inside permitted', chain: [await leaf('dns-ok', dnsRoot)], roots: [dnsRoot], expected: OK },
        {
          label: 'DNS outside permitted',
          chain: [await leaf('dns-out', dnsRoot, 'subjectAltName = DNS:app.other.test')],
          roots: [dnsRoot],
          expected: notAuthorizedForName('DNS name "app.other.test" is not permitted by any constraint'),
        },
        {
          label: 'DNS excluded by an intermediate',
          chain: [await leaf('dns-excluded', excludingMid, 'subjectAltName = DNS:x.bad.example.test'), excludingMid],
          roots: [root],
          expected: notAuthorizedForName('DNS name "x.bad.example.test" is excluded by constraint "bad.example.test"'),
        },
        {
          label: 'DNS beside the excluded subtree',
          chain: [await leaf('dns-beside', excludingMid, 'subjectAltName = DNS:notbad.example.test'), excludingMid],
          roots: [root],
          expected: OK,
        },
        {
          label: 'IP inside permitted',
          chain: [await leaf('ip-ok', ipRoot, 'subjectAltName = IP:10.1.2.3')],
          roots: [ipRoot],
          expected: OK,
        },
        {
          label: 'IP outside permitted',
          chain: [await leaf('ip-out', ipRoot, 'subjectAltName = IP:192.168.1.1')],
          roots: [ipRoot],
          expected: notAuthorizedForName('IP address "192.168.1.1" is not permitted by any constraint'),
        },
        {
          label: 'IP excluded',
          chain: [await leaf('ip-excluded', ipExcludedRoot, 'subjectAltName = IP:10.0.0.5')],
          roots: [ipExcludedRoot],
          expected: notAuthorizedForName('IP address "10.0.0.5" is excluded by constraint "10.0.0.0/24"'),
        },
        {
          label: 'email inside permitted',
          chain: [await leaf('email-ok', emailRoot, 'subjectAltName = email:ops@example.test')],
          roots: [emailRoot],
          expected: OK,
        },
        {
          label: 'email outside permitted',
          chain: [await leaf('email-out', emailRoot, 'subjectAltName = email:ops@other.test')],
          roots: [emailRoot],
          expected: notAuthorizedForName('email address "ops@other.test" is not permitted by any constraint'),
        },
        {
          label: 'URI inside permitted',
          chain: [await leaf('uri-ok', uriRoot, 'subjectAltName = URI:spiffe://svc.example.test/ns/a')],
          roots: [uriRoot],
          expected: OK,
        },
        {
          label: 'URI outside permitted',
          chain: [await leaf('uri-out', uriRoot, 'subjectAltName = URI:spiffe://evil.test/ns/a')],
          roots: [uriRoot],
          expected: notAuthorizedForName('URI "spiffe://evil.test/ns/a" is not permitted by any constraint'),
        },
      ];
    });
  });

  it('malformed name constraints make Go refuse the CA certificate when it loads it', async () => {
    await expectCases(async () => {
      const target = await leaf('nc-target', root);
      const bad = async (cn: string, der: string) => ca({ cn, ext: [`2.5.29.30 = critical,DER:${der}`] });
      return [
        {
          label: 'no subtrees',
          chain: [target],
          roots: [await bad('NC Empty', '30:00')],
          expected: fail('<roots>: x509: empty name constraints extension'),
        },
        {
          label: 'IP subtree of 3 bytes',
          chain: [target],
          roots: [await bad('NC IP Length', '30:09:a0:07:30:05:87:03:0a:00:00')],
          expected: fail('<roots>: x509: IP constraint contained value of length 3'),
        },
        {
          label: 'IP subtree with a non-contiguous mask',
          chain: [target],
          roots: [await bad('NC IP Mask', '30:0e:a0:0c:30:0a:87:08:0a:00:00:00:ff:00:ff:00')],
          expected: fail('<roots>: x509: IP constraint contained invalid mask ff00ff00'),
        },
        {
          label: 'DNS subtree with an empty label',
          chain: [target],
          roots: [await bad('NC DNS Label', '30:0b:a0:09:30:07:82:05:61:2e:2e:62:63')],
          expected: fail('<roots>: x509: failed to parse dnsName constraint "a..bc"'),
        },
      ];
    });
  });

  it('pathLenConstraint, counting self-issued intermediates as Go does', async () => {
    await expectCases(async () => {
      const pathLen0 = await ca({ cn: 'PathLen0 Root', ext: ['basicConstraints = critical,CA:TRUE,pathlen:0'] });
      const pathLen1 = await ca({ cn: 'PathLen1 Root', ext: ['basicConstraints = critical,CA:TRUE,pathlen:1'] });
      const under0 = await ca({ cn: 'Under PathLen0', issuer: pathLen0 });
      const under1 = await ca({ cn: 'Under PathLen1', issuer: pathLen1 });
      // Same subject as its issuer, new key: RFC 5280 would not count it, Go does.
      const selfIssued = await ca({ cn: 'PathLen0 Root', file: 'self-issued', issuer: pathLen0 });
      const zeroMid = await ca({ cn: 'PathLen0 Intermediate', issuer: root, ext: ['basicConstraints = critical,CA:TRUE,pathlen:0'] });
      return [
        {
          label: 'root pathlen 0, one intermediate',
          chain: [await leaf('pl0', under0), under0],
          roots: [pathLen0],
          expected: fail('x509: too many intermediates for path length constraint'),
        },
        { label: 'root pathlen 1, one intermediate', chain: [await leaf('pl1', under1), under1], roots: [pathLen1], expected: OK },
        {
          label: 'root pathlen 0, self-issued intermediate',
          chain: [await leaf('pl-self', selfIssued), selfIssued],
          roots: [pathLen0],
          expected: fail('x509: too many intermediates for path length constraint'),
        },
        { label: 'root pathlen 0, leaf directly', chain: [await leaf('pl0-direct', pathLen0)], roots: [pathLen0], expected: OK },
        { label: 'intermediate pathlen 0, leaf directly', chain: [await leaf('pl0-mid', zeroMid), zeroMid], roots: [root], expected: OK },
      ];
    });
  });

  it('an unhandled critical extension fails the leaf, an intermediate or a root; a non-critical one does not', async () => {
    const critical = '1.3.6.1.4.1.55555.1 = critical,DER:05:00';
    await expectCases(async () => {
      const criticalMid = await ca({ cn: 'Critical Intermediate', issuer: root, ext: [critical] });
      const criticalRoot = await ca({ cn: 'Critical Root', ext: [critical] });
      return [
        {
          label: 'leaf',
          chain: [await leaf('crit-leaf', root, SANS, critical)],
          roots: [root],
          expected: fail('x509: unhandled critical extension'),
        },
        {
          label: 'intermediate',
          chain: [await leaf('crit-mid', criticalMid), criticalMid],
          roots: [root],
          expected: fail('x509: unhandled critical extension'),
        },
        {
          label: 'root',
          chain: [await leaf('crit-root', criticalRoot)],
          roots: [criticalRoot],
          expected: fail('x509: unhandled critical extension'),
        },
        {
          label: 'non-critical unknown extension',
          chain: [await leaf('noncrit', root, SANS, '1.3.6.1.4.1.55555.1 = DER:05:00')],
          roots: [root],
          expected: OK,
        },
      ];
    });
  });

  it("what Go refuses to parse is refused with Go's parse error, naming the file", async () => {
    await expectCases(async () => {
      const ext = (cn: string, ...more: string[]) => leaf(cn, root, ...more);
      return [
        {
          label: 'P-192 key',
          chain: [await f.issue({ cn: 'p192', issuer: root, keyKind: 'p192', ext: leafExt() })],
          roots: [root],
          expected: fail('<chain>: x509: unsupported elliptic curve'),
        },
        {
          label: 'dNSName SAN not IA5',
          chain: [await ext('san-dns', '2.5.29.17 = DER:30:03:82:01:ff')],
          roots: [root],
          expected: fail('<chain>: x509: SAN dNSName is malformed'),
        },
        {
          label: 'IP SAN of 3 bytes',
          chain: [await ext('san-ip', '2.5.29.17 = DER:30:05:87:03:0a:00:00')],
          roots: [root],
          expected: fail('<chain>: x509: cannot parse IP address of length 3'),
        },
        {
          label: 'SAN not a sequence',
          chain: [await ext('san-seq', '2.5.29.17 = DER:31:00')],
          roots: [root],
          expected: fail('<chain>: x509: invalid subject alternative names'),
        },
        {
          label: 'malformed authority info access',
          chain: [await ext('aia', SANS, '1.3.6.1.5.5.7.1.1 = DER:30:03:02:01:00')],
          roots: [root],
          expected: fail('<chain>: x509: invalid authority info access'),
        },
        {
          label: 'malformed extended key usage',
          chain: [
            await f.issue({
              cn: 'eku',
              issuer: root,
              ext: ['basicConstraints = critical,CA:FALSE', '2.5.29.37 = DER:30:03:02:01:01', SANS],
            }),
          ],
          roots: [root],
          expected: fail('<chain>: x509: invalid extended key usages'),
        },
        {
          label: 'malformed key usage',
          chain: [
            await f.issue({
              cn: 'ku',
              issuer: root,
              ext: ['basicConstraints = critical,CA:FALSE', '2.5.29.15 = critical,DER:04:00', SANS],
            }),
          ],
          roots: [root],
          expected: fail('<chain>: x509: invalid key usage'),
        },
        {
          label: 'intermediate with a malformed SAN',
          chain: [
            await leaf('bad-mid-leaf', mid),
            await ca({ cn: 'Bad SAN Intermediate', issuer: root, ext: ['2.5.29.17 = DER:30:05:87:03:0a:00:00'] }),
          ],
          roots: [root],
          expected: fail('<chain>: x509: cannot parse IP address of length 3'),
        },
      ];
    });
  });

  it('KeyUsage present but empty lets a CA sign (Go reads it as no KeyUsage); a KeyUsage without keyCertSign does not', async () => {
    await expectCases(async () => {
      const emptyKu = await f.issue({
        cn: 'Empty KeyUsage Root',
        ext: ['basicConstraints = critical,CA:TRUE', '2.5.29.15 = critical,DER:03:01:00', 'subjectKeyIdentifier = hash'],
      });
      const signOnly = await f.issue({
        cn: 'DigitalSignature Root',
        ext: ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,digitalSignature', 'subjectKeyIdentifier = hash'],
      });
      const notCa = await f.issue({ cn: 'Not A CA', ext: ['basicConstraints = critical,CA:FALSE', 'subjectKeyIdentifier = hash'] });
      const cannotSign = (cn: string) =>
        fail(
          `x509: certificate signed by unknown authority (possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "${cn}")`,
        );
      return [
        { label: 'empty KeyUsage root', chain: [await leaf('empty-ku', emptyKu)], roots: [emptyKu], expected: OK },
        {
          label: 'digitalSignature-only root',
          chain: [await leaf('sign-only', signOnly)],
          roots: [signOnly],
          expected: cannotSign('DigitalSignature Root'),
        },
        { label: 'CA:FALSE root', chain: [await leaf('not-ca', notCa)], roots: [notCa], expected: cannotSign('Not A CA') },
      ];
    });
  });

  it("expired and not-yet-valid intermediates and roots are reported with Go's validity error, not as unknown authority", async () => {
    await expectCases(async () => {
      const expiredMid = await ca({ cn: 'Expired Intermediate', issuer: root, notAfter: '20250101000000Z' });
      const futureMid = await ca({ cn: 'Future Intermediate', issuer: root, notBefore: '20310101000000Z' });
      const expiredRoot = await ca({ cn: 'Expired Root', notAfter: '20250101000000Z' });
      const prefix = `x509: certificate has expired or is not yet valid: current time ${CHECK_TIME}`;
      return [
        {
          label: 'expired intermediate',
          chain: [await leaf('under-expired', expiredMid), expiredMid],
          roots: [root],
          expected: fail(`${prefix} is after 2025-01-01T00:00:00Z`),
        },
        {
          label: 'not-yet-valid intermediate',
          chain: [await leaf('under-future', futureMid), futureMid],
          roots: [root],
          expected: fail(`${prefix} is before 2031-01-01T00:00:00Z`),
        },
        {
          label: 'expired root',
          chain: [await leaf('under-expired-root', expiredRoot)],
          roots: [expiredRoot],
          expected: fail(`${prefix} is after 2025-01-01T00:00:00Z`),
        },
        { label: 'valid intermediate', chain: [await leaf('under-mid', mid), mid], roots: [root], expected: OK },
      ];
    });
  });

  it('signature algorithm mismatches: TBS and outer fields disagree; algorithm and issuer key type disagree', async () => {
    await expectCases(async () => {
      const honest = await leaf('sigalg', root);
      // ecdsa-with-SHA384 where the TBS says ecdsa-with-SHA256.
      const outerDiffers = withOuterSignatureAlgorithm(honest, '300a06082a8648ce3d040303');
      const ecIssuer = await ca({ cn: 'Mixed CA' });
      const rsaNamesake = await ca({ cn: 'Mixed CA', file: 'mixed-rsa', keyKind: 'rsa' });
      return [
        {
          label: 'outer signatureAlgorithm differs from the TBS one',
          chain: [outerDiffers],
          roots: [root],
          expected: fail("<chain>: x509: inner and outer signature algorithm identifiers don't match"),
        },
        {
          label: 'ECDSA signature, RSA candidate with the same name',
          chain: [await leaf('mixed', ecIssuer)],
          roots: [rsaNamesake],
          expected: fail(
            'x509: certificate signed by unknown authority (possibly because of "x509: signature algorithm specifies an ECDSA public key, but have public key of type *rsa.PublicKey" while trying to verify candidate authority certificate "Mixed CA")',
          ),
        },
      ];
    });
  });

  /**
   * Where current Go differs from the Go 1.23 CI runs, the committed fixture
   * test/fixtures/go-current/divergent.json pins current Go's verdict (read from its sources):
   * Go 1.23 must still give its own (so a toolchain change is noticed), kpki must give current Go's.
   */
  it('where Go 1.23 and current Go differ, kpki follows current Go (pinned by a fixture)', async () => {
    const pinned = JSON.parse(await readFile(path.join(FIXTURES, 'go-current', 'divergent.json'), 'utf8')) as Record<
      string,
      { 'go1.23': string | null; current: string }
    >;
    const dnsRoot = await ca({ cn: 'Pinned DNS Root', ext: ['nameConstraints = critical,permitted;DNS:example.test'] });
    const sanMid = await ca({ cn: 'SAN Intermediate', issuer: dnsRoot, ext: ['subjectAltName = DNS:ca.other.test'] });
    const rsaRoot = await ca({ cn: 'RSA Root', keyKind: 'rsa' });
    const excludingRoot = await ca({ cn: 'Excluding Root', ext: ['nameConstraints = critical,excluded;DNS:secret.example.test'] });
    const cases: Record<string, { chain: (Issued | string)[]; roots: Issued[] }> = {
      'negative serial number': {
        chain: [await f.issue({ cn: 'negative', issuer: root, serial: '-5', ext: leafExt(SANS) })],
        roots: [root],
      },
      'duplicate extension': { chain: [await withDuplicateExtension(await leaf('dup', root), root)], roots: [root] },
      'negative pathLenConstraint': {
        chain: [await f.issue({ cn: 'neg-pathlen', issuer: root, ext: ['2.5.29.19 = critical,DER:30:06:01:01:00:02:01:ff', SANS] })],
        roots: [root],
      },
      'critical authority key identifier': {
        chain: [await f.issue({ cn: 'aki', issuer: root, ext: leafExt(SANS, 'authorityKeyIdentifier = critical,keyid') })],
        roots: [root],
      },
      'SHA-1 signature': { chain: [await f.issue({ cn: 'sha1', issuer: rsaRoot, digest: 'sha1', ext: leafExt(SANS) })], roots: [rsaRoot] },
      'wildcard SAN beside an excluded name': {
        chain: [await leaf('wildcard', excludingRoot, 'subjectAltName = DNS:*.example.test')],
        roots: [excludingRoot],
      },
      'IPv4-mapped IPv6 SAN': { chain: [await leaf('mapped', root, 'subjectAltName = IP:::ffff:10.0.0.1')], roots: [root] },
      "intermediate SAN outside the root's name constraints": { chain: [await leaf('under-san-mid', sanMid), sanMid], roots: [dnsRoot] },
    };
    const labels = Object.keys(pinned).filter((k) => !k.startsWith('_'));
    expect(labels.sort()).toEqual(Object.keys(cases).sort());
    const checks: VerifyCheck[] = [];
    for (const [i, label] of labels.entries()) {
      const c = cases[label]!;
      checks.push({
        kind: 'verify',
        cert: await f.bundle(`pinned${i}-chain`, c.chain),
        roots: await f.bundle(`pinned${i}-roots`, c.roots),
        usage: 'any',
        at: CHECK_TIME,
      });
    }
    // Parse errors are reported with the file they come from, verification errors without.
    const verdict = (message: string | null, check: VerifyCheck): Result =>
      message === null ? OK : fail(/^x509: (a root|certificate signed)/.test(message) ? message : `${check.cert}: ${message}`);
    const table = (results: Result[]) => Object.fromEntries(labels.map((l, i) => [l, results[i]]));
    expect(table(await goCheck(checks)), 'Go 1.23 (CI) verdicts').toEqual(
      table(labels.map((l, i) => verdict(pinned[l]!['go1.23'], checks[i]!))),
    );
    expect(table(await Promise.all(checks.map(kpkiCheck))), 'kpki vs current Go').toEqual(
      table(labels.map((l, i) => verdict(pinned[l]!.current, checks[i]!))),
    );
  });
});

for (const source of SOURCES) {
  describe(source.label, () => {
    const pki = usePki(res, source);
    const plan = leafPlan(source);
    const s = source.settings;

    it.each(plan.map((l) => [l.id, l.usages.join('+')]))('%s verifies for %s (and any) against its CA', async (id) => {
      const leaf = pki().leaf(id);
      await expectGo(
        [...leaf.usages, 'any' as const],
        (u) => u,
        (u) => verifyCheck(pki(), leaf, u),
        always(OK),
      );
    });

    it.each(plan.filter((l) => l.usages.includes('server')).map((l) => l.id))(
      '%s is valid for every name and IP it should carry',
      async (id) => {
        const leaf = pki().leaf(id);
        await expectGo(
          [...leaf.dnsSans, ...leaf.ipSans],
          (h) => h,
          (host) => verifyCheck(pki(), leaf, 'server', { host }),
          always(OK),
        );
      },
    );

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
      await expectGo(
        hosts,
        (h) => h,
        (host) => verifyCheck(pki(), pki().leaf('apiserver'), 'server', { host }),
        always(OK),
      );
    });

    it('etcd server and peer cover localhost, 127.0.0.1, ::1, node name and advertise address', async () => {
      const cases = ['etcd/server', 'etcd/peer'].flatMap((id) =>
        ['localhost', '127.0.0.1', '::1', s.nodeName, s.advertiseAddress].map((host) => ({ id, host })),
      );
      await expectGo(
        cases,
        (c) => `${c.id} ${c.host}`,
        (c) => verifyCheck(pki(), pki().leaf(c.id), 'server', { host: c.host }),
        always(OK),
      );
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
          (c) =>
            c.id === 'etcd/server'
              ? OK
              : fail(`x509: certificate is valid for ${(isIp(c.host) ? peer.ipSans : peer.dnsSans).join(', ')}, not ${c.host}`),
        );
      });
    }

    it('client-only certs are refused as serving certs and serving-only certs as client certs', async () => {
      const misuse = plan.flatMap((l) =>
        (['server', 'client'] as const).filter((u) => !l.usages.includes(u)).map((usage) => ({ id: l.id, usage })),
      );
      expect(misuse.length).toBe(plan.length - 2); // all but etcd server/peer lack one usage
      await expectGo(
        misuse,
        (m) => `${m.id} as ${m.usage}`,
        (m) => verifyCheck(pki(), pki().leaf(m.id), m.usage),
        always(fail('x509: certificate specifies an incompatible key usage')),
      );
    });

    it('every leaf is refused by the two CAs that did not sign it', async () => {
      const cases = plan.flatMap((l) => CA_NAMES.filter((ca) => ca !== l.ca).map((roots) => ({ id: l.id, roots })));
      await expectGo(
        cases,
        (c) => `${c.id} vs ${c.roots}`,
        (c) => verifyCheck(pki(), pki().leaf(c.id), 'any', { roots: c.roots }),
        always(fail('x509: certificate signed by unknown authority')),
      );
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
        (c) =>
          fail(
            c.at === early ? `${prefix} ${c.at} is before ${times.get(c.id)!.from}` : `${prefix} ${c.at} is after ${times.get(c.id)!.to}`,
          ),
      );
    });

    it('every certificate/key pair loads with tls.LoadX509KeyPair', async () => {
      const pairs = [
        ...CA_NAMES.map((ca) => ({ id: ca, cert: pki().caCert(ca), key: pki().caKey(ca) })),
        ...pki().allLeaves.map((l) => ({ id: l.id, cert: l.cert, key: l.key })),
      ];
      await expectGo(
        pairs,
        (p) => p.id,
        (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }),
        always(OK),
      );
    });

    it("a key from another pair is refused with Go's exact message", async () => {
      const leaves = pki().allLeaves;
      const swapped = leaves.map((l, i) => ({ id: l.id, cert: l.cert, key: leaves[(i + 1) % leaves.length]!.key }));
      await expectGo(
        swapped,
        (p) => p.id,
        (p) => ({ kind: 'keypair', cert: p.cert, key: p.key }),
        always(fail('tls: private key does not match public key')),
      );
    });
  });
}

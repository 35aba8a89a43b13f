/**
 * kpki's chain verifier follows current Go's Certificate.Verify: candidate order and hints,
 * validity of intermediates, path length as Go counts it, critical extensions, empty KeyUsage,
 * and name constraints applied to the whole chain once it is built.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../src/pki/crypto.js';
import { hostnameError, verifyCertificate, type ChainVerifyOptions } from '../../src/pki/verify.js';
import { AT, caExtensions, gn, leafExtensions, makeCert, ncExtension, rawExtension, sanExtension, type TestCert } from './pki-certs.js';

const verdict = async (leaf: TestCert, roots: TestCert[], intermediates: TestCert[] = [], opts: Partial<ChainVerifyOptions> = {}) => {
  const result = await verifyCertificate(leaf.cert, {
    roots: roots.map((r) => r.cert),
    intermediates: intermediates.map((i) => i.cert),
    usage: 'any',
    now: AT,
    ...opts,
  });
  return result.ok ? 'ok' : result.error;
};

const NAME_ERROR = 'x509: a root or intermediate certificate is not authorized to sign for this name: ';

describe("chain verification as Go's Certificate.Verify", () => {
  let root: TestCert;
  beforeAll(async () => {
    root = await makeCert({ cn: 'Root', extensions: caExtensions() });
  });
  const leafUnder = (issuer: TestCert, ...names: x509.JsonGeneralName[]) =>
    makeCert({
      cn: 'leaf',
      issuer,
      extensions: leafExtensions(...(names.length ? names : [{ type: 'dns' as const, value: 'app.example.test' }])),
    });

  it('a CA whose KeyUsage is present but empty signs (Go reads zero bits as no KeyUsage)', async () => {
    const emptyKu = await makeCert({
      cn: 'Empty KU',
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), rawExtension('2.5.29.15', true, '030100')],
    });
    expect(await verdict(await leafUnder(emptyKu), [emptyKu])).toBe('ok');
  });

  it("an expired or not-yet-valid intermediate is reported with Go's validity error", async () => {
    const expired = await makeCert({ cn: 'Old Mid', issuer: root, extensions: caExtensions(), notAfter: new Date('2025-01-01T00:00:00Z') });
    const future = await makeCert({ cn: 'New Mid', issuer: root, extensions: caExtensions(), notBefore: new Date('2031-01-01T00:00:00Z') });
    expect(await verdict(await leafUnder(expired), [root], [expired])).toBe(
      'x509: certificate has expired or is not yet valid: current time 2030-06-01T00:00:00Z is after 2025-01-01T00:00:00Z',
    );
    expect(await verdict(await leafUnder(future), [root], [future])).toBe(
      'x509: certificate has expired or is not yet valid: current time 2030-06-01T00:00:00Z is before 2031-01-01T00:00:00Z',
    );
  });

  it('pathLenConstraint counts every intermediate, a self-issued one too', async () => {
    const zero = await makeCert({ cn: 'Zero', extensions: caExtensions(0) });
    const mid = await makeCert({ cn: 'Mid', issuer: zero, extensions: caExtensions() });
    const selfIssued = await makeCert({ cn: 'Zero', issuer: zero, extensions: caExtensions() });
    expect(await verdict(await leafUnder(mid), [zero], [mid])).toBe('x509: too many intermediates for path length constraint');
    expect(await verdict(await leafUnder(selfIssued), [zero], [selfIssued])).toBe(
      'x509: too many intermediates for path length constraint',
    );
    expect(await verdict(await leafUnder(zero), [zero])).toBe('ok');
  });

  it('an unhandled critical extension fails an intermediate; a non-critical one does not', async () => {
    const critical = await makeCert({
      cn: 'Critical Mid',
      issuer: root,
      extensions: [...caExtensions(), rawExtension('1.3.6.1.4.1.55555.1', true, '0500')],
    });
    const nonCritical = await makeCert({
      cn: 'Plain Mid',
      issuer: root,
      extensions: [...caExtensions(), rawExtension('1.3.6.1.4.1.55555.1', false, '0500')],
    });
    expect(await verdict(await leafUnder(critical), [root], [critical])).toBe('x509: unhandled critical extension');
    expect(await verdict(await leafUnder(nonCritical), [root], [nonCritical])).toBe('ok');
  });

  it("a rejected candidate is named in the hint with Go's %q quoting", async () => {
    const quoted = await makeCert({
      cn: 'My \\"CA\\"',
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ],
    });
    expect(await verdict(await leafUnder(quoted), [quoted])).toBe(
      'x509: certificate signed by unknown authority (possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "My \\"CA\\"")',
    );
  });

  describe('name constraints', () => {
    const constrainedRoot = (cn: string, permitted?: Buffer[], excluded?: Buffer[]) =>
      makeCert({ cn, extensions: [...caExtensions(), ncExtension(permitted, excluded)] });

    it('DNS: permitted subtree by label suffix, a leading period excludes the domain itself', async () => {
      const nc = await constrainedRoot('DNS Root', [gn.dns('.example.test')]);
      expect(await verdict(await leafUnder(nc, { type: 'dns', value: 'app.example.test' }), [nc])).toBe('ok');
      expect(await verdict(await leafUnder(nc, { type: 'dns', value: 'example.test' }), [nc])).toBe(
        `${NAME_ERROR}DNS name "example.test" is not permitted by any constraint`,
      );
      expect(await verdict(await leafUnder(nc, { type: 'dns', value: 'app.notexample.test' }), [nc])).toBe(
        `${NAME_ERROR}DNS name "app.notexample.test" is not permitted by any constraint`,
      );
    });

    it('DNS: an excluded name also excludes a wildcard one label above it (current Go)', async () => {
      const nc = await constrainedRoot('Wildcard Root', undefined, [gn.dns('secret.example.test')]);
      expect(await verdict(await leafUnder(nc, { type: 'dns', value: '*.example.test' }), [nc])).toBe(
        `${NAME_ERROR}DNS name "*.example.test" is excluded by constraint "secret.example.test"`,
      );
      expect(await verdict(await leafUnder(nc, { type: 'dns', value: '*.other.test' }), [nc])).toBe('ok');
    });

    it('IP: ranges of the same family only; the excluded range is printed as CIDR', async () => {
      const nc = await constrainedRoot('IP Root', [gn.ip([10, 0, 0, 0, 255, 0, 0, 0])], [gn.ip([10, 9, 0, 0, 255, 255, 0, 0])]);
      expect(await verdict(await leafUnder(nc, { type: 'ip', value: '10.1.1.1' }), [nc])).toBe('ok');
      expect(await verdict(await leafUnder(nc, { type: 'ip', value: '10.9.1.1' }), [nc])).toBe(
        `${NAME_ERROR}IP address "10.9.1.1" is excluded by constraint "10.9.0.0/16"`,
      );
      expect(await verdict(await leafUnder(nc, { type: 'ip', value: '2001:db8::1' }), [nc])).toBe(
        `${NAME_ERROR}IP address "2001:db8::1" is not permitted by any constraint`,
      );
    });

    it('email: a domain constraint matches that host exactly (current Go); an address constraint matches that mailbox', async () => {
      const nc = await constrainedRoot('Email Root', [gn.email('example.test'), gn.email('boss@corp.test')]);
      expect(await verdict(await leafUnder(nc, { type: 'email', value: 'ops@example.test' }), [nc])).toBe('ok');
      expect(await verdict(await leafUnder(nc, { type: 'email', value: 'boss@CORP.test' }), [nc])).toBe('ok');
      expect(await verdict(await leafUnder(nc, { type: 'email', value: 'ops@sub.example.test' }), [nc])).toBe(
        `${NAME_ERROR}email address "ops@sub.example.test" is not permitted by any constraint`,
      );
    });

    it('URI: hosts are matched; a URI without a host or with an IP host cannot be', async () => {
      const nc = await constrainedRoot('URI Root', [gn.uri('.example.test')]);
      expect(await verdict(await leafUnder(nc, { type: 'url', value: 'spiffe://svc.example.test:8443/x' }), [nc])).toBe('ok');
      expect(await verdict(await leafUnder(nc, { type: 'url', value: 'urn:example:x' }), [nc])).toBe(
        `${NAME_ERROR}URI with empty host ("urn:example:x") cannot be matched against constraints`,
      );
      expect(await verdict(await leafUnder(nc, { type: 'url', value: 'https://10.0.0.1/x' }), [nc])).toBe(
        `${NAME_ERROR}URI with IP ("https://10.0.0.1/x") cannot be matched against constraints`,
      );
    });

    it("an intermediate's own SANs must satisfy the constraints above it (current Go), a leaf's those of every CA", async () => {
      const nc = await constrainedRoot('Chain Root', [gn.dns('example.test')]);
      const sanMid = await makeCert({ cn: 'SAN Mid', issuer: nc, extensions: [...caExtensions(), sanExtension(gn.dns('ca.other.test'))] });
      const excludingMid = await makeCert({
        cn: 'Excluding Mid',
        issuer: nc,
        extensions: [...caExtensions(), ncExtension(undefined, [gn.dns('bad.example.test')])],
      });
      expect(await verdict(await leafUnder(sanMid), [nc], [sanMid])).toBe(
        `${NAME_ERROR}DNS name "ca.other.test" is not permitted by any constraint`,
      );
      expect(await verdict(await leafUnder(excludingMid, { type: 'dns', value: 'x.bad.example.test' }), [nc], [excludingMid])).toBe(
        `${NAME_ERROR}DNS name "x.bad.example.test" is excluded by constraint "bad.example.test"`,
      );
      expect(await verdict(await leafUnder(excludingMid, { type: 'dns', value: 'x.other.test' }), [nc], [excludingMid])).toBe(
        `${NAME_ERROR}DNS name "x.other.test" is not permitted by any constraint`,
      );
    });

    it('a chain failing the usage check is dropped before constraints are looked at', async () => {
      const nc = await constrainedRoot('Usage Root', [gn.dns('example.test')]);
      const leaf = await makeCert({
        cn: 'usage',
        issuer: nc,
        extensions: [
          ...leafExtensions({ type: 'dns', value: 'x.other.test' }),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ],
      });
      expect(await verdict(leaf, [nc], [], { usage: 'serverAuth' })).toBe('x509: certificate specifies an incompatible key usage');
      expect(await verdict(leaf, [nc], [], { usage: 'clientAuth' })).toBe(
        `${NAME_ERROR}DNS name "x.other.test" is not permitted by any constraint`,
      );
    });
  });
});

describe("host names as Go's VerifyHostname", () => {
  it('Go lists the SANs of the kind asked for, and says when there are none of that kind', async () => {
    const cert = (await makeCert({ cn: 'ips.example.test', extensions: leafExtensions({ type: 'ip', value: '2001:db8::1' }) })).cert;
    expect(hostnameError(cert, '[2001:db8:0::1]')).toBeUndefined();
    expect(hostnameError(cert, '2001:db8::2')).toBe('x509: certificate is valid for 2001:db8::1, not 2001:db8::2');
    // A SAN extension exists, so the CN is not even mentioned.
    expect(hostnameError(cert, 'ips.example.test')).toBe(
      'x509: certificate is not valid for any names, but wanted to match ips.example.test',
    );
  });

  it('a CN that would match (wildcards included) is named as the legacy field Go no longer reads', async () => {
    const cert = (await makeCert({ cn: '*.example.test', extensions: [] })).cert;
    expect(hostnameError(cert, 'app.example.test')).toBe('x509: certificate relies on legacy Common Name field, use SANs instead');
    expect(hostnameError(cert, 'app.other.test')).toBe('x509: certificate is not valid for any names, but wanted to match app.other.test');
  });
});

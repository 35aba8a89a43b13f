import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { initPki } from '../../src/commands/init.js';
import { kubeconfigsOnly, verifyKubeconfigs } from '../../src/commands/verify-kubeconfig.js';
import { ErrorCode } from '../../src/errors.js';
import type { Finding } from '../../src/verify/findings.js';
import { requireTool, run } from '../interop/helpers.js';
import { kpki, kpkiAsync } from '../support/cli.js';
import { rejection } from '../support/errors.js';
import { seedKubeconfigs, type SeededKubeconfigs } from '../support/kubeconfig-faults.js';
import { tempDir } from '../support/tmp.js';

/** `kpki verify --kubeconfig F` with nothing but the kubeconfig: each seeded fault and what is reported for it. */

const dir = tempDir();
let seeded: SeededKubeconfigs;
const SERVER = 'https://lb.example.com:6443';

beforeAll(async () => {
  await initPki({
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    controlPlaneEndpoint: 'lb.example.com',
    keyType: 'ecdsa-p256',
    certDir: path.join(dir, 'pki'),
    kubeconfigDir: dir,
  });
  await initPki({
    nodeName: 'other',
    advertiseAddress: '10.9.0.11',
    keyType: 'ecdsa-p256',
    certDir: path.join(dir, 'foreign/pki'),
    kubeconfigDir: path.join(dir, 'foreign'),
  });
  seeded = await seedKubeconfigs({ certDir: path.join(dir, 'pki'), foreignCertDir: path.join(dir, 'foreign/pki'), dir, server: SERVER });
});

const check = async (file: string, context?: string) => (await verifyKubeconfigs({ kubeconfigs: [file], context })).findings;
const codes = (findings: Finding[]) => findings.map((f) => `${f.severity} ${f.code}`).sort();

describe('verify with only a kubeconfig', () => {
  it('a good kubeconfig: the identity the apiserver will see, nothing else', async () => {
    const findings = await check(seeded.good);
    expect(codes(findings)).toEqual(['info CLIENT_IDENTITY']);
    expect(findings[0]!.diagnosis).toContain('User "alice", groups [developers, system:authenticated]');
    expect(findings[0]!.subject).toBe(`${seeded.good} context alice@kubernetes (user alice)`);
  });

  it("an expired client certificate: Go's validity error, with how to get a new one", async () => {
    const findings = await check(seeded.expired);
    const expired = findings.find((f) => f.code === 'EXPIRED')!;
    expect(expired.severity).toBe('error');
    expect(expired.symptom).toMatch(/^x509: certificate has expired or is not yet valid: current time \S+ is after \S+$/);
    expect(expired.fix).toContain('kpki kubeconfig user --client-name alice');
  });

  it('a CA or a client certificate from another cluster: a note that the two do not belong together, never an error', async () => {
    for (const file of [seeded.wrongCa, seeded.foreignClient]) {
      const findings = await check(file);
      expect(codes(findings)).toEqual(['info CHAIN_UNTRUSTED', 'info CLIENT_IDENTITY']);
      expect(findings.find((f) => f.code === 'CHAIN_UNTRUSTED')!.fix).toContain('--live');
    }
  });

  it('a wrong group is shown as the groups the apiserver will see', async () => {
    const [identity] = await check(seeded.wrongGroup);
    expect(identity!.diagnosis).toContain('groups [developer, system:authenticated]');
  });

  it("a key that is not the certificate's: tls.X509KeyPair's error", async () => {
    const mismatch = (await check(seeded.keyMismatch)).find((f) => f.code === 'KEY_MISMATCH')!;
    expect(mismatch).toMatchObject({ severity: 'error', symptom: 'tls: private key does not match public key' });
    expect(await kubectlError(seeded.keyMismatch)).toBe(`error: ${mismatch.symptom}`);
  });

  it("a missing referenced file: client-go's error with the path made absolute against the kubeconfig's directory", async () => {
    const missing = path.join(path.dirname(seeded.missingFile), 'alice.crt');
    const findings = await check(seeded.missingFile);
    expect(codes(findings)).toEqual(['error FILE_MISSING']);
    expect(findings[0]!.symptom).toBe(
      `error: unable to read client-cert ${missing} for alice due to open ${missing}: no such file or directory`,
    );
    // kubectl gives up with the same line before it dials anything.
    expect(await kubectlError(seeded.missingFile)).toBe(findings[0]!.symptom);
    // Present relative files are read beside the kubeconfig, whatever the working directory.
    expect(codes(await check(seeded.referenced))).toEqual(['info CLIENT_IDENTITY']);
  });

  it('exec, token and auth-provider credentials are named as not checked', async () => {
    const findings = await check(seeded.exec);
    expect(codes(findings)).toEqual(['warning UNCHECKED']);
    expect(findings[0]!.diagnosis).toContain('exec plugin kubelogin get-token');
    const file = path.join(dir, 'tokens.conf');
    const user = (name: string, body: object) => ({ name, user: body });
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: SERVER, 'insecure-skip-tls-verify': true } }],
        users: [
          user('t', { token: 'abc' }),
          user('f', { tokenFile: '/var/run/token' }),
          user('g', { 'auth-provider': { name: 'gcp' } }),
          user('n', {}),
        ],
        contexts: ['t', 'f', 'g', 'n'].map((u) => ({ name: u, context: { cluster: 'c', user: u } })),
      }),
    );
    const unchecked = (await check(file)).filter((f) => f.code === 'UNCHECKED').map((f) => f.diagnosis);
    expect(unchecked).toEqual([
      expect.stringContaining('authenticates with a bearer token, not a client certificate:'),
      expect.stringContaining('authenticates with a bearer token from /var/run/token, not a client certificate:'),
      expect.stringContaining('authenticates with auth-provider gcp, not a client certificate:'),
      expect.stringContaining('user n has no credentials'),
    ]);
  });

  it('a token-only kubeconfig: the token is not checked, the file mode is (a token is a credential like a key)', async () => {
    const file = path.join(dir, 'token-only.conf');
    const kubeconfig = (user: object) =>
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: SERVER, 'certificate-authority': path.join(dir, 'pki/ca.crt') } }],
        users: [{ name: 'bot', user }],
        contexts: [{ name: 'bot@c', context: { cluster: 'c', user: 'bot' } }],
        'current-context': 'bot@c',
      });
    writeFileSync(file, kubeconfig({ token: 'abcdef.0123456789abcdef' }));
    chmodSync(file, 0o644);
    const open = await check(file);
    expect(codes(open)).toEqual(['warning KUBECONFIG_PERMISSIONS', 'warning UNCHECKED']);
    expect(open.find((f) => f.code === 'UNCHECKED')!.diagnosis).toBe(
      "user bot authenticates with a bearer token, not a client certificate: kpki checks certificates only, so the credential itself is not checked offline (whether the apiserver accepts it, and as whom); checked: the kubeconfig's mode (0644), too open for a file holding a credential (KUBECONFIG_PERMISSIONS)",
    );
    expect(open.find((f) => f.code === 'KUBECONFIG_PERMISSIONS')).toMatchObject({
      diagnosis: `kubeconfig ${file} is readable by everyone (mode 0644); it holds a bearer token of user bot: whoever reads the file can act as that user`,
      fix: `chmod 600 ${file}`,
    });

    chmodSync(file, 0o600);
    const closed = await check(file);
    expect(codes(closed)).toEqual(['warning UNCHECKED']);
    expect(closed[0]!.diagnosis).toContain(
      "is not checked offline (whether the apiserver accepts it, and as whom); checked: the kubeconfig's mode (0600), which keeps the credential, like a private key, to its owner",
    );

    // A token kept in another file, or fetched by a plugin, leaves no secret in the kubeconfig: its mode is no finding.
    for (const user of [
      { tokenFile: '/var/run/token' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'kubelogin' } },
    ]) {
      writeFileSync(file, kubeconfig(user));
      chmodSync(file, 0o644);
      expect(codes(await check(file))).toEqual(['warning UNCHECKED']);
    }
  });

  it('system:masters and insecure-skip-tls-verify are warnings; no CA means system roots, not checked', async () => {
    const masters = await issueInto('root.conf', { orgs: ['system:masters'], cluster: { 'insecure-skip-tls-verify': true } });
    expect(codes(await check(masters))).toEqual(['info CLIENT_IDENTITY', 'warning SYSTEM_MASTERS', 'warning TLS_VERIFY_SKIPPED']);
    const systemRoots = await issueInto('public.conf', { orgs: ['developers'], cluster: {} });
    expect(codes(await check(systemRoots))).toEqual(['info CLIENT_IDENTITY', 'info UNCHECKED']);
  });

  it('every context, or the one --context names; an unknown context is a flag error', async () => {
    const all = await check(seeded.twoContexts);
    expect(all.filter((f) => f.code === 'CLIENT_IDENTITY').map((f) => f.subject)).toEqual([
      `${seeded.twoContexts} context alice@kubernetes (user alice)`,
      `${seeded.twoContexts} context old-alice@kubernetes (user old-alice)`,
    ]);
    expect(all.filter((f) => f.code === 'EXPIRED')).toHaveLength(1);
    expect(codes(await check(seeded.twoContexts, 'alice@kubernetes'))).toEqual(['info CLIENT_IDENTITY']);
    const error = await rejection(check(seeded.twoContexts, 'nope'));
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toContain('no context "nope"');
  });

  it("a context naming a missing user: client-go's validation error", async () => {
    const file = path.join(dir, 'dangling.conf');
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: SERVER } }],
        users: [],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'ghost' } }],
      }),
    );
    const [invalid] = await check(file);
    expect(invalid).toMatchObject({
      code: 'FILE_INVALID',
      symptom: 'error: invalid configuration: user "ghost" was not found for context "x"',
    });
  });

  it('applies only when nothing names a PKI or a component; --context elsewhere is refused', async () => {
    expect(await kubeconfigsOnly({ kubeconfigs: [seeded.good], context: 'alice@kubernetes' })).toBe(true);
    expect(await kubeconfigsOnly({ kubeconfigs: [seeded.good], certDir: path.join(dir, 'pki') })).toBe(false);
    expect((await rejection(kubeconfigsOnly({ kubeconfigs: [seeded.good], certDir: path.join(dir, 'pki'), context: 'x' }))).code).toBe(
      ErrorCode.BadFlag,
    );
  });
});

describe('kpki verify --kubeconfig --live: the benchmark of the version the apiserver serves', () => {
  /** A loopback apiserver stand-in with the PKI's serving pair: `/version` answers `gitVersion` (or 404 without one), anything else 403. */
  async function fakeApiserver(gitVersion: string | undefined): Promise<{ url: string; close: () => void }> {
    const server = createServer(
      {
        cert: readFileSync(path.join(dir, 'pki/apiserver.crt')),
        key: readFileSync(path.join(dir, 'pki/apiserver.key')),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (request, response) => {
        if (request.url === '/version' && gitVersion)
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ major: '1', gitVersion }));
        else response.writeHead(request.url === '/version' ? 404 : 403).end('{}');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
  }

  /** admin.conf pointed at `url`, verifying the serving certificate for the control-plane endpoint's name. */
  function adminAt(url: string): string {
    const doc = parse(readFileSync(path.join(dir, 'admin.conf'), 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
    doc.clusters[0]!.cluster.server = url;
    doc.clusters[0]!.cluster['tls-server-name'] = 'lb.example.com';
    const file = path.join(dir, `live-${url.split(':').at(-1)}.conf`);
    writeFileSync(file, stringify(doc), { mode: 0o600 });
    return file;
  }

  it.each([
    ['v1.20.2', 'cis-1.20'],
    ['v1.24.17', 'cis-1.24'],
    ['v1.30.4+k3s1', 'cis-1.11'],
  ])('the apiserver answers %s: %s, and the output says why', async (gitVersion, benchmark) => {
    const apiserver = await fakeApiserver(gitVersion);
    try {
      const file = adminAt(apiserver.url);
      const json = await kpkiAsync(['verify', '--kubeconfig', file, '--live', '--json']);
      expect(JSON.parse(json.stdout).benchmark, json.stderr).toEqual({
        name: benchmark,
        chosenBy: `kube-apiserver ${gitVersion} (GET ${apiserver.url}/version with ${file})`,
      });
      const text = await kpkiAsync(['verify', '--kubeconfig', file, '--live']);
      expect(text.stdout.split('\n')[0]).toBe(
        `Benchmark ${benchmark}: kube-apiserver ${gitVersion} (GET ${apiserver.url}/version with ${file})`,
      );
      // --benchmark still wins, and asks nothing.
      expect(
        JSON.parse((await kpkiAsync(['verify', '--kubeconfig', file, '--live', '--json', '--benchmark', 'stig'])).stdout).benchmark,
      ).toEqual({ name: 'stig', chosenBy: '--benchmark' });
    } finally {
      apiserver.close();
    }
  });

  it('no version to read: the newest, with the reason', async () => {
    const apiserver = await fakeApiserver(undefined);
    try {
      const file = adminAt(apiserver.url);
      const result = await kpkiAsync(['verify', '--kubeconfig', file, '--live', '--json']);
      expect(JSON.parse(result.stdout).benchmark).toEqual({
        name: 'cis-1.12',
        chosenBy: `the newest: the cluster's Kubernetes version is not known (GET /version: ${file}: HTTP 404)`,
      });
    } finally {
      apiserver.close();
    }
  });
});

describe('kpki verify --kubeconfig (CLI)', () => {
  it('exits 0 on a good kubeconfig, 1 on an expired one, 2 on a file that is not there', () => {
    const good = kpki(['verify', '--kubeconfig', seeded.good]);
    expect(good.stdout).toContain('CLIENT_IDENTITY');
    expect(good.stdout).toContain('0 error(s), 0 warning(s), 1 note(s) in 1 kubeconfig(s), 1 context(s)');
    expect(good.status).toBe(0);
    const expired = kpki(['verify', '--kubeconfig', seeded.expired, '--json']);
    expect(expired.status).toBe(1);
    expect(JSON.parse(expired.stdout).checked.contexts).toEqual([`${seeded.expired} context alice@kubernetes (user alice)`]);
    const absent = kpki(['verify', '--kubeconfig', path.join(dir, 'absent.conf')]);
    expect(absent.status).toBe(2);
    expect(absent.stderr).toBe(
      `kpki: ${path.join(dir, 'absent.conf')}: no such file; give the path of a kubeconfig, e.g. --kubeconfig ~/.kube/config\n`,
    );
  });
});

/** What kubectl prints when it cannot even build its client from a kubeconfig (no server is dialled). */
async function kubectlError(file: string): Promise<string> {
  const result = await run(requireTool('kubectl'), ['--kubeconfig', file, 'get', 'pods', '--request-timeout', '2s']);
  expect(result.code).not.toBe(0);
  return result.stderr.trim();
}

/** alice's kubeconfig with its cluster entry replaced. */
async function issueInto(name: string, { orgs, cluster }: { orgs: string[]; cluster: Record<string, unknown> }): Promise<string> {
  const { issueKubeconfig } = await import('../../src/commands/kubeconfig.js');
  const text = (
    await issueKubeconfig({
      kind: 'user',
      clientName: 'root',
      organizations: orgs,
      allowSystemMasters: true,
      server: SERVER,
      certDir: path.join(dir, 'pki'),
    })
  ).kubeconfig!;
  const { parse } = await import('yaml');
  const doc = parse(text) as { clusters: { cluster: Record<string, unknown> }[] };
  doc.clusters[0]!.cluster = { server: SERVER, ...cluster };
  const file = path.join(dir, name);
  // As kpki writes kubeconfigs: the file holds the client key.
  writeFileSync(file, stringify(doc), { mode: 0o600 });
  return file;
}

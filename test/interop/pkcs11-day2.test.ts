/**
 * A PKI's day 2 with all three CA keys in a SoftHSM token and no CA key file anywhere: `renew
 * --all`, `ca renew ca`, a whole `ca rotate begin → reissue → finish --offline` (the new CA keys
 * made in the token, never extractable; each side's key kept as a URI under rotation/), `abort`
 * back to the old key, `finish --purge`, and `kubeconfig node`, each signing through the token.
 * openssl verifies what they signed; after every step no file of the tree holds a CA's private key.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, requireTool, Resources, run } from './helpers.js';
import { KPKI_BIN } from '../support/cli.js';
import { parseObjectList, softHsm, tokenClusterInitArgs, TOKEN_PIN, type SoftHsm } from '../support/softhsm.js';

const res = new Resources();
afterAll(() => res.dispose());
const openssl = requireTool('openssl');

const TOKEN = 'k8s';
const OBJECTS = { ca: 'cluster-ca', 'front-proxy-ca': 'front-proxy-ca', 'etcd-ca': 'etcd-ca' } as const;
const CA_FILES = ['ca.crt', 'front-proxy-ca.crt', 'etcd/ca.crt'];

let hsm: SoftHsm;
let root: string;
let pki: string;
let env: Record<string, string>;
/** Every CA certificate any step made, for "no file holds a CA's private key". */
const caPublicKeys = new Set<string>();

const kpki = (args: string[], given = env) => run(process.execPath, [KPKI_BIN, ...args], { env: given, timeoutMs: 120_000 });
async function ok(args: string[]): Promise<string> {
  const r = await kpki(args);
  expect(r.code, describeRun(r)).toBe(0);
  recordCas();
  return r.stdout;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

const spki = (key: ReturnType<typeof createPublicKey>) => key.export({ type: 'spki', format: 'der' }).toString('base64');

/** The public keys of every CA certificate now in the tree (trust files hold two during a rotation). */
function recordCas(): void {
  for (const file of walk(root).filter((f) => /(^|\/)(ca|front-proxy-ca)\.crt$/.test(f))) {
    const pem = readFileSync(file, 'utf8');
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [])
      caPublicKeys.add(spki(new X509Certificate(block).publicKey));
  }
}

/** No file of the tree holds the private key of any CA seen so far (by name or by content). */
function expectNoCaKeyFile(step: string): void {
  recordCas();
  const files = walk(root);
  expect(
    files.filter((f) => /(^|\/)(ca|front-proxy-ca)\.key$/.test(f)),
    step,
  ).toEqual([]);
  const holding = files.filter((f) => {
    const text = readFileSync(f, 'utf8');
    const blocks = text.match(/-----BEGIN (EC |RSA )?PRIVATE KEY-----[^-]+-----END (EC |RSA )?PRIVATE KEY-----/g) ?? [];
    const embedded = [...text.matchAll(/client-key-data: (\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
    return [...blocks, ...embedded].some((pem) => caPublicKeys.has(spki(createPublicKey(createPrivateKey(pem)))));
  });
  expect(holding, step).toEqual([]);
}

/** Every kubeconfig's client certificate (PEM) by file. */
const kubeconfigCerts = () =>
  Object.fromEntries(
    readdirSync(root)
      .filter((f) => f.endsWith('.conf'))
      .map((f) => [f, Buffer.from(/client-certificate-data: (\S+)/.exec(readFileSync(path.join(root, f), 'utf8'))![1]!, 'base64')]),
  );

/** Every leaf certificate of the single PKI (kubeconfigs' client certificates written out) with the trust file it must verify against. */
async function leaves(): Promise<{ cert: string; ca: string }[]> {
  const caOf = (f: string) =>
    f.includes('/etcd/') || f.endsWith('apiserver-etcd-client.crt')
      ? 'etcd/ca.crt'
      : f.includes('front-proxy')
        ? 'front-proxy-ca.crt'
        : 'ca.crt';
  const files = walk(pki)
    .filter(
      (f) => f.endsWith('.crt') && !f.includes('/rotation') && !CA_FILES.some((c) => f.endsWith(`/${c}`)) && !f.endsWith('ca-signer.crt'),
    )
    .map((cert) => ({ cert, ca: path.join(pki, caOf(cert)) }));
  const out = await res.tempDir('kubeconfig-certs');
  for (const [file, pem] of Object.entries(kubeconfigCerts())) {
    writeFileSync(path.join(out, `${file}.crt`), pem);
    files.push({ cert: path.join(out, `${file}.crt`), ca: path.join(pki, 'ca.crt') });
  }
  return files;
}

async function expectLeavesVerify(step: string): Promise<void> {
  const all = await leaves();
  // 7 leaves of a stacked control plane and its 4 kubeconfigs (super-admin.conf from v1.29 on).
  expect(all.length, step).toBeGreaterThanOrEqual(11);
  for (const { cert, ca } of all) {
    const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', ca, cert]);
    expect(r.code, `${step}: ${describeRun(r)}`).toBe(0);
  }
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Each leaf's and kubeconfig client certificate's bytes, to tell that a step signed it again. */
const leafHashes = async () => ({
  ...Object.fromEntries(
    (await leaves()).filter(({ cert }) => cert.startsWith(pki)).map(({ cert }) => [path.relative(pki, cert), sha256(readFileSync(cert))]),
  ),
  ...Object.fromEntries(Object.entries(kubeconfigCerts()).map(([file, pem]) => [file, sha256(pem)])),
});

const firstCert = (file: string) => new X509Certificate(readFileSync(file));
const settings = () => JSON.parse(readFileSync(path.join(root, 'kpki-pkcs11.json'), 'utf8')) as { caKeys: Record<string, string> };
const privateObjects = () => parseObjectList(hsm.listObjects(TOKEN)).filter((o) => o.kind.startsWith('Private Key Object'));

/** Every file under root with its hash and mode: what "nothing written" compares. */
function snapshot(): Record<string, string> {
  return Object.fromEntries(walk(root).map((f) => [f, `${sha256(readFileSync(f))} ${statSync(f).mode.toString(8)}`]));
}

beforeAll(async () => {
  hsm = await softHsm(await res.tempDir('softhsm-day2'));
  hsm.initToken(TOKEN);
  root = await res.tempDir('day2');
  pki = path.join(root, 'pki');
  env = { ...hsm.env, KPKI_PKCS11_PIN: TOKEN_PIN };
  const uris = Object.entries(OBJECTS).flatMap(([name, object]) => ['--ca-key-uri', `${name}=${hsm.uri(TOKEN, object)}`]);
  await ok(['init', '--cert-dir', pki, '--node-name', 'cp1', '--advertise-address', '127.0.0.1', '--key-type', 'ecdsa-p256', ...uris]);
  expectNoCaKeyFile('init');
}, 120_000);

describe('day 2 with every CA key in a SoftHSM token and no CA key file', () => {
  it('renew --all signs every leaf again through the token; openssl verifies them against the CAs', async () => {
    const before = await leafHashes();
    await ok(['renew', '--all', '--cert-dir', pki]);
    const after = await leafHashes();
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(Object.keys(after).filter((f) => after[f] === before[f])).toEqual([]);
    await expectLeavesVerify('renew');
    expectNoCaKeyFile('renew');
  });

  it('ca renew ca certifies the CA again with its token key: same key, new certificate, the leaves still verify', async () => {
    const old = firstCert(path.join(pki, 'ca.crt'));
    await ok(['ca', 'renew', 'ca', '--validity', '10y', '--cert-dir', pki]);
    const renewed = firstCert(path.join(pki, 'ca.crt'));
    expect(renewed.raw.equals(old.raw)).toBe(false);
    expect(spki(renewed.publicKey)).toBe(spki(old.publicKey));
    expect(renewed.verify(renewed.publicKey)).toBe(true);
    expect(new Date(renewed.validTo).getTime()).toBeGreaterThan(new Date(old.validTo).getTime());
    await expectLeavesVerify('ca renew');
    expectNoCaKeyFile('ca renew');
  });

  it('ca rotate begin → abort: the new token keys are made and deleted again, the old key signs as before', async () => {
    const before = {
      settings: settings(),
      ca: readFileSync(path.join(pki, 'ca.crt')),
      objects: privateObjects()
        .map((o) => o.label)
        .sort(),
    };
    await ok(['ca', 'rotate', 'begin', '--offline', '--cert-dir', pki]);
    expectNoCaKeyFile('begin');
    expect(privateObjects()).toHaveLength(6);
    await ok(['ca', 'rotate', 'abort', '--offline', '--cert-dir', pki]);
    expectNoCaKeyFile('abort');
    expect(settings()).toEqual(before.settings);
    expect(readFileSync(path.join(pki, 'ca.crt')).equals(before.ca)).toBe(true);
    expect(
      privateObjects()
        .map((o) => o.label)
        .sort(),
    ).toEqual(before.objects);
    await ok(['renew', 'apiserver', '--cert-dir', pki]);
    await expectLeavesVerify('renew after abort');
  });

  it('ca rotate begin → reissue → finish --offline: every leaf signed by new CAs whose keys the token made, never extractable', async () => {
    const old = Object.fromEntries(CA_FILES.map((f) => [f, spki(firstCert(path.join(pki, f)).publicKey)]));
    await ok(['ca', 'rotate', 'begin', '--offline', '--cert-dir', pki]);
    expectNoCaKeyFile('begin');
    // Each side's key is a URI under rotation/: the new one names an object of its own in the same token.
    const newUri = readFileSync(path.join(pki, 'rotation', 'new', 'ca.pkcs11-uri'), 'utf8').trim();
    expect(readFileSync(path.join(pki, 'rotation', 'old', 'ca.pkcs11-uri'), 'utf8').trim()).toBe(hsm.uri(TOKEN, OBJECTS.ca));
    expect(newUri).toMatch(/^pkcs11:token=k8s;object=cluster-ca\.rotated-\d{14}$/);
    expect(walk(path.join(pki, 'rotation')).filter((f) => f.endsWith('.key'))).toEqual([]);
    // A running kpki signer still holds the old key: the step says to restart it.
    expect(await ok(['ca', 'rotate', 'reissue', '--offline', '--cert-dir', pki])).toMatch(
      /kpki signer signs with the cluster CA key it loaded when it started: restart it now, so that approved CSRs are signed by the new CA/,
    );
    expectNoCaKeyFile('reissue');
    // From reissue on the new keys sign: kpki-pkcs11.json names them.
    expect(settings().caKeys.ca).toBe(newUri);
    await ok(['ca', 'rotate', 'finish', '--offline', '--cert-dir', pki]);
    expectNoCaKeyFile('finish');
    for (const file of CA_FILES) {
      const bundle = readFileSync(path.join(pki, file), 'utf8').match(/-----BEGIN CERTIFICATE-----/g);
      expect(bundle, file).toHaveLength(1);
      expect(spki(firstCert(path.join(pki, file)).publicKey), file).not.toBe(old[file]);
    }
    await expectLeavesVerify('finish');
    const objects = privateObjects();
    for (const [name, object] of Object.entries(OBJECTS)) {
      const label = /object=([^;?]+)/.exec(settings().caKeys[name]!)![1]!;
      expect(label, name).toMatch(new RegExp(`^${object}\\.rotated-\\d{14}$`));
      const made = objects.filter((o) => o.label === label);
      expect(made, name).toHaveLength(1);
      expect(made[0]!.access).toEqual(expect.arrayContaining(['sensitive', 'always sensitive', 'never extractable']));
      // Without --purge the old key stays in the token, its URI archived.
      expect(
        objects.filter((o) => o.label === object),
        name,
      ).toHaveLength(1);
    }
    expect(walk(pki).filter((f) => f.includes('rotation-archive') && f.endsWith('ca.pkcs11-uri'))).toHaveLength(3);
    const verify = await kpki(['verify', '--cert-dir', pki, '--json'], {});
    expect(verify.code, describeRun(verify)).toBe(0);
    const findings = JSON.parse(verify.stdout).findings as { code: string; severity: string }[];
    expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
    // What signs now is the new token key: a kubelet kubeconfig issued afterwards verifies against the new ca.crt.
    const conf = path.join(await res.tempDir('node-conf'), 'worker-1.conf');
    await ok(['kubeconfig', 'node', '--node-name', 'worker-1', '--cert-dir', pki, '--out', conf]);
    const cert = path.join(path.dirname(conf), 'worker-1.crt');
    const data = /client-certificate-data: (\S+)/.exec(readFileSync(conf, 'utf8'))![1]!;
    await import('node:fs/promises').then((fs) => fs.writeFile(cert, Buffer.from(data, 'base64')));
    const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', path.join(pki, 'ca.crt'), cert]);
    expect(r.code, describeRun(r)).toBe(0);
    expectNoCaKeyFile('kubeconfig node');
  });

  it('ca rotate --ca cluster … finish --purge deletes the retired token key', async () => {
    const retired = /object=([^;?]+)/.exec(settings().caKeys.ca!)![1]!;
    // A second rotation within the same second as the first would name the same object: the token refuses that.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const step of ['begin', 'reissue']) await ok(['ca', 'rotate', step, '--ca', 'cluster', '--offline', '--cert-dir', pki]);
    await ok(['ca', 'rotate', 'finish', '--purge', '--offline', '--cert-dir', pki]);
    expectNoCaKeyFile('finish --purge');
    const labels = privateObjects().map((o) => o.label);
    expect(labels).not.toContain(retired);
    expect(labels).toContain(/object=([^;?]+)/.exec(settings().caKeys.ca!)![1]!);
    await expectLeavesVerify('finish --purge');
  });

  it('a begin its check before writing refuses (verify finds an error) writes nothing and deletes the keys it made in the token', async () => {
    const apiserver = path.join(pki, 'apiserver.crt');
    const kept = readFileSync(apiserver);
    const objects = privateObjects()
      .map((o) => o.label)
      .sort();
    // The front-proxy client's certificate beside the apiserver's key: verify's KEY_MISMATCH.
    writeFileSync(apiserver, readFileSync(path.join(pki, 'front-proxy-client.crt')));
    const before = snapshot();
    const r = await kpki(['ca', 'rotate', 'begin', '--offline', '--cert-dir', pki]);
    writeFileSync(apiserver, kept);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/^kpki: verify finds \d+ error\(s\) in .*apiserver\.key is not the private key of/);
    const after = snapshot();
    delete after[apiserver];
    delete before[apiserver];
    expect(after).toEqual(before);
    expect(
      privateObjects()
        .map((o) => o.label)
        .sort(),
    ).toEqual(objects);
  });

  it('the PIN typed at the prompt on a terminal (script(1)): not echoed; a wrong one is one line, exit 2, nothing written', async () => {
    const script = '/usr/bin/script';
    expect(existsSync(script), 'script from util-linux (apt-get install bsdutils)').toBe(true);
    const { KPKI_PKCS11_PIN: _, ...noPin } = env;
    /** kpki renew under a pseudo-terminal, the PIN typed once the prompt is shown. */
    const typed = (pin: string) =>
      new Promise<{ code: number | null; output: string }>((resolve, reject) => {
        const command = [process.execPath, KPKI_BIN, 'renew', 'apiserver', '--cert-dir', pki].map((a) => `'${a}'`).join(' ');
        const child = spawn(script, ['-qec', command, '/dev/null'], { env: { ...process.env, ...noPin }, stdio: ['pipe', 'pipe', 'pipe'] });
        let output = '';
        let asked = false;
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          output += d;
          if (!asked && output.includes('token user PIN: ')) {
            asked = true;
            child.stdin.write(`${pin}\r`);
          }
        });
        child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
        child.once('error', reject);
        child.once('close', (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      });
    const before = snapshot();
    const wrong = await typed('not-the-pin');
    expect(wrong.code, wrong.output).toBe(2);
    expect(wrong.output).toMatch(/kpki: token k8s: the PIN is wrong/);
    expect(wrong.output).not.toContain('not-the-pin');
    expect(snapshot()).toEqual(before);
    const right = await typed(TOKEN_PIN);
    expect(right.code, right.output).toBe(0);
    expect(right.output).not.toContain(TOKEN_PIN);
    const apiserver = path.join(pki, 'apiserver.crt');
    expect(snapshot()[apiserver]).not.toBe(before[apiserver]);
    await expectLeavesVerify('renew with the PIN typed');
  });

  it('bad inputs: a wrong PIN, a key that is not ca.crt’s, a missing object: one line, exit 2, nothing written', async () => {
    const settingsFile = path.join(root, 'kpki-pkcs11.json');
    const good = readFileSync(settingsFile, 'utf8');
    const withCa = (uri: string) => JSON.stringify({ caKeys: { ...settings().caKeys, ca: uri } });
    const objects = privateObjects().length;
    const cases: [string, string | undefined, Record<string, string>, RegExp][] = [
      ['wrong PIN', undefined, { ...env, KPKI_PKCS11_PIN: 'not-the-pin' }, /^kpki: token k8s: the PIN is wrong/],
      [
        'another CA key',
        withCa(settings().caKeys['etcd-ca']!),
        env,
        /^kpki: token k8s, object etcd-ca\.rotated-\d+: the token's key does not match .*\/ca\.crt/,
      ],
      ['missing object', withCa(hsm.uri(TOKEN, 'gone')), env, /^kpki: token k8s, object gone: no such key in the token/],
    ];
    const { writeFile } = await import('node:fs/promises');
    for (const [name, content, given, message] of cases) {
      await writeFile(settingsFile, content ?? good);
      const before = snapshot();
      for (const args of [
        ['renew', '--all'],
        ['ca', 'renew', 'ca'],
        ['ca', 'rotate', 'begin', '--offline'],
      ]) {
        const r = await kpki([...args, '--cert-dir', pki], given);
        expect(r.code, `${name}: ${describeRun(r)}`).toBe(2);
        expect(r.stderr, name).toMatch(message);
        expect(r.stderr.trimEnd().split('\n'), name).toHaveLength(1);
        expect(snapshot(), `${name}: ${args.join(' ')}`).toEqual(before);
      }
    }
    await writeFile(settingsFile, good);
    expect(privateObjects()).toHaveLength(objects);
  });
});

describe('a cluster with every CA key in the token: renew, ca renew and a rotation with a node added mid-way', () => {
  it('no location ever holds a CA key file; every node certificate verifies against the new CAs; verify is clean', async () => {
    const token = await softHsm(await res.tempDir('softhsm-cluster-day2'));
    token.initToken(TOKEN);
    const dir = await res.tempDir('cluster-day2');
    const given = { ...token.env, KPKI_PKCS11_PIN: TOKEN_PIN };
    const inCluster = async (args: string[]) => {
      const r = await run(process.execPath, [KPKI_BIN, ...args], { cwd: dir, env: given, timeoutMs: 120_000 });
      expect(r.code, describeRun(r)).toBe(0);
      expect(
        walk(dir).filter((f) => /(^|\/)(ca|front-proxy-ca)\.key$/.test(f) || f.endsWith('.pkcs11-uri.key')),
        args.join(' '),
      ).toEqual([]);
    };
    const uris = Object.entries(OBJECTS).flatMap(([name, object]) => ['--ca-key-uri', `${name}=${token.uri(TOKEN, object)}`]);
    await inCluster(tokenClusterInitArgs(dir, uris));
    await inCluster(['renew', '--all']);
    await inCluster(['ca', 'renew', 'etcd-ca']);
    await inCluster(['ca', 'rotate', 'begin', '--offline']);
    await inCluster(['node', 'add', 'w2', '--address', '10.0.0.22']);
    await inCluster(['ca', 'rotate', 'reissue', '--offline']);
    await inCluster(['ca', 'rotate', 'finish', '--offline']);
    const shared = path.join(dir, 'pki');
    const nodeCerts = walk(path.join(dir, 'nodes')).filter(
      (f) => f.endsWith('.crt') && !/(^|\/)(ca|front-proxy-ca|ca-signer)\.crt$/.test(f),
    );
    // Seven per stacked control plane; workers hold kubeconfigs only.
    expect(nodeCerts.length).toBeGreaterThanOrEqual(14);
    for (const cert of nodeCerts) {
      const ca =
        cert.includes('/etcd/') || cert.endsWith('apiserver-etcd-client.crt')
          ? 'etcd/ca.crt'
          : cert.includes('front-proxy')
            ? 'front-proxy-ca.crt'
            : 'ca.crt';
      const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', path.join(shared, ca), cert]);
      expect(r.code, describeRun(r)).toBe(0);
    }
    for (const file of CA_FILES)
      expect(readFileSync(path.join(shared, file), 'utf8').match(/-----BEGIN CERTIFICATE-----/g), file).toHaveLength(1);
    const verify = await run(process.execPath, [KPKI_BIN, 'verify', '--json'], { cwd: dir, timeoutMs: 120_000 });
    expect(verify.code, describeRun(verify)).toBe(0);
    expect((JSON.parse(verify.stdout).findings as { severity: string }[]).filter((f) => f.severity !== 'info')).toEqual([]);
    // Three old keys kept (no --purge) and three new ones.
    expect(parseObjectList(token.listObjects(TOKEN)).filter((o) => o.kind.startsWith('Private Key Object'))).toHaveLength(6);
  });
});

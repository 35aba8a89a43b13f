/**
 * CA keys in a PKCS#11 token (SoftHSM, a token per run): `kpki init --ca-key-uri` makes the three
 * CA keys in the token, not extractable and sensitive as pkcs11-tool lists them, writes no CA key
 * file, and every leaf it signs through the token verifies with openssl and Go's crypto/x509.
 * Bad inputs (wrong PIN, missing token or object, a module that does not load, a key that is not
 * ca.crt's, a PIN file others can read, no PIN at all) are one line, exit 2, and write nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_NAMES, Resources, describeRun, kpkiSource, leafPlan, requireTool, run, usePki, type Pki, type PkiSource } from './helpers.js';
import { useGoverify } from './goverify.js';
import { KPKI_BIN } from '../support/cli.js';
import { parseObjectList, softHsm, tokenClusterInitArgs, TOKEN_PIN, type SoftHsm } from '../support/softhsm.js';

const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);
const openssl = requireTool('openssl');

const TOKEN = 'k8s';
const OBJECTS = { ca: 'cluster-ca', 'front-proxy-ca': 'front-proxy-ca', 'etcd-ca': 'etcd-ca' } as const;

/** kpki init with every CA key in a fresh SoftHSM token. */
function tokenSource(keyType: string, hsm: { current?: SoftHsm }): PkiSource {
  let inner: PkiSource | undefined;
  const base = kpkiSource(keyType);
  return {
    ...base,
    label: `${base.label} with CA keys in SoftHSM`,
    async create(r) {
      const made = await softHsm(await r.tempDir('softhsm'));
      made.initToken(TOKEN);
      hsm.current = made;
      const args = Object.entries(OBJECTS).flatMap(([name, object]) => ['--ca-key-uri', `${name}=${made.uri(TOKEN, object)}`]);
      inner = kpkiSource(keyType, { label: ' --ca-key-uri …', args, env: { ...made.env, KPKI_PKCS11_PIN: TOKEN_PIN } });
      return inner.create(r);
    },
  };
}

const kpki = (args: string[], env: Record<string, string>) => run(process.execPath, [KPKI_BIN, ...args], { env, timeoutMs: 120_000 });

/** Every file under dir with its bytes' hash and mode: what "nothing written" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else out[path.relative(dir, f)] = `${createHash('sha256').update(readFileSync(f)).digest('hex')} ${statSync(f).mode.toString(8)}`;
    }
  };
  walk(dir);
  return out;
}

for (const keyType of ['ecdsa-p256', 'rsa-2048']) {
  describe(`kpki init ${keyType} with the CA keys in a SoftHSM token`, () => {
    const hsm: { current?: SoftHsm } = {};
    const source = tokenSource(keyType, hsm);
    const pki = usePki(res, source);
    const root = () => path.dirname(pki().pkiDir);

    it('the token holds the three CA keys: private, sensitive, never extractable; no CA key file exists', () => {
      const objects = parseObjectList(hsm.current!.listObjects(TOKEN));
      for (const object of Object.values(OBJECTS)) {
        const privateKeys = objects.filter((o) => o.label === object && o.kind.startsWith('Private Key Object'));
        expect(privateKeys, object).toHaveLength(1);
        expect(privateKeys[0]!.kind).toContain(keyType.startsWith('rsa') ? 'RSA' : 'EC');
        expect(privateKeys[0]!.access).toEqual(expect.arrayContaining(['sensitive', 'always sensitive', 'never extractable']));
        expect(objects.filter((o) => o.label === object && o.kind.startsWith('Public Key Object'))).toHaveLength(1);
      }
      for (const ca of CA_NAMES) {
        expect(existsSync(pki().caCert(ca)), ca).toBe(true);
        expect(existsSync(pki().caKey(ca)), `${ca}.key`).toBe(false);
      }
      const keyFiles = Object.keys(snapshot(root())).filter((f) => f.endsWith('.key'));
      expect(keyFiles.filter((f) => /(^|\/)(ca|front-proxy-ca)\.key$/.test(f))).toEqual([]);
      expect(JSON.parse(readFileSync(path.join(root(), 'kpki-pkcs11.json'), 'utf8')).caKeys).toEqual(
        Object.fromEntries(Object.entries(OBJECTS).map(([name, object]) => [name, hsm.current!.uri(TOKEN, object)])),
      );
    });

    it('every leaf and kubeconfig credential verifies with openssl against its CA', async () => {
      expect(pki().allLeaves.map((l) => l.id)).toEqual(leafPlan(source).map((l) => l.id));
      for (const leaf of pki().allLeaves) {
        const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', pki().caCert(leaf.ca), leaf.cert]);
        expect(r.code, `${leaf.id}\n${describeRun(r)}`).toBe(0);
      }
    });

    it("every leaf verifies with Go's crypto/x509 for its usages, and matches its key file", async () => {
      const leaves = pki().allLeaves;
      const checks = leaves.flatMap((leaf) => [
        ...leaf.usages.map((usage) => ({ kind: 'verify' as const, cert: leaf.cert, roots: pki().caCert(leaf.ca), usage })),
        { kind: 'keypair' as const, cert: leaf.cert, key: leaf.key },
      ]);
      const results = await goCheck(checks);
      expect(results.filter((r) => !r.ok).map((r, i) => `${checks[i]!.cert}: ${r.error}`)).toEqual([]);
      expect(results).toHaveLength(checks.length);
    });

    it('a second init needs only the PIN (the URIs are remembered) and changes nothing; verify finds no missing CA key', async () => {
      const before = snapshot(root());
      const env = { ...hsm.current!.env, KPKI_PKCS11_PIN: TOKEN_PIN };
      const again = await kpki(['init', '--cert-dir', pki().pkiDir, '--kubeconfig-dir', root(), ...settingsArgs(pki())], env);
      expect(again.code, describeRun(again)).toBe(0);
      expect(again.stdout).toContain('no file was changed');
      expect(snapshot(root())).toEqual(before);
      const verify = await kpki(['verify', '--cert-dir', pki().pkiDir, '--json'], {});
      expect(verify.code, describeRun(verify)).toBe(0);
      const findings = JSON.parse(verify.stdout).findings as { code: string; severity: string }[];
      // kubeadm's kubelet serving mode is noted for any PKI; the token's note is the only other one.
      expect(findings.filter((f) => f.code !== 'KUBELET_SERVER_MODE').map((f) => `${f.severity} ${f.code}`)).toEqual([
        'info CA_KEY_IN_TOKEN',
      ]);
      expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
    });

    it('verify warns (not FILE_MISSING) when the controller manager still names the CA key file the token replaced', async () => {
      const flags = path.join(await res.tempDir('kcm-flags'), 'kcm.flags');
      await writeFile(
        flags,
        `--cluster-signing-cert-file=${pki().caCert('ca')}\n--cluster-signing-key-file=${pki().caKey('ca')}\n--kubeconfig=${path.join(root(), 'controller-manager.conf')}\n`,
      );
      const verify = await kpki(['verify', '--cert-dir', pki().pkiDir, '--controller-manager-args', flags, '--json'], {});
      const findings = JSON.parse(verify.stdout).findings as { code: string; severity: string; subject: string }[];
      expect(findings.filter((f) => f.code === 'FILE_MISSING')).toEqual([]);
      expect(findings.filter((f) => f.code === 'CA_KEY_IN_TOKEN').map((f) => `${f.severity} ${f.subject}`)).toEqual([
        'warning kube-controller-manager --cluster-signing-key-file',
        `info ${path.join(root(), 'kpki-pkcs11.json')}`,
      ]);
    });

    it('cert issue, cert extension-apiserver and kubeconfig user sign through the token with only the PIN; openssl and Go verify them', async () => {
      const env = { ...hsm.current!.env, KPKI_PKCS11_PIN: TOKEN_PIN };
      const out = await res.tempDir('issued');
      const issued: { cert: string; ca: string; usage: 'server' | 'client' }[] = [];
      const ok = async (args: string[]) => {
        const r = await kpki(args, env);
        expect(r.code, describeRun(r)).toBe(0);
      };
      await ok([
        'cert',
        'issue',
        '--profile',
        'server',
        '--cn',
        'registry',
        '--san',
        'registry.kpki.test',
        '--ca',
        'cluster',
        '--cert-dir',
        pki().pkiDir,
        '--out',
        path.join(out, 'registry'),
      ]);
      issued.push({ cert: path.join(out, 'registry.crt'), ca: pki().caCert('ca'), usage: 'server' });
      await ok([
        'cert',
        'issue',
        '--profile',
        'client',
        '--cn',
        'backup',
        '--ca',
        'etcd',
        '--cert-dir',
        pki().pkiDir,
        '--out',
        path.join(out, 'backup'),
      ]);
      issued.push({ cert: path.join(out, 'backup.crt'), ca: pki().caCert('etcd/ca'), usage: 'client' });
      await ok([
        'cert',
        'extension-apiserver',
        '--service',
        'metrics',
        '--namespace',
        'kube-system',
        '--ca',
        'cluster',
        '--cert-dir',
        pki().pkiDir,
        '--out',
        path.join(out, 'metrics'),
      ]);
      issued.push({ cert: path.join(out, 'metrics.crt'), ca: pki().caCert('ca'), usage: 'server' });
      const conf = path.join(out, 'alice.conf');
      await ok(['kubeconfig', 'user', '--client-name', 'alice', '--org', 'devs', '--cert-dir', pki().pkiDir, '--out', conf]);
      const user = (/client-certificate-data: (\S+)/.exec(readFileSync(conf, 'utf8')) ?? [])[1]!;
      await writeFile(path.join(out, 'alice.crt'), Buffer.from(user, 'base64'));
      issued.push({ cert: path.join(out, 'alice.crt'), ca: pki().caCert('ca'), usage: 'client' });
      for (const { cert, ca } of issued) {
        const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', ca, cert]);
        expect(r.code, describeRun(r)).toBe(0);
      }
      const results = await goCheck(issued.map(({ cert, ca, usage }) => ({ kind: 'verify' as const, cert, roots: ca, usage })));
      expect(results.map((r) => r.error)).toEqual(issued.map(() => ''));
    });

    it('bad inputs: one line naming the token and object, exit 2, nothing written', async () => {
      const before = snapshot(root());
      const env = hsm.current!.env;
      const dirs = ['init', '--cert-dir', pki().pkiDir, '--kubeconfig-dir', root(), ...settingsArgs(pki())];
      const pinFile = path.join(await res.tempDir('pin'), 'pin');
      await writeFile(pinFile, `${TOKEN_PIN}\n`);
      await chmod(pinFile, 0o644);
      const cases: [string, string[], Record<string, string>, RegExp][] = [
        ['wrong PIN', dirs, { ...env, KPKI_PKCS11_PIN: 'not-the-pin' }, /^kpki: token k8s: the PIN is wrong/],
        [
          'missing token',
          [...dirs, '--ca-key-uri', 'ca=pkcs11:token=nope;object=cluster-ca'],
          { ...env, KPKI_PKCS11_PIN: TOKEN_PIN },
          /^kpki: token nope, object cluster-ca: no token labelled "nope"/,
        ],
        [
          'missing object',
          [...dirs, '--ca-key-uri', 'ca=pkcs11:token=k8s;object=gone'],
          { ...env, KPKI_PKCS11_PIN: TOKEN_PIN },
          /^kpki: token k8s, object gone: no such key in the token, and .*ca\.crt exists/,
        ],
        [
          'another CA key',
          [...dirs, '--ca-key-uri', 'ca=pkcs11:token=k8s;object=etcd-ca'],
          { ...env, KPKI_PKCS11_PIN: TOKEN_PIN },
          /^kpki: token k8s, object etcd-ca: the token's key does not match .*ca\.crt/,
        ],
        [
          'module that does not load',
          [...dirs, '--pkcs11-module', '/nonexistent/libpkcs11.so'],
          { ...env, KPKI_PKCS11_PIN: TOKEN_PIN },
          /^kpki: --pkcs11-module \/nonexistent\/libpkcs11\.so: does not load/,
        ],
        ['PIN file others can read', [...dirs, '--pin-file', pinFile], env, /^kpki: --pin-file .*: is readable by others \(mode 0644\)/],
        ['no PIN and no terminal', dirs, env, /^kpki: --pin-file: the CA keys are in a PKCS#11 token and no PIN was given/],
        [
          'a PIN in the URI',
          [...dirs, '--ca-key-uri', 'ca=pkcs11:token=k8s;object=cluster-ca?pin-value=1234'],
          env,
          /^kpki: --ca-key-uri ca: holds pin-value: a PIN never goes on the command line/,
        ],
      ];
      for (const [name, args, given, message] of cases) {
        const r = await kpki(args, given);
        expect(r.code, `${name}\n${describeRun(r)}`).toBe(2);
        expect(r.stderr, name).toMatch(message);
        expect(r.stderr.trimEnd().split('\n'), name).toHaveLength(1);
        expect(snapshot(root()), name).toEqual(before);
      }
      // Nothing was made in the token either.
      expect(parseObjectList(hsm.current!.listObjects(TOKEN))).toHaveLength(6);
    });
  });
}

describe('a whole cluster with its CA keys in the token: init --control-plane-nodes, then node add with only the PIN', () => {
  it('no node holds a CA key file; every node certificate verifies; verify finds no problem', async () => {
    const hsm = await softHsm(await res.tempDir('softhsm-cluster'));
    hsm.initToken(TOKEN);
    const root = await res.tempDir('cluster');
    const env = { ...hsm.env, KPKI_PKCS11_PIN: TOKEN_PIN };
    const uris = Object.entries(OBJECTS).flatMap(([name, object]) => ['--ca-key-uri', `${name}=${hsm.uri(TOKEN, object)}`]);
    const init = await kpki(tokenClusterInitArgs(root, uris), env);
    expect(init.code, describeRun(init)).toBe(0);
    const add = await run(process.execPath, [KPKI_BIN, 'node', 'add', 'w2', '--address', '10.0.0.22'], {
      cwd: root,
      env,
      timeoutMs: 120_000,
    });
    expect(add.code, describeRun(add)).toBe(0);
    const files = Object.keys(snapshot(root));
    expect(files.filter((f) => /(^|\/)(ca|front-proxy-ca)\.key$/.test(f))).toEqual([]);
    const leaves = files.filter((f) => f.endsWith('.crt') && !/(^|\/)(ca|front-proxy-ca)\.crt$/.test(f)).map((f) => path.join(root, f));
    expect(leaves.length).toBeGreaterThan(10);
    for (const leaf of leaves) {
      const ca = path.join(
        root,
        'pki',
        leaf.includes('/etcd/') || leaf.endsWith('apiserver-etcd-client.crt')
          ? 'etcd/ca.crt'
          : leaf.includes('front-proxy')
            ? 'front-proxy-ca.crt'
            : 'ca.crt',
      );
      const r = await run(openssl, ['verify', '-no-CApath', '-no-CAstore', '-CAfile', ca, leaf]);
      expect(r.code, describeRun(r)).toBe(0);
    }
    const verify = await run(process.execPath, [KPKI_BIN, 'verify', '--json'], { cwd: root, timeoutMs: 120_000 });
    expect(verify.code, describeRun(verify)).toBe(0);
    expect(verify.stdout).toContain('CA_KEY_IN_TOKEN');
    expect(verify.stdout).not.toContain('FILE_MISSING');
    expect(parseObjectList(hsm.listObjects(TOKEN))).toHaveLength(6);
  });
});

describe('the PKCS#11 provider is loaded only by commands that use a token', () => {
  it('kpki verify and a file-key init never load it; a command signing with a token key does', async () => {
    const dir = await res.tempDir('provider-loads');
    const hook = path.join(dir, 'hook.cjs');
    await writeFile(
      hook,
      "const M = require('module'); const load = M._load; M._load = function (request, ...rest) { if (/^(node-webcrypto-p11|graphene-pk11|pkcs11js)$/.test(request)) process.stderr.write('PROVIDER ' + request + '\\n'); return load.call(this, request, ...rest); };\n",
    );
    const traced = (args: string[], env: Record<string, string> = {}) =>
      run(process.execPath, ['-r', hook, KPKI_BIN, ...args], { env, timeoutMs: 120_000 });
    const init = await traced([
      'init',
      '--cert-dir',
      path.join(dir, 'pki'),
      '--node-name',
      'cp1',
      '--advertise-address',
      '127.0.0.1',
      '--key-type',
      'ecdsa-p256',
    ]);
    expect(init.code, describeRun(init)).toBe(0);
    const verify = await traced(['verify', '--cert-dir', path.join(dir, 'pki')]);
    expect(verify.code, describeRun(verify)).toBe(0);
    expect(`${init.stderr}${verify.stderr}`).not.toContain('PROVIDER');
    const hsm = await softHsm(await res.tempDir('softhsm-loads'));
    hsm.initToken(TOKEN);
    const token = await traced(
      [
        'init',
        '--cert-dir',
        path.join(dir, 'token', 'pki'),
        '--node-name',
        'cp1',
        '--advertise-address',
        '127.0.0.1',
        '--ca-key-uri',
        `ca=${hsm.uri(TOKEN, 'cluster-ca')}`,
      ],
      { ...hsm.env, KPKI_PKCS11_PIN: TOKEN_PIN },
    );
    expect(token.code, describeRun(token)).toBe(0);
    expect(token.stderr).toContain('PROVIDER node-webcrypto-p11');
  });
});

describe('kpki init into a new directory with a wrong PIN', () => {
  it('fails before writing anything: no directory, no token object', async () => {
    const hsm = await softHsm(await res.tempDir('softhsm-fresh'));
    hsm.initToken(TOKEN);
    const root = path.join(await res.tempDir('fresh'), 'k8s');
    const r = await kpki(
      [
        'init',
        '--cert-dir',
        path.join(root, 'pki'),
        '--node-name',
        'cp1',
        '--advertise-address',
        '127.0.0.1',
        '--ca-key-uri',
        `ca=${hsm.uri(TOKEN, 'cluster-ca')}`,
      ],
      { ...hsm.env, KPKI_PKCS11_PIN: 'wrong' },
    );
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toMatch(/^kpki: token k8s: the PIN is wrong/);
    expect(existsSync(root)).toBe(false);
    expect(parseObjectList(hsm.listObjects(TOKEN))).toEqual([]);
  });
});

function settingsArgs(pki: Pki): string[] {
  const s = pki.settings;
  return [
    '--node-name',
    s.nodeName,
    '--advertise-address',
    s.advertiseAddress,
    '--control-plane-endpoint',
    s.controlPlaneEndpoint,
    '--apiserver-cert-extra-sans',
    s.apiserverExtraSans.join(','),
    '--etcd-server-cert-extra-sans',
    s.etcdServerExtraSans.join(','),
    '--key-type',
    s.keyType,
  ];
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKubeconfig, parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { buildPkiSpec, selectEntries, type PkiSpec } from '../../src/model/spec.js';
import { parseProfile } from '../../src/model/profile.js';
import { resolveSettings, type SettingsInput } from '../../src/model/settings.js';
import { certificatePem, issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair, privateKeyPem, publicKeyPem } from '../../src/pki/keys.js';
import { parseCertificate, parseCertificates, parseKey } from '../../src/pki/pem.js';
import { decide, kubeconfigReferences, observedPaths, type ConvergeIntent } from '../../src/plan/decide.js';
import type { Observed } from '../../src/model/files.js';
import type { Location } from '../../src/model/layout.js';
import { renderSteps } from '../../src/plan/render.js';
import { decideRenewal, type RenewalSite, type RenewIntent } from '../../src/plan/renewal.js';
import type { Step } from '../../src/plan/steps.js';
import { REPO_ROOT } from '../support/tmp.js';

// decide() is pure: every case below is an in-memory file map, nothing touches the disk.
const profile = parseProfile(readFileSync(path.join(REPO_ROOT, 'profiles', 'kubeadm.yaml'), 'utf8'), 'kubeadm.yaml');
const ENTRIES = ['ca', 'apiserver', 'sa', 'admin.conf', 'kubeadm-cluster-admins'];
const specOf = (input: SettingsInput = {}): PkiSpec =>
  selectEntries(
    buildPkiSpec(profile, resolveSettings({ keyType: 'ecdsa-p256', ...input }, { nodeName: 'cp1', advertiseAddress: '10.0.0.11' })),
    ENTRIES,
  );
const spec = specOf();
const here: Location = { certDir: '/k/pki', kubeconfigDir: '/k' };
const NOW = new Date('2026-06-01T00:00:00Z');
const converge = (over: Partial<ConvergeIntent> = {}): ConvergeIntent => ({ force: false, renew: [], now: NOW, ...over });
const F = {
  caCrt: '/k/pki/ca.crt',
  caKey: '/k/pki/ca.key',
  crt: '/k/pki/apiserver.crt',
  key: '/k/pki/apiserver.key',
  saKey: '/k/pki/sa.key',
  saPub: '/k/pki/sa.pub',
  admin: '/k/admin.conf',
  manifest: '/k/kubeadm-cluster-admins.yaml',
};

/** What a completed first run leaves: rendered from a create-everything decision. */
let complete: Observed;
beforeAll(async () => {
  const steps = await decide(spec, here, new Map(), converge());
  complete = new Map((await renderSteps(steps, { now: NOW })).flatMap((r) => r.files).map((w) => [w.path, Buffer.from(w.data)]));
});

const actions = (steps: Step[]) => Object.fromEntries(steps.map((s) => [s.name, s.action]));
const step = (steps: Step[], name: string) => steps.find((s) => s.name === name)!;
const edit = (changes: Record<string, Buffer | string | undefined>): Observed => {
  const map = new Map(complete);
  for (const [file, data] of Object.entries(changes)) {
    if (data === undefined) map.delete(file);
    else map.set(file, Buffer.from(data));
  }
  return map;
};
/** Another key's certificate for the same spec entry, signed by a CA of its own. */
async function foreignPair(name: 'ca' | 'apiserver') {
  const caPair = await generateKeyPair('ecdsa-p256');
  const ca = spec.certificates[0]!;
  const caCert = await issueCertificate({
    spec: ca,
    publicKey: caPair.publicKey,
    issuer: { key: caPair.privateKey, certificate: undefined },
    now: NOW,
  });
  if (name === 'ca') return { crt: certificatePem(caCert), key: privateKeyPem(caPair.privateKey) };
  const leafPair = await generateKeyPair('ecdsa-p256');
  const leaf = await issueCertificate({
    spec: step(await decide(spec, here, new Map(), converge()), 'apiserver').spec as never,
    publicKey: leafPair.publicKey,
    issuer: { key: caPair.privateKey, certificate: caCert },
    now: NOW,
  });
  return { crt: certificatePem(leaf), key: privateKeyPem(leafPair.privateKey) };
}

describe('decide: a single-node PKI', () => {
  it('creates everything from nothing, CAs first, and names every file it reads', async () => {
    const steps = await decide(spec, here, new Map(), converge());
    expect(actions(steps)).toEqual({
      ca: 'create',
      apiserver: 'create',
      sa: 'create',
      'admin.conf': 'create',
      'kubeadm-cluster-admins': 'create',
    });
    expect(steps[0]!.kind).toBe('ca');
    expect(new Set(observedPaths(spec, here))).toEqual(new Set(Object.values(F)));
  });

  it('reuses what matches, and is deterministic and leaves its input alone', async () => {
    const before = new Map(complete);
    const [a, b] = await Promise.all([decide(spec, here, complete, converge()), decide(spec, here, complete, converge())]);
    expect(Object.values(actions(a))).toEqual(Array(5).fill('reuse'));
    expect(a.map((s) => [s.action, s.reasons])).toEqual(b.map((s) => [s.action, s.reasons]));
    expect(complete).toEqual(before);
  });

  describe('CA', () => {
    it('is external when only its certificate exists: leaves are checked, not issued', async () => {
      const steps = await decide(spec, here, edit({ [F.caKey]: undefined }), converge());
      expect(actions(steps)).toMatchObject({ ca: 'external', apiserver: 'external', 'admin.conf': 'external' });
    });

    it('is completed from its key when the certificate alone is gone; what the key signed stays', async () => {
      const steps = await decide(spec, here, edit({ [F.caCrt]: undefined }), converge());
      expect(actions(steps)).toMatchObject({ ca: 'complete', apiserver: 'reuse', 'admin.conf': 'reuse' });
      expect(step(steps, 'ca')).toHaveProperty('existingKey');
    });

    it('when completed, a leaf some other key signed is stale', async () => {
      const other = await foreignPair('apiserver');
      const steps = await decide(spec, here, edit({ [F.caCrt]: undefined, [F.crt]: other.crt, [F.key]: other.key }), converge());
      expect(step(steps, 'apiserver')).toMatchObject({ action: 'conflict', reasons: ['is not signed by the current ca'] });
    });

    it.each([
      ['--renew names it', converge({ renew: ['ca'] }), {}, /never replaces a CA/],
      ['its key is another', converge(), 'other-key', /ca.key does not match ca.crt/],
      ['it expired', converge({ now: new Date('2040-01-01T00:00:00Z') }), {}, /expired on/],
    ])('is refused, never replaced, when %s', async (_, intent, change, reason) => {
      const observed = change === 'other-key' ? edit({ [F.caKey]: (await foreignPair('ca')).key }) : complete;
      const ca = step(await decide(spec, here, observed, intent), 'ca');
      expect(ca.action).toBe('conflict');
      expect(ca.reasons.join('; ')).toMatch(reason);
    });

    it('is refused when the certificate is not a CA', async () => {
      const ca = step(await decide(spec, here, edit({ [F.caCrt]: complete.get(F.crt) }), converge()), 'ca');
      expect(ca.reasons).toContain('is not a CA (BasicConstraints CA:TRUE missing)');
    });

    it('created anew makes every existing leaf stale', async () => {
      const steps = await decide(spec, here, edit({ [F.caCrt]: undefined, [F.caKey]: undefined }), converge({ force: true }));
      expect(actions(steps)).toMatchObject({ ca: 'create', apiserver: 'reissue', 'admin.conf': 'reissue' });
      expect(step(steps, 'apiserver').reasons).toEqual(['was signed by a previous ca, which is being created anew']);
    });
  });

  describe('leaf', () => {
    it('is completed from a key left without its certificate', async () => {
      const s = step(await decide(spec, here, edit({ [F.crt]: undefined }), converge()), 'apiserver');
      expect(s).toMatchObject({ action: 'complete', reasons: ['apiserver.key exists without its certificate'] });
    });

    it('with a missing key is stale: refused, or reissued with --force', async () => {
      const observed = edit({ [F.key]: undefined });
      expect(step(await decide(spec, here, observed, converge()), 'apiserver')).toMatchObject({
        action: 'conflict',
        reasons: ['apiserver.key is missing'],
      });
      expect(step(await decide(spec, here, observed, converge({ force: true })), 'apiserver').action).toBe('reissue');
    });

    it('lacking a SAN the settings add is refused without --force or --renew', async () => {
      const wider = specOf({ apiserverCertExtraSans: 'vip.example' });
      const refused = step(await decide(wider, here, complete, converge()), 'apiserver');
      expect(refused).toMatchObject({ action: 'conflict', reasons: ['lacks SAN vip.example'] });
      expect(step(await decide(wider, here, complete, converge({ renew: ['apiserver'] })), 'apiserver').action).toBe('reissue');
    });

    it('is reissued when --renew names it, even while it matches', async () => {
      const s = step(await decide(spec, here, complete, converge({ renew: ['apiserver'] })), 'apiserver');
      expect(s).toMatchObject({ action: 'reissue', reasons: ['--renew asks for a new certificate'] });
    });

    it('signed by another CA is stale', async () => {
      const other = await foreignPair('apiserver');
      const s = step(await decide(spec, here, edit({ [F.crt]: other.crt, [F.key]: other.key }), converge()), 'apiserver');
      expect(s.reasons).toEqual(['is not signed by the current ca']);
    });

    it('under an external CA: missing is a conflict, --renew is refused', async () => {
      const noKey = { [F.caKey]: undefined };
      expect(
        step(await decide(spec, here, edit({ ...noKey, [F.crt]: undefined, [F.key]: undefined }), converge()), 'apiserver').reasons[0],
      ).toMatch(/external CA \(no key\)/);
      expect(step(await decide(spec, here, edit(noKey), converge({ renew: ['apiserver'] })), 'apiserver').reasons[0]).toMatch(
        /--renew needs the CA key/,
      );
    });
  });

  describe('service-account key pair', () => {
    it.each([
      ['sa.pub is missing', { [F.saPub]: undefined }, 'complete', 'sa.pub is missing'],
      [
        'sa.pub exists without sa.key',
        { [F.saKey]: undefined },
        'conflict',
        'sa.pub exists without sa.key: restore the key or remove the public key',
      ],
      [
        'sa.pub is not a public key',
        { [F.saPub]: 'junk' },
        'conflict',
        'sa.pub is not a PEM public key: remove it to derive it from sa.key',
      ],
    ])('when %s', async (_, change, action, reason) => {
      expect(step(await decide(spec, here, edit(change), converge()), 'sa')).toMatchObject({ action, reasons: [reason] });
    });

    it('whose halves do not match is refused even with --force; --renew replaces it', async () => {
      const other = await generateKeyPair('ecdsa-p256');
      const observed = edit({ [F.saPub]: publicKeyPem(other.publicKey) });
      expect(step(await decide(spec, here, observed, converge({ force: true })), 'sa').action).toBe('conflict');
      expect(step(await decide(spec, here, observed, converge({ renew: ['sa'] })), 'sa').action).toBe('reissue');
    });
  });

  describe('kubeconfig', () => {
    it.each([
      [
        'another server',
        (text: string) => text.replace('https://10.0.0.11:6443', 'https://10.9.9.9:6443'),
        'server is https://10.9.9.9:6443, want https://10.0.0.11:6443',
      ],
      [
        'another cluster name',
        (text: string) => text.replaceAll('cluster: kubernetes', 'cluster: other').replace('name: kubernetes\n', 'name: other\n'),
        'cluster is "other", want "kubernetes"',
      ],
    ])('naming %s is stale', async (_, change, reason) => {
      const s = step(await decide(spec, here, edit({ [F.admin]: change(complete.get(F.admin)!.toString()) }), converge()), 'admin.conf');
      expect(s).toMatchObject({ action: 'conflict', reasons: [reason] });
    });

    it('with another CA embedded is stale', async () => {
      const other = await foreignPair('apiserver');
      const foreignCa = await foreignPair('ca');
      const text = buildKubeconfig({
        clusterName: 'kubernetes',
        server: 'https://10.0.0.11:6443',
        userName: 'kubernetes-admin',
        contextName: 'kubernetes-admin@kubernetes',
        ca: { pem: foreignCa.crt },
        cert: { pem: other.crt },
        key: { pem: other.key },
      });
      const s = step(await decide(spec, here, edit({ [F.admin]: text }), converge()), 'admin.conf');
      expect(s.reasons).toContain('its certificate-authority-data is not the current ca');
    });

    it('reads credentials it names by path from the observed files, relative to itself', async () => {
      const creds = parseCertificate(complete.get(F.caCrt)!, F.caCrt);
      expect(creds.subject).toBe('CN=kubernetes');
      const admin = complete.get(F.admin)!.toString();
      const data = (field: string) => Buffer.from(new RegExp(`${field}-data: (\\S+)`).exec(admin)![1]!, 'base64').toString();
      const text = buildKubeconfig({
        clusterName: 'kubernetes',
        server: 'https://10.0.0.11:6443',
        userName: 'kubernetes-admin',
        contextName: 'kubernetes-admin@kubernetes',
        ca: { path: 'pki/ca.crt' },
        cert: { path: 'admin.crt' },
        key: { path: 'admin.key' },
      });
      const observed = edit({ [F.admin]: text, '/k/admin.crt': data('client-certificate'), '/k/admin.key': data('client-key') });
      expect(kubeconfigReferences(spec, here, observed).sort()).toEqual(['/k/admin.crt', '/k/admin.key', F.caCrt]);
      expect(step(await decide(spec, here, observed, converge()), 'admin.conf').action).toBe('reuse');
      expect(step(await decide(spec, here, edit({ [F.admin]: text }), converge()), 'admin.conf').reasons).toEqual([
        'has no client certificate and key',
      ]);
    });
  });

  it('a manifest that differs is refused, and replaced with --force', async () => {
    const observed = edit({ [F.manifest]: 'kind: Other\n' });
    expect(step(await decide(spec, here, observed, converge()), 'kubeadm-cluster-admins')).toMatchObject({
      action: 'conflict',
      reasons: ['content differs from the profile'],
    });
    expect(step(await decide(spec, here, observed, converge({ force: true })), 'kubeadm-cluster-admins').action).toBe('reissue');
  });
});

describe('decide: a node whose CAs come from the shared set', () => {
  const node: Location = { certDir: '/n/pki', kubeconfigDir: '/n', shared: { certDir: '/k/pki', entries: ['sa'], keys: ['ca', 'sa'] } };
  const nodeSpec = selectEntries(spec, ['ca', 'apiserver', 'sa']);

  it('copies the CA and its key (keys it holds) and signs its own leaves with the shared CA', async () => {
    const steps = await decide(nodeSpec, node, complete, converge());
    expect(actions(steps)).toEqual({ ca: 'copy', apiserver: 'create', sa: 'copy' });
    const ca = step(steps, 'ca');
    expect(ca.action === 'copy' && 'copies' in ca && ca.copies.map((c) => [c.path, c.mode])).toEqual([
      ['/n/pki/ca.key', 0o600],
      ['/n/pki/ca.crt', 0o644],
    ]);
    expect(ca.authority?.key).toBeDefined();
    const files = (await renderSteps(steps, { now: NOW })).flatMap((r) => r.files);
    const leaf = parseCertificate(Buffer.from(files.find((f) => f.path === '/n/pki/apiserver.crt')!.data), 'apiserver.crt');
    expect(leaf.issuer).toBe('CN=kubernetes');
    expect(await leaf.verify({ publicKey: parseCertificate(complete.get(F.caCrt)!, F.caCrt).publicKey, signatureOnly: true })).toBe(true);
    // sa.pub is written 0600 as kubeadm does.
    expect(files.filter((f) => f.path.startsWith('/n/pki/sa')).map((f) => [f.path, f.mode])).toEqual([
      ['/n/pki/sa.key', 0o600],
      ['/n/pki/sa.pub', 0o600],
    ]);
  });

  it('copies only certificates for a node that holds no keys, and still signs with the shared key', async () => {
    const worker = { ...node, shared: { ...node.shared!, keys: [] } };
    const steps = await decide(nodeSpec, worker, complete, converge());
    const ca = step(steps, 'ca');
    expect(ca.action === 'copy' && 'copies' in ca && ca.copies.map((c) => c.path)).toEqual(['/n/pki/ca.crt']);
    expect(step(steps, 'apiserver').action).toBe('create');
  });

  it('reuses identical copies, and refuses a node CA that is another authority', async () => {
    const copied = new Map([...complete, ['/n/pki/ca.crt', complete.get(F.caCrt)!], ['/n/pki/ca.key', complete.get(F.caKey)!]]);
    expect(step(await decide(nodeSpec, node, copied, converge()), 'ca').action).toBe('reuse');
    const foreign = new Map([...copied, ['/n/pki/ca.crt', Buffer.from((await foreignPair('ca')).crt)]]);
    expect(step(await decide(nodeSpec, node, foreign, converge()), 'ca')).toMatchObject({
      action: 'conflict',
      reasons: ["/n/pki/ca.crt is not the cluster's ca (/k/pki/ca.crt)"],
    });
  });

  it('a node key that differs from the shared one is refused', async () => {
    const other = await generateKeyPair('ecdsa-p256');
    const observed = new Map([...complete, ['/n/pki/sa.key', Buffer.from(privateKeyPem(other.privateKey))]]);
    expect(step(await decide(nodeSpec, node, observed, converge()), 'sa')).toMatchObject({
      action: 'conflict',
      reasons: ["/n/pki/sa.key differs from the cluster's /k/pki/sa"],
    });
  });

  it('fails with a one-line error when the shared CA is missing', async () => {
    await expect(decide(nodeSpec, node, edit({ [F.caCrt]: undefined }), converge())).rejects.toThrow(
      "/k/pki/ca.crt: the cluster's ca is missing",
    );
  });

  it('observes the shared files it copies', () => {
    expect(observedPaths(nodeSpec, node)).toEqual(
      expect.arrayContaining([F.caCrt, F.caKey, F.saKey, F.saPub, '/n/pki/ca.crt', '/n/pki/sa.pub']),
    );
    expect(parseKey(complete.get(F.caKey)!, F.caKey).type).toBe('private');
  });
});

describe('decideRenewal: kpki renew and a rotation reissue', () => {
  const site = (over: Partial<RenewalSite> = {}): RenewalSite => ({
    node: 'local',
    signing: true,
    name: 'apiserver',
    kind: 'certificate',
    issuer: 'ca',
    files: [F.crt, F.key],
    certDir: '/k/pki',
    ...over,
  });
  const adminSite = site({ name: 'admin.conf', kind: 'kubeconfig', files: [F.admin] });
  const intent = (over: Partial<RenewIntent> = {}): RenewIntent => ({
    extraSans: new Map(),
    key: 'auto',
    validity: 86400,
    signable: new Set(['ca']),
    csrOnly: false,
    csrDir: '/k/csr',
    policy: profile.policy,
    ...over,
  });
  const signers = () => {
    const certificate = parseCertificate(complete.get(F.caCrt)!, F.caCrt);
    return new Map([['ca', { certificate, key: parseKey(complete.get(F.caKey)!, F.caKey) }]]);
  };

  it("keeps the certificate's subject and SANs, adds the asked SANs, and with --new-key writes a new key", async () => {
    const [s] = decideRenewal([site()], complete, intent({ key: 'new', extraSans: new Map([['apiserver', ['vip.example', '10.9.9.9']]]) }));
    expect(s).toMatchObject({ action: 'renew', files: [F.crt, F.key], subject: 'CN=kube-apiserver', validitySeconds: 86400 });
    expect(s!.sans).toEqual(expect.arrayContaining(['kubernetes.default.svc.cluster.local', 'vip.example', '10.0.0.11', '10.9.9.9']));
    const [rendered] = await renderSteps([s!], { now: NOW, signers: signers() });
    expect(rendered!.files.map((f) => f.path)).toEqual([F.key, F.crt]);
    expect(rendered!.issued!.notAfter.getTime() - NOW.getTime()).toBe(86400_000);
  });

  it('by default and with --keep-key signs the same key again and writes only the certificate (one file of the pair changes)', async () => {
    for (const key of ['auto', 'keep'] as const) {
      const [s] = decideRenewal([site()], complete, intent({ key }));
      expect(s).toMatchObject({ action: 'renew', files: [F.crt] });
      const [rendered] = await renderSteps([s!], { now: NOW, signers: signers() });
      expect(rendered!.files.map((f) => f.path)).toEqual([F.crt]);
      expect(rendered!.issued!.publicKey.rawData).toEqual(parseCertificate(complete.get(F.crt)!, F.crt).publicKey.rawData);
    }
  });

  it('by default replaces a key that is missing or belongs to another certificate', () => {
    for (const broken of [edit({ [F.key]: undefined }), edit({ [F.key]: complete.get(F.caKey) })]) {
      expect(decideRenewal([site()], broken, intent())[0]).toMatchObject({ action: 'renew', files: [F.crt, F.key], keptKey: undefined });
    }
  });

  it('refuses --keep-key when the key is missing or another', () => {
    expect(() => decideRenewal([site()], edit({ [F.key]: undefined }), intent({ key: 'keep' }))).toThrow(
      `${F.key}: is missing, so --keep-key has no key to keep`,
    );
    expect(() => decideRenewal([site()], edit({ [F.key]: complete.get(F.caKey) }), intent({ key: 'keep' }))).toThrow(
      `${F.key}: does not match ${F.crt}`,
    );
  });

  it('skips sites where the entry does not exist', () => {
    expect(decideRenewal([site({ files: ['/k/pki/none.crt', '/k/pki/none.key'] })], complete, intent())).toEqual([]);
  });

  it('refuses what an external CA signed unless --csr-only, which asks for a key and a CSR per site', async () => {
    const external = intent({ signable: new Set() });
    expect(() => decideRenewal([site()], complete, external)).toThrow(`cannot renew what an external CA signed: ${F.crt}`);
    const nodeCopy = edit({ '/n/pki/apiserver.crt': complete.get(F.crt) });
    const steps = decideRenewal(
      [site(), site({ node: 'cp2', signing: false, files: ['/n/pki/apiserver.crt', '/n/pki/apiserver.key'], certDir: '/n/pki' })],
      nodeCopy,
      { ...external, csrOnly: true },
    );
    expect(steps.map((s) => [s.action, s.files])).toEqual([
      ['csr', ['/k/csr/apiserver.key', '/k/csr/apiserver.csr']],
      ['csr', ['/k/csr/cp2/apiserver.key', '/k/csr/cp2/apiserver.csr']],
    ]);
  });

  it("a node's byte-for-byte copy follows the shared renewal; a node's own certificate is renewed on its own", async () => {
    const nodeFiles = ['/n/pki/apiserver.crt', '/n/pki/apiserver.key'];
    const sameBytes = edit({ [nodeFiles[0]!]: complete.get(F.crt), [nodeFiles[1]!]: complete.get(F.key) });
    const steps = decideRenewal(
      [site(), site({ node: 'cp2', signing: false, files: nodeFiles, certDir: '/n/pki' })],
      sameBytes,
      intent({ key: 'new' }),
    );
    expect(steps.map((s) => s.action)).toEqual(['renew', 'copy']);
    const rendered = await renderSteps(steps, { now: NOW, signers: signers() });
    const bytes = (file: string) => rendered.flatMap((r) => r.files).find((f) => f.path === file)!.data;
    expect(bytes(nodeFiles[0]!)).toEqual(bytes(F.crt));
    expect(bytes(nodeFiles[1]!)).toEqual(bytes(F.key));
    const own = decideRenewal(
      [site(), site({ node: 'cp2', signing: false, files: nodeFiles, certDir: '/n/pki' })],
      edit({ [nodeFiles[0]!]: complete.get(F.crt)!.toString() + '\n', [nodeFiles[1]!]: complete.get(F.key) }),
      intent(),
    );
    expect(own.map((s) => s.action)).toEqual(['renew', 'renew']);
  });

  it("a node's byte-for-byte copy of a shared kubeconfig follows its renewal", async () => {
    const nodeSite = { ...adminSite, node: 'cp2', signing: false, files: ['/n/admin.conf'], certDir: '/n/pki' };
    const steps = decideRenewal([adminSite, nodeSite], edit({ '/n/admin.conf': complete.get(F.admin) }), intent());
    expect(steps.map((s) => [s.action, s.files])).toEqual([
      ['renew', [F.admin]],
      ['copy', ['/n/admin.conf']],
    ]);
    const files = (await renderSteps(steps, { now: NOW, signers: signers() })).flatMap((r) => r.files);
    const [shared, node] = [F.admin, '/n/admin.conf'].map((file) => files.find((f) => f.path === file)!);
    expect(node!.data).toEqual(shared!.data);
    expect(node!.mode).toBe(0o600);
  });

  it('a kubeconfig keeps every field but its credentials, and trusts the whole trust file', async () => {
    const original = complete.get(F.admin)!.toString().replace('preferences: {}', 'preferences:\n  colors: true');
    const [s] = decideRenewal([adminSite], edit({ [F.admin]: original }), intent());
    expect(s).toMatchObject({ action: 'renew', kind: 'kubeconfig', subject: 'CN=kubernetes-admin, O=kubeadm:cluster-admins' });
    const other = parseCertificate(Buffer.from((await foreignPair('ca')).crt), 'other');
    const signer = { ...signers().get('ca')!, trust: [signers().get('ca')!.certificate, other] };
    const [rendered] = await renderSteps([s!], { now: NOW, signers: new Map([['ca', signer]]) });
    const text = rendered!.files[0]!.data.toString();
    expect(text).toContain('colors: true');
    const creds = parseKubeconfig(text, F.admin);
    expect(parseCertificates(creds.certificateAuthority!.data!, 'ca').length).toBe(2);
    expect(creds.clientCertificate!.data!.toString()).not.toBe(
      Buffer.from(/client-certificate-data: (\S+)/.exec(original)![1]!, 'base64').toString(),
    );
  });

  it('refuses a kubeconfig that refers to its client certificate by path', () => {
    const text = buildKubeconfig({
      clusterName: 'kubernetes',
      server: 'https://10.0.0.11:6443',
      userName: 'u',
      contextName: 'u@kubernetes',
      ca: { path: 'ca.crt' },
      cert: { path: 'u.crt' },
      key: { path: 'u.key' },
    });
    expect(() => decideRenewal([adminSite], edit({ [F.admin]: text }), intent())).toThrow(`${F.admin}: has no embedded client certificate`);
  });
});

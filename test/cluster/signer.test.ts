/**
 * A real v1.20.2 cluster whose CA keys are in a SoftHSM token: kube-controller-manager runs without
 * its csrsigning controller (and without a signing key file, which does not exist), and `kpki
 * signer --watch` — twice at once — signs through the token: a user kubeconfig by `kpki kubeconfig
 * user --via-api`, a node client certificate, a kubelet serving certificate `kpki approve
 * kubelet-serving` approved, while a CSR for a signer kpki does not serve, and
 * one kpki's policy refuses, are left to others (the latter marked Failed as the controller would).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCertificate } from '../../src/pki/pem.js';
import { BackgroundProcess, describeRun, requireTool, run } from '../interop/helpers.js';
import { KPKI_BIN } from '../support/cli.js';
import { parseObjectList, requirePkcs11Tool, SOFTHSM_MODULE, TOKEN_PIN, TOKEN_SO_PIN } from '../support/softhsm.js';
import { useCluster, waitUntil } from './harness.js';
import {
  adminConf,
  createNodeObject,
  csrState,
  kubectl,
  kubectlOk,
  SERVING_USAGES,
  SIGNER_CONTROLLER_MANAGER,
  submitCsr,
  TOKEN_CAS,
} from './live-support.js';

// The token lives as long as the file's cluster; its directory is known before the cluster starts.
const tokenDir = mkdtempSync(path.join(tmpdir(), 'kpki-signer-softhsm-'));
afterAll(() => rmSync(tokenDir, { recursive: true, force: true }));
const conf = path.join(tokenDir, 'softhsm2.conf');
const env = { SOFTHSM2_CONF: conf, KPKI_PKCS11_PIN: TOKEN_PIN };
beforeAll(() => {
  mkdirSync(path.join(tokenDir, 'tokens'));
  writeFileSync(conf, `directories.tokendir = ${path.join(tokenDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const r = spawnSync(
    requirePkcs11Tool('softhsm2-util'),
    ['--init-token', '--free', '--label', 'k8s', '--pin', TOKEN_PIN, '--so-pin', TOKEN_SO_PIN],
    { env: { ...process.env, ...env }, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`softhsm2-util failed: ${r.stderr}`);
});

const { live } = useCluster({
  keyType: 'ecdsa-p256',
  kpkiEnv: env,
  initArgs: TOKEN_CAS.flatMap((name) => ['--ca-key-uri', `${name}=pkcs11:token=k8s;object=${name}`]),
  controllerManager: SIGNER_CONTROLLER_MANAGER,
});

const signers: BackgroundProcess[] = [];
afterAll(() => Promise.all(signers.map((s) => s.stop())));
const YEAR_MS = 365 * 24 * 3600 * 1000;
const CLIENT_USAGES = ['digital signature', 'key encipherment', 'client auth'];

async function issuedCertificate(name: string) {
  const csr = JSON.parse((await kubectlOk(adminConf(live()), ['get', 'csr', name, '-o', 'json'])).stdout) as {
    status: { certificate: string };
  };
  return parseCertificate(Buffer.from(csr.status.certificate, 'base64'), name);
}

async function opensslVerify(cert: string | Buffer, dir: string, name: string): Promise<void> {
  const file = path.join(dir, `${name}.crt`);
  await writeFile(file, cert);
  const r = await run(requireTool('openssl'), [
    'verify',
    '-no-CApath',
    '-no-CAstore',
    '-CAfile',
    path.join(live().certDir, 'ca.crt'),
    file,
  ]);
  expect(r.code, describeRun(r)).toBe(0);
}

describe('kpki signer with the cluster CA key in a SoftHSM token', () => {
  it('the cluster runs from a PKI with no CA key file, the keys in the token', async () => {
    const c = live();
    for (const file of ['ca.key', 'front-proxy-ca.key', 'etcd/ca.key'])
      expect(spawnSync('test', ['-e', path.join(c.certDir, file)]).status, file).toBe(1);
    const listed = spawnSync(
      requirePkcs11Tool('pkcs11-tool'),
      ['--module', SOFTHSM_MODULE, '--token-label', 'k8s', '--login', '--pin', TOKEN_PIN, '--list-objects'],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
    );
    const privateKeys = parseObjectList(listed.stdout).filter((o) => o.kind.startsWith('Private Key'));
    expect(privateKeys.map((o) => o.label).sort()).toEqual(['ca', 'etcd-ca', 'front-proxy-ca']);
    for (const key of privateKeys) expect(key.access).toContain('never extractable');
    expect((await kubectl(adminConf(c), ['get', '--raw', '/readyz'])).code).toBe(0);
    // Two signers at once: every CSR is signed by exactly one of them.
    for (let i = 0; i < 2; i++) {
      const signer = new BackgroundProcess(
        `kpki-signer-${i}`,
        process.execPath,
        [KPKI_BIN, 'signer', '--watch', '--kubeconfig', adminConf(c), '--cert-dir', c.certDir],
        { env },
      );
      signers.push(signer);
    }
  });

  it('a user kubeconfig through kpki kubeconfig user --via-api is signed by the token key and authenticates', async () => {
    const c = live();
    const dir = await c.scratch('signer-user');
    const out = path.join(dir, 'carol.conf');
    const r = await c.kpki([
      'kubeconfig',
      'user',
      '--via-api',
      '--kubeconfig',
      adminConf(c),
      '--client-name',
      'carol',
      '--org',
      'devs',
      '--approve',
      '--out',
      out,
    ]);
    expect(r.code, describeRun(r)).toBe(0);
    const name = /CSR (kpki-carol-[a-z0-9]+) created/.exec(r.stderr)![1]!;
    const pods = await kubectl(out, ['get', 'pods']);
    expect(pods.stderr).toContain('User "carol" cannot list resource "pods"');
    const doc = parseYaml(await readFile(out, 'utf8')) as { users: { user: Record<string, string> }[] };
    const pem = Buffer.from(doc.users[0]!.user['client-certificate-data']!, 'base64');
    await opensslVerify(pem, dir, 'carol');
    const cert = parseCertificate(pem, out);
    expect(cert.subject).toBe('O=devs, CN=carol');
    // kube-controller-manager's policy: notBefore backdated, --cluster-signing-duration's year.
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(YEAR_MS);
    // Exactly one of the two signers wrote it (the other found it issued, or lost the update).
    const signedBy = () => signers.map((s) => s.output.match(new RegExp(`^signed ${name} `, 'gm'))?.length ?? 0).reduce((a, b) => a + b);
    await waitUntil(
      'a signer reported the CSR',
      30_000,
      async () => signedBy() > 0,
      () => signers.map((s) => s.tail()).join('\n'),
    );
    expect(signedBy()).toBe(1);
  });

  it('a node client certificate is signed; a CSR of another signer and one the kubelet-client policy refuses are left alone or failed', async () => {
    const c = live();
    const admin = adminConf(c);
    const dir = await c.scratch('signer-node');
    await submitCsr(admin, {
      name: 'other-signer',
      signerName: 'example.com/other',
      commonName: 'x',
      organizations: [],
      usages: CLIENT_USAGES,
    });
    await submitCsr(admin, {
      name: 'bad-kubelet-client',
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      commonName: 'not-a-node',
      organizations: ['system:nodes'],
      usages: CLIENT_USAGES,
    });
    await submitCsr(admin, {
      name: 'node-w9',
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      commonName: 'system:node:w9',
      organizations: ['system:nodes'],
      usages: CLIENT_USAGES,
    });
    for (const name of ['other-signer', 'bad-kubelet-client', 'node-w9']) await kubectlOk(admin, ['certificate', 'approve', name]);
    await waitUntil(
      'node-w9 issued',
      60_000,
      async () => (await csrState(admin, 'node-w9')).issued,
      () => signers.map((s) => s.tail()).join('\n'),
    );
    await waitUntil('bad-kubelet-client failed', 60_000, async () =>
      (await csrState(admin, 'bad-kubelet-client')).conditions.includes('Failed'),
    );
    const cert = await issuedCertificate('node-w9');
    expect(cert.subject).toBe('O=system:nodes, CN=system:node:w9');
    await opensslVerify(Buffer.from(cert.toString('pem')), dir, 'node-w9');
    // kube-controller-manager writes the same reason and Go's message.
    const bad = JSON.parse((await kubectlOk(admin, ['get', 'csr', 'bad-kubelet-client', '-o', 'json'])).stdout) as {
      status: { conditions: { type: string; reason: string; message: string }[] };
    };
    expect(bad.status.conditions.find((x) => x.type === 'Failed')).toMatchObject({
      reason: 'SignerValidationFailure',
      message: 'subject common name does not begin with system:node:',
    });
    // Listed in every pass since before node-w9 was signed, and never touched.
    expect(await csrState(admin, 'other-signer')).toEqual({ conditions: ['Approved'], issued: false });
    for (const s of signers) expect(s.output).not.toContain('other-signer');
  });

  it('a kubelet serving certificate: the node asks through the CSR API, kpki approve kubelet-serving approves, the token key signs', async () => {
    const c = live();
    const admin = adminConf(c);
    const dir = await c.scratch('signer-serving');
    await createNodeObject(admin, 'w8', [
      ['Hostname', 'w8'],
      ['InternalIP', '10.0.0.28'],
    ]);
    // The node's own credentials, signed through the token too: the serving request must come from the node.
    const nodeConf = path.join(dir, 'w8.conf');
    const issued = await c.kpki([
      'kubeconfig',
      'node',
      '--via-api',
      '--kubeconfig',
      admin,
      '--node-name',
      'w8',
      '--approve',
      '--out',
      nodeConf,
    ]);
    expect(issued.code, describeRun(issued)).toBe(0);
    await submitCsr(nodeConf, {
      name: 'serving-w8',
      commonName: 'system:node:w8',
      organizations: ['system:nodes'],
      dnsNames: ['w8'],
      ips: ['10.0.0.28'],
      usages: SERVING_USAGES,
    });
    const approved = await c.kpki(['approve', 'kubelet-serving', '--kubeconfig', admin]);
    expect(approved.code, describeRun(approved)).toBe(0);
    expect(approved.stdout).toContain('approved serving-w8: node w8 asks only for its own addresses');
    await waitUntil(
      'serving-w8 issued',
      60_000,
      async () => (await csrState(admin, 'serving-w8')).issued,
      () => signers.map((s) => s.tail()).join('\n'),
    );
    const cert = await issuedCertificate('serving-w8');
    expect(cert.subject).toBe('O=system:nodes, CN=system:node:w8');
    await opensslVerify(Buffer.from(cert.toString('pem')), dir, 'serving-w8');
    const facts = await run(requireTool('openssl'), [
      'x509',
      '-noout',
      '-ext',
      'subjectAltName,extendedKeyUsage',
      '-in',
      path.join(dir, 'serving-w8.crt'),
    ]);
    expect(facts.stdout).toMatch(/DNS:w8, IP Address:10\.0\.0\.28/);
    expect(facts.stdout).toMatch(/TLS Web Server Authentication/);
    expect(facts.stdout).not.toMatch(/Client Authentication/);
  });

  it('renew --all and ca renew ca sign through the token on the running cluster: the renewed credentials authenticate, no CA key file appears', async () => {
    const c = live();
    const admin = adminConf(c);
    const day2 = ['--cert-dir', c.certDir, '--kubeconfig-dir', c.root];
    const clientSerial = async () => {
      const doc = parseYaml(await readFile(admin, 'utf8')) as { users: { user: Record<string, string> }[] };
      return parseCertificate(Buffer.from(doc.users[0]!.user['client-certificate-data']!, 'base64'), admin).serialNumber;
    };
    const caBefore = parseCertificate(await readFile(path.join(c.certDir, 'ca.crt')), 'ca.crt');
    const serialBefore = await clientSerial();
    const renewed = await c.kpki(['renew', '--all', ...day2]);
    expect(renewed.code, describeRun(renewed)).toBe(0);
    expect(await clientSerial()).not.toBe(serialBefore);
    // The apiservers take the renewed admin certificate: the token's key signed it.
    expect((await kubectl(admin, ['get', '--raw', '/readyz'])).code).toBe(0);
    const recertified = await c.kpki(['ca', 'renew', 'ca', ...day2]);
    expect(recertified.code, describeRun(recertified)).toBe(0);
    const caAfter = parseCertificate(await readFile(path.join(c.certDir, 'ca.crt')), 'ca.crt');
    expect(caAfter.serialNumber).not.toBe(caBefore.serialNumber);
    expect(caAfter.notAfter.getTime()).toBeGreaterThan(caBefore.notAfter.getTime());
    // Same key, certified again by itself: the served chain and every credential verify against the new ca.crt.
    const served = await kubectl(admin, ['get', '--raw', '/readyz']);
    expect(served.code, served.stderr).toBe(0);
    await opensslVerify(await readFile(c.nodes.cp1.pki('apiserver.crt')), await c.scratch('signer-renewed'), 'apiserver');
    const keyFiles = spawnSync('find', [c.root, '-name', 'ca.key', '-o', '-name', 'front-proxy-ca.key'], {
      encoding: 'utf8',
    }).stdout.trim();
    expect(keyFiles).toBe('');
  });
});

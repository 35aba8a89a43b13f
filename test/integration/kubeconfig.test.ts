import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ErrorCode } from '../../src/errors.js';
import { initPki } from '../../src/commands/init.js';
import { issueKubeconfig, type IssueKubeconfigOptions } from '../../src/commands/kubeconfig.js';
import { parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { x509 } from '../../src/pki/crypto.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { tempDir } from '../support/tmp.js';
import { rejection } from '../support/errors.js';

let dir: string;
const certDir = () => path.join(dir, 'pki');

beforeAll(async () => {
  dir = tempDir();
  await initPki({
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    controlPlaneEndpoint: 'lb.example.com',
    keyType: 'ecdsa-p256',
    certDir: certDir(),
    kubeconfigDir: dir,
  });
});

const issue = (options: Omit<IssueKubeconfigOptions, 'certDir'>) => issueKubeconfig({ certDir: certDir(), ...options });

function clientCert(text: string) {
  const creds = parseKubeconfig(text, 'k');
  return certificateFacts(parseCertificate(creds.clientCertificate!.data!, 'k'));
}

describe('issueKubeconfig', () => {
  it('user: CN and O as asked, server and cluster from admin.conf, validity as asked', async () => {
    const now = new Date();
    const result = await issue({ kind: 'user', clientName: 'alice', organizations: ['dev', 'qa'], validity: '24h', now });
    expect(result).toMatchObject({
      server: 'https://lb.example.com:6443',
      clusterName: 'kubernetes',
      contextName: 'alice@kubernetes',
      files: [],
    });
    const facts = clientCert(result.kubeconfig!);
    expect(facts).toMatchObject({ commonName: 'alice', extKeyUsages: ['clientAuth'], issuerCommonName: 'kubernetes' });
    expect([...facts.organizations].sort()).toEqual(['dev', 'qa']);
    expect(Math.round((facts.notAfter.getTime() - now.getTime()) / 3600_000)).toBe(24);
  });

  it('refuses system:masters unless confirmed, and says why', async () => {
    const error = await rejection(issue({ kind: 'user', clientName: 'root', organizations: ['system:masters'] }));
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toContain('cannot be revoked');
    expect(error.hint).toContain('--allow-system-masters');
    const allowed = await issue({ kind: 'user', clientName: 'root', organizations: ['system:masters'], allowSystemMasters: true });
    expect(clientCert(allowed.kubeconfig!).organizations).toEqual(['system:masters']);
  });

  it('node: system:node:<name> in system:nodes', async () => {
    const result = await issue({ kind: 'node', nodeName: 'Worker-1' });
    expect(clientCert(result.kubeconfig!)).toMatchObject({ commonName: 'system:node:worker-1', organizations: ['system:nodes'] });
  });

  it('standard kinds rewrite their file in the kubeconfig dir, keeping its server', async () => {
    const scheduler = path.join(dir, 'scheduler.conf');
    const before = readFileSync(scheduler, 'utf8');
    const result = await issue({ kind: 'scheduler' });
    expect(result.files).toEqual([scheduler]);
    const after = readFileSync(scheduler, 'utf8');
    expect(after).not.toBe(before);
    expect(parseKubeconfig(after, scheduler).server).toBe('https://10.0.0.11:6443');
    expect(clientCert(after).commonName).toBe('system:kube-scheduler');
  });

  it('--out refuses to replace an existing file without force', async () => {
    const out = path.join(tempDir(), 'alice.conf');
    writeFileSync(out, 'precious');
    const error = await rejection(issue({ kind: 'user', clientName: 'alice', out }));
    expect(error.message).toContain('already exists');
    expect(readFileSync(out, 'utf8')).toBe('precious');
    await issue({ kind: 'user', clientName: 'alice', out, force: true });
    expect(clientCert(readFileSync(out, 'utf8')).commonName).toBe('alice');
  });

  it('--csr-only writes a key and a CSR with the identity, and needs no CA key', async () => {
    const work = tempDir();
    const external = path.join(work, 'ext');
    const result = await issueKubeconfig({
      kind: 'user',
      clientName: 'carol',
      organizations: ['ops'],
      caCert: path.join(certDir(), 'ca.crt'),
      csrOnly: true,
      out: external,
    });
    expect(result.files).toEqual([`${external}.key`, `${external}.csr`]);
    const csr = new x509.Pkcs10CertificateRequest(readFileSync(`${external}.csr`, 'utf8'));
    expect(csr.subject).toBe('O=ops, CN=carol');
    expect(await csr.verify()).toBe(true);
  });

  it('--csr-only rejects an unknown --key-type as a bad flag, writing nothing', async () => {
    const out = path.join(tempDir(), 'erin');
    const error = await rejection(
      issueKubeconfig({ kind: 'user', clientName: 'erin', certDir: certDir(), csrOnly: true, keyType: 'dsa', out }),
    );
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toBe('--key-type: "dsa" is not supported');
    expect(existsSync(`${out}.key`)).toBe(false);
  });

  it('an external CA without its key points to --csr-only', async () => {
    const external = path.join(tempDir(), 'external-ca.crt');
    cpSync(path.join(certDir(), 'ca.crt'), external);
    const error = await rejection(issueKubeconfig({ kind: 'user', clientName: 'dave', caCert: external, server: 'https://x:6443' }));
    expect(error.code).toBe(ErrorCode.ExternalCaMissing);
    expect(error.hint).toContain('--csr-only');
  });

  describe('--merge-into', () => {
    it('adds the new entries and keeps the existing ones byte for byte', async () => {
      const target = path.join(tempDir(), 'config');
      const original = `# my clusters
apiVersion: v1
kind: Config
current-context: prod
clusters:
  - name: prod   # keep this comment
    cluster: {server: 'https://prod.example.com', insecure-skip-tls-verify: false}
contexts:
  - name: prod
    context: {cluster: prod, user: me}
users:
  - name: me
    user: {token: abc}
preferences: {}
`;
      writeFileSync(target, original);
      await issue({ kind: 'user', clientName: 'erin', mergeInto: target });
      const merged = readFileSync(target, 'utf8');
      for (const line of original.split('\n').filter(Boolean)) expect(merged).toContain(line);
      const doc = parseYaml(merged);
      expect(doc['current-context']).toBe('prod');
      expect(doc.contexts.map((c: { name: string }) => c.name)).toEqual(['prod', 'erin@kubernetes']);
      expect(doc.users.map((u: { name: string }) => u.name)).toEqual(['me', 'erin']);
      // Issuing again would rewrite erin (a new key): kubectl keeps the first definition, so it is refused.
      const clash = await rejection(issue({ kind: 'user', clientName: 'erin', mergeInto: target }));
      expect(clash.code).toBe(ErrorCode.NameClash);
      expect(clash.message).toContain('users[erin]');
      expect(clash.hint).toContain('--user-name');
      expect(readFileSync(target, 'utf8')).toBe(merged);
      // Under another user name it is added; the identical cluster entry is shared, not duplicated.
      await issue({ kind: 'user', clientName: 'erin', userName: 'erin-laptop', mergeInto: target });
      const again = parseYaml(readFileSync(target, 'utf8'));
      expect(again.users.map((u: { name: string }) => u.name)).toEqual(['me', 'erin', 'erin-laptop']);
      expect(again.clusters.map((c: { name: string }) => c.name)).toEqual(['prod', 'kubernetes']);
      expect(again.contexts.map((c: { name: string }) => c.name)).toEqual(['prod', 'erin@kubernetes', 'erin-laptop@kubernetes']);
    });

    it('a broken target is reported and left alone', async () => {
      const target = path.join(tempDir(), 'config');
      writeFileSync(target, 'apiVersion: v1\nkind: Config\nclusters: [\n');
      const error = await rejection(issue({ kind: 'user', clientName: 'frank', mergeInto: target }));
      expect(error.code).toBe(ErrorCode.BadInput);
      expect(error.message).toContain(target);
      expect(readFileSync(target, 'utf8')).toBe('apiVersion: v1\nkind: Config\nclusters: [\n');
    });
  });

  it('without admin.conf or --server it says what to pass', async () => {
    const lone = tempDir();
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.11',
      keyType: 'ecdsa-p256',
      certDir: path.join(lone, 'pki'),
      kubeconfigDir: lone,
    });
    rmSync(path.join(lone, 'admin.conf'));
    const error = await rejection(issueKubeconfig({ kind: 'user', clientName: 'x', certDir: path.join(lone, 'pki') }));
    expect(error.subject).toBe('--server');
  });
});

import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { initPki } from '../../src/commands/init.js';
import { verify } from '../../src/commands/verify.js';
import { FIXTURE_ROOT, REPO_ROOT, tempDir } from '../support/tmp.js';
import { base, codes, copy, flagsFile, pristine, reissue, SETTINGS, spec, verifyBroken } from '../support/verify-pki.js';

describe('kpki verify', () => {
  it('a freshly generated PKI verifies clean', async () => {
    const result = await verify(base(pristine()));
    expect(result.findings).toEqual([]);
    expect(Object.keys(result.checked.components).sort()).toEqual(['apiserver', 'controller-manager', 'etcd', 'scheduler']);
    expect(result.checked.kubeconfigs).toHaveLength(5);
  });

  it('the kubeadm v1.20.2 fixture verifies clean through its manifests (--root)', async () => {
    const root = tempDir();
    cpSync(FIXTURE_ROOT, root, { recursive: true });
    // The shared copy is read-only for everyone; kubeadm writes keys 0600.
    execFileSync('sh', ['-c', `chmod -R u+w "${root}" && find "${root}" \\( -name '*.key' -o -name '*.conf' \\) -exec chmod 600 {} +`]);
    const options = { root, now: new Date('2026-12-01T00:00:00Z') };
    const result = await verify(options);
    // kubeadm leaves the kubelets' serving certificates unverified: CIS 1.2.6, a warning. And a note:
    // kubeadm v1.20 points the control plane's kubelet at the control-plane endpoint.
    expect(result.findings.map((f) => `${f.severity} ${f.code} ${f.cis}`)).toEqual([
      'warning KUBELET_CA_UNSET 1.2.6',
      'info KUBELET_SERVER_MODE undefined',
    ]);
    expect(result.findings[1]!.diagnosis).toBe(
      "the kubelet talks to the control-plane endpoint, as kubeadm before 1.33 (or with ControlPlaneKubeletLocalMode off) and every worker do (this node's apiserver is https://198.51.100.11:6443)",
    );
    expect(result.counts.error).toBe(0);
    // Files no manifest names are checked too, named as the node names them.
    chmodSync(path.join(root, 'etc/kubernetes/pki/etcd/healthcheck-client.key'), 0o644);
    const loose = await verify(options);
    expect(loose.findings.filter((f) => f.code === 'KEY_PERMISSIONS').map((f) => f.subject)).toEqual([
      '/etc/kubernetes/pki/etcd/healthcheck-client.key',
    ]);
    expect(result.checked.components).toMatchObject({
      apiserver: expect.stringContaining('kube-apiserver.yaml'),
      etcd: expect.stringContaining('etcd.yaml'),
    });
    expect(result.checked.kubeconfigs.sort()).toEqual([
      '/etc/kubernetes/admin.conf',
      '/etc/kubernetes/controller-manager.conf',
      '/etc/kubernetes/kubelet.conf',
      '/etc/kubernetes/scheduler.conf',
    ]);
  });

  it('the fixture as shared (world-readable keys and kubeconfigs) draws the CIS permission warnings, nothing else', async () => {
    const result = await verify({ root: FIXTURE_ROOT, now: new Date('2026-12-01T00:00:00Z') });
    expect(new Set(result.findings.map((f) => `${f.severity} ${f.code} ${f.cis}`))).toEqual(
      new Set([
        'warning KEY_PERMISSIONS 1.1.21',
        'warning KUBECONFIG_PERMISSIONS 1.1.13',
        'warning KUBECONFIG_PERMISSIONS 1.1.15',
        'warning KUBECONFIG_PERMISSIONS 1.1.17',
        'warning KUBECONFIG_PERMISSIONS 4.1.5',
        'warning KUBELET_CA_UNSET 1.2.6',
        'info KUBELET_SERVER_MODE undefined',
      ]),
    );
  });

  describe('each rule fires for exactly the thing broken', () => {
    it('CHAIN_UNTRUSTED: apiserver-kubelet-client signed by the front-proxy CA', async () => {
      const dir = copy();
      await reissue(dir, 'apiserver-kubelet-client', {}, 'front-proxy-ca');
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['CHAIN_UNTRUSTED']);
      expect(result.findings[0]).toMatchObject({ subject: 'kube-apiserver --kubelet-client-certificate', severity: 'error' });
      expect(result.findings[0]!.symptom).toContain('x509: certificate signed by unknown authority');
      expect(result.findings[0]!.diagnosis).toContain('ca.crt');
    });

    it('SAN_MISSING: apiserver without kubernetes.default.svc.cluster.local, with the exact Go message', async () => {
      const dir = copy();
      const api = spec('apiserver');
      await reissue(dir, 'apiserver', { dnsNames: api.dnsNames.filter((n) => n !== 'kubernetes.default.svc.cluster.local') });
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['SAN_MISSING']);
      expect(result.findings[0]!.symptom).toBe(
        'Unable to connect to the server: tls: failed to verify certificate: x509: certificate is valid for cp1, kubernetes, kubernetes.default, kubernetes.default.svc, not kubernetes.default.svc.cluster.local',
      );
    });

    it('SAN_MISSING: a kubeconfig server the apiserver certificate does not cover', async () => {
      const dir = copy();
      const admin = readFileSync(path.join(dir, 'admin.conf'), 'utf8').replace('https://10.0.0.11:6443', 'https://lb.example.com:6443');
      writeFileSync(path.join(dir, 'admin.conf'), admin);
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['SAN_MISSING']);
      expect(result.findings[0]!.symptom).toMatch(/x509: certificate is valid for .*, not lb\.example\.com$/);
    });

    it('USAGE_INCOMPATIBLE: a front-proxy client certificate with serverAuth only', async () => {
      const dir = copy();
      await reissue(dir, 'front-proxy-client', { extKeyUsages: ['serverAuth'] });
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['USAGE_INCOMPATIBLE']);
      expect(result.findings[0]!.symptom).toContain('x509: certificate specifies an incompatible key usage');
    });

    it('KEY_MISMATCH: apiserver.key from another pair', async () => {
      const dir = copy();
      cpSync(path.join(dir, 'pki/front-proxy-client.key'), path.join(dir, 'pki/apiserver.key'));
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['KEY_MISMATCH']);
      expect(result.findings[0]).toMatchObject({
        subject: 'kube-apiserver --tls-private-key-file',
        symptom: 'tls: private key does not match public key',
      });
    });

    it('SA_KEY_MISMATCH: sa.pub that does not belong to sa.key', async () => {
      const dir = copy();
      const other = tempDir();
      await initPki({ ...SETTINGS, certDir: path.join(other, 'pki'), kubeconfigDir: other });
      cpSync(path.join(other, 'pki/sa.pub'), path.join(dir, 'pki/sa.pub'));
      expect(await codes(base(dir))).toEqual(['SA_KEY_MISMATCH']);
    });

    it('IDENTITY_UNEXPECTED: scheduler.conf authenticating as someone else', async () => {
      const dir = copy();
      await reissue(dir, 'scheduler.conf', { commonName: 'scheduler' });
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['IDENTITY_UNEXPECTED']);
      expect(result.findings[0]!.symptom).toContain('User "scheduler" cannot');
    });

    it("IDENTITY_UNEXPECTED: admin groups are the ones the profile's manifests bind to cluster-admin", async () => {
      const profile = path.join(tempDir(), 'ops-admins.yaml');
      const kubeadm = readFileSync(path.join(REPO_ROOT, 'profiles/kubeadm.yaml'), 'utf8');
      const rebound = kubeadm.replace('kind: Group\n        name: kubeadm:cluster-admins', 'kind: Group\n        name: ops:admins');
      expect(rebound).not.toBe(kubeadm);
      writeFileSync(profile, rebound);
      // admin.conf and apiserver-kubelet-client carry O=kubeadm:cluster-admins, which this profile no longer binds.
      const result = await verifyBroken({ ...base(pristine()), profile });
      expect(result.findings.map((f) => [f.code, f.subject])).toEqual([
        ['IDENTITY_UNEXPECTED', expect.stringMatching(/admin\.conf \(user kubernetes-admin\)$/)],
        ['IDENTITY_UNEXPECTED', 'kube-apiserver --kubelet-client-certificate'],
      ]);
      expect(result.findings[0]!.diagnosis).toContain('its role needs O=ops:admins (or system:masters)');
      expect(result.findings[1]!.diagnosis).toContain('authorise the kubelet API for O=ops:admins (or system:masters)');
      expect(result.findings[1]!.fix).toMatch(/^reissue it with O=ops:admins /);
    });

    it('PROXY_NAME_NOT_ALLOWED and PROXY_ANY_NAME_ALLOWED: --requestheader-allowed-names', async () => {
      const dir = copy();
      const wrong = await verifyBroken({
        ...base(dir),
        apiserverArgs: flagsFile(dir, 'apiserver', { 'requestheader-allowed-names': 'aggregator' }),
      });
      expect(wrong.findings.map((f) => f.code)).toEqual(['PROXY_NAME_NOT_ALLOWED']);
      expect(wrong.findings[0]!.symptom).toContain('x509: subject with cn=front-proxy-client is not in the allowed list');
      const any = await verifyBroken({ ...base(dir), apiserverArgs: flagsFile(dir, 'apiserver', { 'requestheader-allowed-names': null }) });
      expect(any.findings.map((f) => `${f.severity} ${f.code}`)).toEqual(['info PROXY_ANY_NAME_ALLOWED']);
    });

    it('REQUESTHEADER_INCOMPLETE: a proxy client certificate without a requestheader CA', async () => {
      const dir = copy();
      expect(await codes({ ...base(dir), apiserverArgs: flagsFile(dir, 'apiserver', { 'requestheader-client-ca-file': null }) })).toEqual([
        'REQUESTHEADER_INCOMPLETE',
      ]);
    });

    it('NOT_CA: --client-ca-file naming a leaf', async () => {
      const dir = copy();
      const found = await codes({
        ...base(dir),
        apiserverArgs: flagsFile(dir, 'apiserver', { 'client-ca-file': path.join(dir, 'pki/apiserver.crt') }),
      });
      // Nothing chains to a leaf either: every client certificate is refused too.
      expect(found).toEqual(['CHAIN_UNTRUSTED', 'NOT_CA']);
    });

    it('ETCD_CLIENT_AUTH_OFF, and etcd refusing the apiserver when it trusts the wrong CA', async () => {
      const dir = copy();
      // etcd demands client certificates whenever it has --trusted-ca-file, whatever --client-cert-auth says.
      expect(await codes({ ...base(dir), etcdArgs: flagsFile(dir, 'etcd', { 'client-cert-auth': 'false' }) })).toEqual([]);
      expect(
        await codes({ ...base(dir), etcdArgs: flagsFile(dir, 'etcd', { 'client-cert-auth': 'false', 'trusted-ca-file': null }) }),
      ).toContain('ETCD_CLIENT_AUTH_OFF');
      const wrongCa = await verifyBroken({
        ...base(dir),
        apiserverArgs: flagsFile(dir, 'apiserver'),
        etcdArgs: flagsFile(dir, 'etcd', { 'trusted-ca-file': path.join(dir, 'pki/ca.crt') }),
      });
      // Trusting the cluster CA is also CIS 2.7's shared CA: its kubelet and user certificates would open etcd.
      expect(wrongCa.findings.map((f) => `${f.code} ${f.subject}`)).toEqual([
        'CHAIN_UNTRUSTED kube-apiserver --etcd-certfile',
        'ETCD_CA_SHARED etcd --trusted-ca-file',
      ]);
      expect(wrongCa.findings[0]!.symptom).toContain(
        'tls: failed to verify client certificate: x509: certificate signed by unknown authority',
      );
    });

    it('SAN_MISSING: etcd serving certificate without the host in --etcd-servers', async () => {
      const dir = copy();
      const result = await verifyBroken({
        ...base(dir),
        apiserverArgs: flagsFile(dir, 'apiserver', { 'etcd-servers': 'https://10.0.0.99:2379' }),
        etcdArgs: flagsFile(dir, 'etcd'),
      });
      expect(result.findings.map((f) => f.code)).toEqual(['SAN_MISSING']);
      expect(result.findings[0]!.symptom).toContain('x509: certificate is valid for 10.0.0.11, 127.0.0.1, ::1, not 10.0.0.99');
    });

    it('CHAIN_UNTRUSTED: the kubelet trusting another CA than the apiserver client cert', async () => {
      const dir = copy();
      const kubelet = path.join(dir, 'kubelet-config.yaml');
      writeFileSync(
        kubelet,
        `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  x509:\n    clientCAFile: ${path.join(dir, 'pki/front-proxy-ca.crt')}\n`,
      );
      const result = await verifyBroken({ ...base(dir), kubeletConfig: kubelet });
      expect(result.findings.map((f) => `${f.code} ${f.subject}`)).toEqual(['CHAIN_UNTRUSTED kube-apiserver --kubelet-client-certificate']);
    });

    it('EXPIRED and EXPIRING_SOON', async () => {
      const dir = copy();
      const inTwoYears = new Date(Date.now() + 2 * 365 * 86400_000);
      expect(await codes({ ...base(dir), now: inTwoYears })).toEqual(['EXPIRED']);
      expect(await codes({ ...base(dir), warnWithin: '400d' })).toEqual(['EXPIRING_SOON']);
    });

    it('WEAK_KEY and WEAK_SIGNATURE: an RSA-1024, SHA-1 front-proxy client made with openssl', async () => {
      const dir = copy();
      const p = (f: string) => path.join(dir, 'pki', f);
      execFileSync(
        'openssl',
        [
          'req',
          '-new',
          '-newkey',
          'rsa:1024',
          '-nodes',
          '-keyout',
          p('front-proxy-client.key'),
          '-subj',
          '/CN=front-proxy-client',
          '-out',
          p('fp.csr'),
        ],
        { stdio: 'ignore' },
      );
      writeFileSync(p('ext.cnf'), 'extendedKeyUsage=clientAuth\n');
      execFileSync(
        'openssl',
        [
          'x509',
          '-req',
          '-sha1',
          '-in',
          p('fp.csr'),
          '-CA',
          p('front-proxy-ca.crt'),
          '-CAkey',
          p('front-proxy-ca.key'),
          '-CAcreateserial',
          '-days',
          '365',
          '-extfile',
          p('ext.cnf'),
          '-out',
          p('front-proxy-client.crt'),
        ],
        { stdio: 'ignore' },
      );
      // Go refuses SHA-1 signatures in chains, so the apiserver's peers reject it too.
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code).sort()).toEqual(['CHAIN_UNTRUSTED', 'WEAK_KEY', 'WEAK_SIGNATURE']);
      // The chain exists: the diagnosis says Go refuses it, not that another CA signed it.
      const refused = result.findings.find((f) => f.code === 'CHAIN_UNTRUSTED')!;
      expect(refused.diagnosis).toContain('chains to');
      expect(refused.diagnosis).toContain('but Go refuses that chain');
      expect(refused.diagnosis).not.toContain('is not signed by');
    });

    it('KEY_PERMISSIONS: a group-readable private key', async () => {
      const dir = copy();
      chmodSync(path.join(dir, 'pki/etcd/peer.key'), 0o640);
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => `${f.code} ${f.fix}`)).toEqual([
        `KEY_PERMISSIONS chmod 600 ${path.join(dir, 'pki/etcd/peer.key')}`,
      ]);
    });

    it('FILE_MISSING and FILE_INVALID', async () => {
      const dir = copy();
      rmSync(path.join(dir, 'pki/etcd/peer.crt'));
      writeFileSync(path.join(dir, 'pki/front-proxy-ca.crt'), 'garbage');
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code).sort()).toEqual(['FILE_INVALID', 'FILE_MISSING']);
      expect(result.findings.find((f) => f.code === 'FILE_MISSING')!.symptom).toMatch(
        /^open .*etcd\/peer\.crt: no such file or directory$/,
      );
    });

    it("FILE_INVALID: a kubeconfig whose embedded certificate is not PEM (kubectl's 'failed to find any PEM data')", async () => {
      const dir = copy();
      const conf = readFileSync(path.join(dir, 'kubelet.conf'), 'utf8').replace(
        /client-certificate-data: \S+/,
        `client-certificate-data: ${Buffer.from('not pem').toString('base64')}`,
      );
      writeFileSync(path.join(dir, 'kubelet.conf'), conf);
      const result = await verifyBroken(base(dir));
      expect(result.findings.map((f) => f.code)).toEqual(['FILE_INVALID']);
      expect(result.findings[0]!.symptom).toContain('tls: failed to find any PEM data in certificate input');
    });
  });

  describe('unusable input is an error, not a finding', () => {
    it.each([
      ['a directory without certificates', async (dir: string) => ({ certDir: dir })],
      [
        'a flags file of binary junk',
        async (dir: string) => {
          writeFileSync(path.join(dir, 'junk'), Buffer.from([0, 159, 146, 150, 255]));
          return { ...base(pristine()), apiserverArgs: path.join(dir, 'junk') };
        },
      ],
      [
        'YAML that is not a manifest',
        async (dir: string) => {
          writeFileSync(path.join(dir, 'deploy.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n');
          return { ...base(pristine()), apiserverArgs: path.join(dir, 'deploy.yaml') };
        },
      ],
      ['a missing args file', async (dir: string) => ({ ...base(pristine()), etcdArgs: path.join(dir, 'nope.yaml') })],
      ['a bad --warn-within', async () => ({ ...base(pristine()), warnWithin: 'soon' })],
    ])('%s', async (_, make) => {
      const dir = tempDir();
      let error: unknown;
      try {
        await verify(await make(dir));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KpkiError);
      expect([ErrorCode.BadInput, ErrorCode.BadFlag, ErrorCode.MissingFile]).toContain((error as KpkiError).code);
    });
  });
});

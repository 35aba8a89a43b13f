import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { verify } from '../../src/commands/verify.js';
import { rejection } from '../support/errors.js';
import { applyFix } from '../support/fix.js';
import { FIXTURE_KUBERNETES, FIXTURE_ROOT, tempDir } from '../support/tmp.js';
import { base, copy, flagsFile, KUBEADM_BASELINE, kubeadmFlags } from '../support/verify-pki.js';

/** The findings of one code, after verifying `dir` with the given component flags. */
async function findings(dir: string, options: Parameters<typeof verify>[0], code: string) {
  return (await verify({ ...base(dir), ...options })).findings.filter((f) => f.code === code);
}

describe('verify: wiring complete, or a finding', () => {
  const ETCD_HTTPS = { 'etcd-servers': 'https://127.0.0.1:2379' };
  it.each([
    ['apiserver', 'client-ca-file', {}, '1.2.31'],
    ['apiserver', 'tls-private-key-file', {}, '1.2.30'],
    ['apiserver', 'kubelet-client-certificate', {}, '1.2.5'],
    ['apiserver', 'etcd-cafile', ETCD_HTTPS, '1.2.32'],
    ['apiserver', 'etcd-keyfile', ETCD_HTTPS, '1.2.29'],
    ['apiserver', 'service-account-key-file', {}, '1.2.28'],
    ['apiserver', 'service-account-signing-key-file', {}, undefined],
    ['etcd', 'trusted-ca-file', {}, undefined],
    [
      'etcd',
      'peer-trusted-ca-file',
      { name: 'cp1', 'initial-cluster': 'cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380' },
      undefined,
    ],
    ['controller-manager', 'root-ca-file', {}, '1.3.5'],
    ['controller-manager', 'service-account-private-key-file', {}, '1.3.4'],
    ['controller-manager', 'cluster-signing-key-file', {}, undefined],
  ] as const)('FLAG_MISSING: %s without --%s, fixed by the printed command', async (component, name, extra, cis) => {
    const dir = copy();
    const option = { apiserver: 'apiserverArgs', etcd: 'etcdArgs', 'controller-manager': 'controllerManagerArgs' }[component];
    const flags = flagsFile(dir, component, { ...extra, [name]: null });
    const [missing, ...more] = await findings(dir, { [option]: flags }, 'FLAG_MISSING');
    expect(more).toEqual([]);
    expect(missing).toMatchObject({ severity: 'error', subject: `${component === 'etcd' ? 'etcd' : `kube-${component}`} --${name}`, cis });
    expect(missing!.symptom).not.toBe('');
    applyFix(missing!.fix, dir);
    expect(readFileSync(flags, 'utf8')).toContain(`--${name}=${path.join(dir, 'pki')}`);
    expect(await findings(dir, { [option]: flags }, 'FLAG_MISSING')).toEqual([]);
  });

  it('a single-member etcd needs no peer flags, an http etcd no --etcd-* flags, per-signer flags no shared signer', async () => {
    const dir = copy();
    const etcd = flagsFile(dir, 'etcd', {
      'peer-cert-file': null,
      'peer-key-file': null,
      'peer-trusted-ca-file': null,
      'peer-client-cert-auth': null,
    });
    const api = flagsFile(dir, 'apiserver', {
      'etcd-servers': 'http://127.0.0.1:2379',
      'etcd-cafile': null,
      'etcd-certfile': null,
      'etcd-keyfile': null,
    });
    expect(await findings(dir, { etcdArgs: etcd, apiserverArgs: api }, 'FLAG_MISSING')).toEqual([]);
    // v1.19+ per-signer flags take the place of the shared --cluster-signing-cert-file/--key-file.
    const pki = (f: string) => path.join(dir, 'pki', f);
    const cm = flagsFile(dir, 'controller-manager', {
      'cluster-signing-cert-file': null,
      'cluster-signing-key-file': null,
      'cluster-signing-kubelet-client-cert-file': pki('ca.crt'),
      'cluster-signing-kubelet-client-key-file': pki('ca.key'),
    });
    expect(await findings(dir, { controllerManagerArgs: cm }, 'FLAG_MISSING')).toEqual([]);
    // csrsigning off (kpki signer signs with a token key): no signing file is needed; on, both are, as 1.20's --controllers reads.
    const unsigned = (controllers: string) =>
      flagsFile(dir, 'controller-manager', { controllers, 'cluster-signing-cert-file': null, 'cluster-signing-key-file': null });
    for (const off of ['*,bootstrapsigner,tokencleaner,-csrsigning', '-csrsigning,*,csrsigning', 'bootstrapsigner,tokencleaner'])
      expect(await findings(dir, { controllerManagerArgs: unsigned(off) }, 'FLAG_MISSING'), off).toEqual([]);
    for (const on of ['*,bootstrapsigner,tokencleaner', 'csrsigning,-csrsigning'])
      expect(
        (await findings(dir, { controllerManagerArgs: unsigned(on) }, 'FLAG_MISSING')).map((f) => f.subject),
        on,
      ).toEqual(['kube-controller-manager --cluster-signing-cert-file', 'kube-controller-manager --cluster-signing-key-file']);
  });

  it('the requestheader set is required once --proxy-client-cert-file is set (REQUESTHEADER_INCOMPLETE)', async () => {
    const dir = copy();
    const api = flagsFile(dir, 'apiserver', { 'requestheader-group-headers': null, 'requestheader-extra-headers-prefix': null });
    const found = await findings(dir, { apiserverArgs: api }, 'REQUESTHEADER_INCOMPLETE');
    expect(found.map((f) => f.subject)).toEqual([
      'kube-apiserver --requestheader-group-headers',
      'kube-apiserver --requestheader-extra-headers-prefix',
    ]);
    for (const f of found) applyFix(f.fix, dir);
    expect(await findings(dir, { apiserverArgs: api }, 'REQUESTHEADER_INCOMPLETE')).toEqual([]);
  });

  it('FLAG_UNKNOWN: a misspelled flag names the flag it was meant to be; the sed fix repairs it', async () => {
    const dir = copy();
    const api = flagsFile(dir, 'apiserver', { 'tls-cert-file': null, 'tls-cert-fil': path.join(dir, 'pki/apiserver.crt') });
    const [unknown] = await findings(dir, { apiserverArgs: api }, 'FLAG_UNKNOWN');
    expect(unknown).toMatchObject({
      severity: 'error',
      subject: 'kube-apiserver --tls-cert-fil',
      symptom: 'Error: unknown flag: --tls-cert-fil',
    });
    expect(unknown!.diagnosis).toContain('misspelling of --tls-cert-file');
    applyFix(unknown!.fix, dir);
    const after = await verify({ ...base(dir), apiserverArgs: api });
    expect(after.findings.map((f) => f.code)).toEqual([KUBEADM_BASELINE]);
  });

  it('real flags are never called unknown: every flag of the kubeadm v1.20.2 manifests, deprecated ones too', async () => {
    const result = await verify({
      manifestsDir: path.join(FIXTURE_KUBERNETES, 'manifests'),
      root: FIXTURE_ROOT,
      now: new Date('2026-12-01T00:00:00Z'),
    });
    expect(result.findings.filter((f) => f.code === 'FLAG_UNKNOWN')).toEqual([]);
    const manifest = readFileSync(path.join(FIXTURE_KUBERNETES, 'manifests/kube-apiserver.yaml'), 'utf8');
    expect(manifest).toContain('--insecure-port=0'); // deprecated and hidden from --help, yet real
  });

  it('a flag far from every known one (newer than v1.20) is a note, not an error', async () => {
    const dir = copy();
    const [note] = await findings(
      dir,
      { apiserverArgs: flagsFile(dir, 'apiserver', { 'authentication-config': '/etc/kubernetes/authn.yaml' }) },
      'FLAG_UNKNOWN',
    );
    expect(note).toMatchObject({ severity: 'info', subject: 'kube-apiserver --authentication-config' });
  });

  it.each([
    [
      'the etcd static pod',
      (_dir: string) => readFileSync(path.join(FIXTURE_KUBERNETES, 'manifests/etcd.yaml'), 'utf8'),
      /is the static pod of etcd.*pass it with --etcd-args/,
    ],
    [
      'an etcd command line',
      () => 'etcd --name=cp1 --data-dir=/var/lib/etcd --listen-client-urls=https://127.0.0.1:2379',
      /is the command line of etcd.*pass it with --etcd-args/,
    ],
    [
      "etcd's flags without the binary",
      (dir: string) =>
        kubeadmFlags('etcd', dir)
          .map(([n, v]) => `--${n}=${v}`)
          .join('\n') + '\n--data-dir=/var/lib/etcd\n--initial-cluster=cp1=https://10.0.0.11:2380',
      /is etcd's flags .*pass it with --etcd-args/,
    ],
    [
      'a kubelet command line',
      () =>
        '/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --container-runtime=remote --node-ip=10.0.0.21',
      /is the command line of kubelet.*pass it with --kubelet-config/,
    ],
    [
      'kubelet flags without the binary',
      () => '--kubeconfig=/etc/kubernetes/kubelet.conf --container-runtime=remote --node-ip=10.0.0.21 --cgroup-driver=systemd',
      /is kubelet's flags .*pass it with --kubelet-config/,
    ],
    [
      'a BOSH etcd job',
      () => 'processes:\n- name: etcd\n  args: ["--name=cp1", "--data-dir=/var/lib/etcd"]\n',
      /is a BOSH job of etcd.*pass it with --etcd-args/,
    ],
  ])('another component given as --apiserver-args: %s is a clear error naming what it looks like', async (_, content, message) => {
    const dir = tempDir();
    const file = path.join(dir, 'args');
    writeFileSync(file, content(dir));
    const error = await rejection(verify({ apiserverArgs: file }));
    expect(error.code).toBe(ErrorCode.BadInput);
    expect(`${error.message} ${error.hint}`).toMatch(message);
  });
});

describe('verify: CIS Kubernetes Benchmark PKI checks carry their ids', () => {
  it('etcd 2.2/2.5 client-cert-auth off and 2.3/2.6 auto-tls on', async () => {
    const dir = copy();
    const etcd = flagsFile(dir, 'etcd', {
      'client-cert-auth': null,
      'trusted-ca-file': null,
      'peer-client-cert-auth': 'false',
      'peer-trusted-ca-file': null,
      'auto-tls': 'true',
      'peer-auto-tls': 'true',
    });
    const result = await verify({ ...base(dir), etcdArgs: etcd });
    expect(result.findings.map((f) => `${f.code} ${f.cis} ${f.subject}`).sort()).toEqual([
      'ETCD_AUTO_TLS 2.3 etcd --auto-tls',
      'ETCD_AUTO_TLS 2.6 etcd --peer-auto-tls',
      'ETCD_CLIENT_AUTH_OFF 2.2 etcd --client-cert-auth',
      'ETCD_CLIENT_AUTH_OFF 2.5 etcd --peer-client-cert-auth',
      // Without a client CA etcd cannot verify the apiserver's client certificate either.
      'FLAG_MISSING undefined etcd --trusted-ca-file',
    ]);
  });

  it('1.2.6: kube-apiserver without --kubelet-certificate-authority (read from real flags, never assumed)', async () => {
    const dir = copy();
    expect((await verify(base(dir))).findings).toEqual([]);
    const [unset] = await findings(dir, { apiserverArgs: flagsFile(dir, 'apiserver') }, 'KUBELET_CA_UNSET');
    expect(unset).toMatchObject({ severity: 'warning', cis: '1.2.6' });
  });

  it('1.1.20 certificate modes, 1.1.13 kubeconfig modes, 1.1.19/1.1.14 ownership: each fixed by its command', async () => {
    const dir = copy();
    chmodSync(path.join(dir, 'pki/ca.crt'), 0o666);
    chmodSync(path.join(dir, 'admin.conf'), 0o644);
    chownSync(path.join(dir, 'pki/front-proxy-ca.crt'), 65534, 65534);
    chownSync(path.join(dir, 'admin.conf'), 65534, 65534);
    const result = await verify(base(dir));
    expect(result.findings.map((f) => `${f.severity} ${f.code} ${f.cis}`).sort()).toEqual([
      'warning CERT_PERMISSIONS 1.1.20',
      'warning FILE_OWNERSHIP 1.1.14',
      'warning FILE_OWNERSHIP 1.1.19',
      'warning KUBECONFIG_PERMISSIONS 1.1.13',
    ]);
    for (const f of result.findings) applyFix(f.fix, dir);
    expect((await verify(base(dir))).findings).toEqual([]);
  });

  it('1.1.21: a world-readable key no flag names (etcd/healthcheck-client.key) is still checked: hygiene covers every file', async () => {
    const dir = copy();
    chmodSync(path.join(dir, 'pki/etcd/healthcheck-client.key'), 0o644);
    const result = await verify(base(dir));
    expect(result.findings.map((f) => `${f.code} ${f.cis} ${f.subject}`)).toEqual([
      `KEY_PERMISSIONS 1.1.21 ${path.join(dir, 'pki/etcd/healthcheck-client.key')}`,
    ]);
  });
});

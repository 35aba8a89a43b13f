import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initArgs, kpki } from '../support/cli.js';
import { FIXTURE_ROOT, REPO_ROOT, tempDir } from '../support/tmp.js';

let dir: string;

beforeAll(() => {
  dir = tempDir();
  const init = kpki(initArgs(dir));
  expect(init.status, init.stderr).toBe(0);
});

describe('kpki verify (CLI rendering and exit codes)', () => {
  it('exits 0 and says so for a clean PKI', () => {
    const result = kpki(['verify', '--cert-dir', path.join(dir, 'pki')]);
    expect(result.status, result.stdout).toBe(0);
    expect(result.stdout).toBe('No problems found in 4 component(s), 5 kubeconfig(s).\n');
  });

  it('exits 1 with symptom, diagnosis and fix per finding; --json carries the same findings', () => {
    const broken = tempDir();
    cpSync(dir, broken, { recursive: true });
    cpSync(path.join(broken, 'pki/front-proxy-client.key'), path.join(broken, 'pki/apiserver.key'));
    const human = kpki(['verify', '--cert-dir', path.join(broken, 'pki')]);
    expect(human.status).toBe(1);
    expect(human.stdout).toContain('ERROR KEY_MISMATCH kube-apiserver --tls-private-key-file');
    expect(human.stdout).toContain('  symptom:   tls: private key does not match public key');
    expect(human.stdout).toMatch(/ {2}diagnosis: .*apiserver\.key is not the private key of .*apiserver\.crt/);
    expect(human.stdout).toMatch(/ {2}fix: {7}point kube-apiserver --tls-private-key-file at/);
    const json = kpki(['verify', '--cert-dir', path.join(broken, 'pki'), '--json']);
    expect(json.status).toBe(1);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.counts).toEqual({ error: 1, warning: 0, info: 0 });
    expect(parsed.findings[0]).toMatchObject({ code: 'KEY_MISMATCH', severity: 'error' });
  });

  it('reads apiserver flags from stdin, as from /proc/PID/cmdline', () => {
    const flags = kpki(['flags', 'apiserver', '--cert-dir', path.join(dir, 'pki')]).stdout;
    // List flags accumulate across repetitions (pflag), so replace the value rather than repeat it.
    const cmdline = [
      'kube-apiserver',
      ...flags.replace('allowed-names=front-proxy-client', 'allowed-names=aggregator').trim().split('\n'),
    ].join('\0');
    const result = kpki(['verify', '--apiserver-args', '-', '--json'], { input: cmdline });
    expect(result.status).toBe(1);
    // kubeadm's flags never set --kubelet-certificate-authority: that CIS warning comes along.
    expect(JSON.parse(result.stdout).findings.map((f: { code: string }) => f.code)).toEqual(['PROXY_NAME_NOT_ALLOWED', 'KUBELET_CA_UNSET']);
  });

  it('verifies the kubeadm fixture through --root with only CIS warnings (exit 0)', () => {
    const result = kpki(['verify', '--root', FIXTURE_ROOT, '--json']);
    expect(result.status).toBe(0);
    const codes = new Set(JSON.parse(result.stdout).findings.map((f: { code: string }) => f.code));
    // And a note: kubeadm v1.20 points the control plane's kubelet.conf at the control-plane endpoint.
    expect(codes).toEqual(new Set(['KEY_PERMISSIONS', 'KUBECONFIG_PERMISSIONS', 'KUBELET_CA_UNSET', 'KUBELET_SERVER_MODE']));
  });

  it.each([
    [['verify', '--cert-dir', '/nonexistent/pki'], '/nonexistent/pki'],
    [['verify', '--apiserver-args', 'JUNK'], 'JUNK'],
    [['verify', '--warn-within', 'soon', '--cert-dir', 'PKI'], '--warn-within'],
    [['verify', '--node-address', 'Internal=10.0.0.21', '--cert-dir', 'PKI'], '--node-address: "Internal" is not an address type'],
    [['flags', 'kubelet'], 'component: "kubelet" is not one of apiserver'],
  ])('%j exits 2 with one line', (args, fragment) => {
    const junk = path.join(dir, 'junk.bin');
    writeFileSync(junk, Buffer.from([0, 1, 2, 250]));
    const resolved = args.map((a) => (a === 'JUNK' ? junk : a === 'PKI' ? path.join(dir, 'pki') : a));
    const result = kpki(resolved);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(fragment === 'JUNK' ? junk : fragment);
  });
});

describe('kpki flags', () => {
  it('prints the kubeadm flags for a PKI directory, absolute paths', () => {
    const result = kpki(['flags', 'etcd', '--cert-dir', 'relative/pki'], { cwd: dir });
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n')).toContain(`--trusted-ca-file=${path.join(dir, 'relative/pki/etcd/ca.crt')}`);
    expect(result.stdout).toContain('--client-cert-auth=true\n');
    const json = JSON.parse(kpki(['flags', 'controller-manager', '--cert-dir', '/etc/kubernetes/pki', '--json']).stdout);
    expect(json.kubeconfig).toBe('/etc/kubernetes/controller-manager.conf');
    expect(json['cluster-signing-key-file']).toBe('/etc/kubernetes/pki/ca.key');
  });

  it("the default profile's wiring prints exactly what the hand-written flag table printed (kept in test/fixtures/flags)", () => {
    const printed = ['apiserver', 'etcd', 'controller-manager', 'scheduler'].flatMap((component) => [
      kpki(['flags', component, '--cert-dir', '/etc/kubernetes/pki']).stdout,
      kpki(['flags', component, '--cert-dir', '/x/pki', '--kubeconfig-dir', '/y', '--json']).stdout,
    ]);
    expect(printed.join('')).toBe(readFileSync(path.join(REPO_ROOT, 'test/fixtures/flags/kubeadm.txt'), 'utf8'));
  });
});

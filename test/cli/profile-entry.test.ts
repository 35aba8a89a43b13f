import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kpki } from '../support/cli.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

/**
 * A certificate is one profile entry: added to a copy of the kubeadm profile, init issues it,
 * flags and verify wire it, check-expiration lists it, with no kpki code knowing its name. The
 * apiserver flag names are made up on purpose: nothing in kpki's flag table knows them.
 */
const EXTRA_ENTRIES = `
  - name: konnectivity-client
    file: konnectivity-client
    issuer: ca
    commonName: system:konnectivity-server
    usages: [clientAuth]
    wiring:
      apiserver: { cert: konnectivity-client-cert-file, key: konnectivity-client-key-file }

  - name: kubelet-client
    file: kubelet-client
    issuer: ca
    commonName: system:node:\${nodeName}
    organizations: [system:nodes]
    usages: [clientAuth]

`;

describe('a profile entry is all a new certificate needs', () => {
  const dir = tempDir('kpki-profile-entry-');
  const profile = path.join(dir, 'with-konnectivity.yaml');
  const certDir = path.join(dir, 'pki');

  beforeAll(() => {
    const kubeadm = readFileSync(path.join(REPO_ROOT, 'profiles/kubeadm.yaml'), 'utf8');
    writeFileSync(profile, kubeadm.replace('\nkeyPairs:', `${EXTRA_ENTRIES}keyPairs:`));
    const init = kpki([
      'init',
      '--profile',
      profile,
      '--cert-dir',
      certDir,
      '--kubeconfig-dir',
      dir,
      '--node-name',
      'cp1',
      '--advertise-address',
      '10.0.0.11',
      '--key-type',
      'ecdsa-p256',
    ]);
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
  });

  it('init issues both entries from the cluster CA', () => {
    const subject = (file: string) => kpki(['inspect', path.join(certDir, file), '--json']);
    const konnectivity = JSON.parse(subject('konnectivity-client.crt').stdout);
    const kubelet = JSON.parse(subject('kubelet-client.crt').stdout);
    expect(JSON.stringify(konnectivity)).toContain('system:konnectivity-server');
    expect(JSON.stringify(kubelet)).toContain('system:node:cp1');
    expect(JSON.stringify(kubelet)).toContain('system:nodes');
  });

  it('flags names the wired files after the flags kpki knows; the default profile does not', () => {
    const flags = kpki(['flags', 'apiserver', '--profile', profile, '--cert-dir', certDir]).stdout.split('\n');
    expect(flags.slice(-3)).toEqual([
      `--konnectivity-client-cert-file=${certDir}/konnectivity-client.crt`,
      `--konnectivity-client-key-file=${certDir}/konnectivity-client.key`,
      '',
    ]);
    expect(kpki(['flags', 'apiserver', '--cert-dir', certDir]).stdout).not.toContain('konnectivity');
  });

  it('check-expiration has a row for each, with its CA', () => {
    const report = JSON.parse(kpki(['check-expiration', '--profile', profile, '--cert-dir', certDir, '--json']).stdout);
    const rows = report.certificates.filter((r: { name: string }) => r.name === 'konnectivity-client' || r.name === 'kubelet-client');
    expect(rows.map((r: { name: string; authority: string; missing: boolean }) => [r.name, r.authority, r.missing])).toEqual([
      ['konnectivity-client', 'ca', false],
      ['kubelet-client', 'ca', false],
    ]);
  });

  it('verify reads the wired pair as the apiserver would: clean, and a key from another pair is found', () => {
    const clean = kpki(['verify', '--profile', profile, '--cert-dir', certDir, '--json']);
    expect(JSON.parse(clean.stdout).counts).toEqual({ error: 0, warning: 0, info: 0 });
    writeFileSync(path.join(certDir, 'konnectivity-client.key'), readFileSync(path.join(certDir, 'apiserver-etcd-client.key')), {
      mode: 0o600,
    });
    const broken = kpki(['verify', '--profile', profile, '--cert-dir', certDir, '--json']);
    expect(broken.status).toBe(1);
    const findings = JSON.parse(broken.stdout).findings as { code: string; subject: string }[];
    expect(findings.map((f) => [f.code, f.subject])).toContainEqual(['KEY_MISMATCH', 'kube-apiserver --konnectivity-client-key-file']);
  });
});

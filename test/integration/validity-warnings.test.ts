/** kubeadm's lifetime warnings: at init, renew and cert issue on stderr, and in verify. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import { verify } from '../../src/commands/verify.js';
import { goDuration, validityAboveDefault } from '../../src/model/validity.js';
import { initArgs, kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { FIXTURE_PKI, FIXTURE_KUBERNETES } from '../support/tmp.js';

const SETTINGS = { nodeName: 'cp1', advertiseAddress: '10.0.0.11', keyType: 'ecdsa-p256' };
const DAY = 24 * 3600 * 1000;
const lifetimeFindings = async (certDir: string, kubeconfigDir: string) =>
  (await verify({ certDir, kubeconfigDir })).findings
    .filter((f) => f.code === 'OUTLIVES_CA' || f.code === 'VALIDITY_ABOVE_DEFAULT')
    .map((f) => [f.code, f.subject, f.diagnosis]);

describe("kubeadm's words", () => {
  it('prints durations as Go does and warns only above the default', () => {
    expect(goDuration(17520 * 3600)).toBe('17520h0m0s');
    expect(goDuration(90 * 60 + 5)).toBe('1h30m5s');
    expect(validityAboveDefault('--cert-validity', 8760 * 3600, false)).toBeUndefined();
    expect(validityAboveDefault('--cert-validity', 17520 * 3600, false)).toBe(
      '--cert-validity: the value 17520h0m0s is more than the recommended default for certificate expiration: 8760h0m0s',
    );
    expect(validityAboveDefault('--ca-validity', 876000 * 3600, true)).toBe(
      '--ca-validity: the value 876000h0m0s is more than the recommended default for CA certificate expiration: 87600h0m0s',
    );
  });
});

describe('at issue time, on stderr', () => {
  it('kpki init: validities above the defaults; the run still writes', () => {
    const dir = tempDir();
    const r = kpki(initArgs(dir, '--cert-validity', '17520h', '--ca-validity', '100y'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'kpki: warning: --cert-validity: the value 17520h0m0s is more than the recommended default for certificate expiration: 8760h0m0s\n',
    );
    expect(r.stderr).toContain(
      'kpki: warning: --ca-validity: the value 876000h0m0s is more than the recommended default for CA certificate expiration: 87600h0m0s\n',
    );
    const quiet = kpki(initArgs(tempDir()));
    expect(quiet.stderr).not.toContain('warning');
  });

  it('kpki init --renew and kpki renew: a leaf that would outlive its CA is cut to it, and said so', async () => {
    const dir = tempDir();
    const layout = { ...SETTINGS, certDir: path.join(dir, 'pki'), kubeconfigDir: dir };
    const start = new Date();
    await initPki({ ...layout, caValidity: '30d', certValidity: '30d', now: start });
    const later = new Date(start.getTime() + 10 * DAY);
    const result = await initPki({ ...layout, caValidity: '30d', certValidity: '30d', renew: ['apiserver'], now: later });
    expect(result.warnings).toEqual([
      expect.stringMatching(
        /^certificate apiserver will expire after its CA ca \(.* > .*\): kpki cut it to the CA's expiry; renew the CA \(kpki ca renew ca\) before then$/,
      ),
    ]);
    // Cut, not past: verify has nothing to say about it.
    expect(await lifetimeFindings(layout.certDir, dir)).toEqual([]);

    const renewed = kpki(['renew', 'front-proxy-client', '--cert-dir', layout.certDir, '--validity', '2y']);
    expect(renewed.status, renewed.stderr).toBe(0);
    expect(renewed.stderr).toContain(
      'kpki: warning: --validity: the value 17520h0m0s is more than the recommended default for certificate expiration: 8760h0m0s\n',
    );
    expect(renewed.stderr).toMatch(/kpki: warning: certificate front-proxy-client will expire after its CA front-proxy-ca \(/);
  });

  it('kpki ca renew: a CA lifetime above the default', async () => {
    const dir = tempDir();
    await initPki({ ...SETTINGS, certDir: path.join(dir, 'pki'), kubeconfigDir: dir });
    // The default lifetime draws no warning (first: a shorter one than the CA's current life is refused).
    const atDefault = kpki(['ca', 'renew', 'front-proxy-ca', '--cert-dir', path.join(dir, 'pki'), '--validity', '10y']);
    expect(atDefault.status, atDefault.stderr).toBe(0);
    expect(atDefault.stderr).toBe('');
    const r = kpki(['ca', 'renew', 'front-proxy-ca', '--cert-dir', path.join(dir, 'pki'), '--validity', '20y']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      'kpki: warning: --validity: the value 175200h0m0s is more than the recommended default for CA certificate expiration: 87600h0m0s\n',
    );
  });

  it('kpki cert issue: the same two warnings', async () => {
    const dir = tempDir();
    await initPki({ ...SETTINGS, certDir: path.join(dir, 'pki'), kubeconfigDir: dir, caValidity: '30d', certValidity: '30d' });
    const r = kpki([
      'cert',
      'issue',
      '--profile',
      'server',
      '--cn',
      'registry',
      '--san',
      'registry.example.com',
      '--cert-dir',
      path.join(dir, 'pki'),
      '--validity',
      '2y',
      '--out',
      path.join(dir, 'registry'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('more than the recommended default for certificate expiration');
    expect(r.stderr).toContain(`will expire after its CA ${path.join(dir, 'pki', 'ca.crt')}`);
  });
});

describe('verify', () => {
  it('a leaf signed past its CA (openssl) and a CA above the default: warnings naming both', async () => {
    const dir = tempDir();
    const certDir = path.join(dir, 'pki');
    await initPki({ ...SETTINGS, certDir, kubeconfigDir: dir, caValidity: '11y' });
    const leaf = path.join(certDir, 'long');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=long',
        '-keyout',
        `${leaf}.key`,
        '-out',
        `${leaf}.csr`,
      ],
      { stdio: 'pipe' },
    );
    execFileSync(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        `${leaf}.csr`,
        '-CA',
        path.join(certDir, 'ca.crt'),
        '-CAkey',
        path.join(certDir, 'ca.key'),
        '-CAcreateserial',
        '-days',
        '5000',
        '-out',
        `${leaf}.crt`,
      ],
      { stdio: 'pipe' },
    );
    const found = await lifetimeFindings(certDir, dir);
    expect(found).toContainEqual([
      'OUTLIVES_CA',
      expect.any(String),
      expect.stringMatching(new RegExp(`^${leaf}\\.crt \\(CN=long\\) will expire after its CA ${path.join(certDir, 'ca.crt')} \\(`)),
    ]);
    expect(found).toContainEqual([
      'VALIDITY_ABOVE_DEFAULT',
      expect.any(String),
      expect.stringMatching(
        /\(CN=long\) is valid for 120000h0m0s, more than the recommended default for certificate expiration: 8760h0m0s/,
      ),
    ]);
    expect(found).toContainEqual([
      'VALIDITY_ABOVE_DEFAULT',
      expect.any(String),
      expect.stringMatching(
        /ca\.crt \(CN=kubernetes\) is valid for 96360h5m0s, more than the recommended default for CA certificate expiration: 87600h0m0s/,
      ),
    ]);
    // kpki made all three CAs with --ca-validity 11y; nothing else is said.
    expect(found.filter(([, , d]) => !/CN=(long|kubernetes|etcd-ca|front-proxy-ca)\)/.test(d as string))).toEqual([]);
  });

  it("kubeadm v1.20's own tree (leaves start with their CA) and kpki's defaults: nothing to say", async () => {
    expect(await lifetimeFindings(FIXTURE_PKI, FIXTURE_KUBERNETES)).toEqual([]);
    const dir = tempDir();
    await initPki({ ...SETTINGS, certDir: path.join(dir, 'pki'), kubeconfigDir: dir });
    expect(await lifetimeFindings(path.join(dir, 'pki'), dir)).toEqual([]);
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { ErrorCode } from '../../src/errors.js';
import { initPki } from '../../src/commands/init.js';
import { issueCertificateFiles, issueExtensionApiserver } from '../../src/issue/extension.js';
import { certificateFacts } from '../../src/pki/certificate.js';
import { parseCertificate } from '../../src/pki/pem.js';
import { verify } from '../../src/commands/verify.js';
import { rejection } from '../support/errors.js';
import { tempDir } from '../support/tmp.js';

let dir: string;
const certDir = () => path.join(dir, 'pki');

beforeAll(async () => {
  dir = tempDir();
  await initPki({ nodeName: 'cp1', advertiseAddress: '10.0.0.11', keyType: 'ecdsa-p256', certDir: certDir(), kubeconfigDir: dir });
});

/** openssl as the independent verifier: exit 0 and "OK", or the error line. */
function opensslVerify(ca: string, cert: string, host: string): string {
  const r = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-verify_hostname', host, '-CAfile', ca, cert], { encoding: 'utf8' });
  return r.status === 0 ? 'OK' : (r.stdout + r.stderr).split('\n').find((l) => l.startsWith('error'))!;
}

describe('kpki cert extension-apiserver', () => {
  it.each(['new', 'cluster'] as const)('--ca %s: the caBundle verifies the serving cert for NAME.NS.svc only', async (ca) => {
    const out = path.join(tempDir(), 'metrics');
    const result = await issueExtensionApiserver({
      service: 'metrics-server',
      namespace: 'kube-system',
      ca,
      out,
      certDir: certDir(),
      apiGroup: 'metrics.k8s.io',
      apiVersion: 'v1beta1',
    });
    const apiService = parseYaml(readFileSync(`${out}-apiservice.yaml`, 'utf8'));
    expect(apiService).toMatchObject({
      kind: 'APIService',
      metadata: { name: 'v1beta1.metrics.k8s.io' },
      spec: { service: { name: 'metrics-server', namespace: 'kube-system' } },
    });
    expect(apiService.spec.insecureSkipTLSVerify).toBeUndefined();
    const bundle = path.join(tempDir(), 'bundle.crt');
    writeFileSync(bundle, Buffer.from(apiService.spec.caBundle, 'base64'));
    expect(readFileSync(bundle, 'utf8')).toBe(readFileSync(`${out}-ca.crt`, 'utf8'));
    expect(opensslVerify(bundle, `${out}.crt`, 'metrics-server.kube-system.svc')).toBe('OK');
    expect(opensslVerify(bundle, `${out}.crt`, 'other-api.kube-system.svc')).toMatch(/error 62 .*hostname mismatch/);
    if (ca === 'cluster') expect(readFileSync(`${out}-ca.crt`, 'utf8')).toBe(readFileSync(path.join(certDir(), 'ca.crt'), 'utf8'));
    expect(result.files).toContain(`${out}.key`);
    const clean = await verify({ apiServices: [`${out}-apiservice.yaml`], servingCerts: [`${out}.crt`] });
    expect(clean.findings).toEqual([]);
  });

  it('kpki verify --apiservice reports insecureSkipTLSVerify, a wrong caBundle and a wrong service name', async () => {
    const work = tempDir();
    const out = path.join(work, 'custom');
    await issueExtensionApiserver({ service: 'custom-api', namespace: 'apps', ca: 'new', out });
    const original = parseYaml(readFileSync(`${out}-apiservice.yaml`, 'utf8'));
    const variant = (name: string, change: (spec: Record<string, unknown>) => void) => {
      const doc = structuredClone(original);
      change(doc.spec);
      const file = path.join(work, `${name}.yaml`);
      writeFileSync(file, stringify(doc));
      return file;
    };
    const codes = async (file: string) => (await verify({ apiServices: [file], servingCerts: [`${out}.crt`] })).findings.map((f) => f.code);
    expect(
      await codes(
        variant('insecure', (s) => {
          delete s.caBundle;
          s.insecureSkipTLSVerify = true;
        }),
      ),
    ).toEqual(['APISERVICE_INSECURE']);
    expect(
      await codes(
        variant('nobundle', (s) => {
          delete s.caBundle;
        }),
      ),
    ).toEqual(['APISERVICE_NO_CA_BUNDLE']);
    const clusterCa = readFileSync(path.join(certDir(), 'ca.crt')).toString('base64');
    expect(
      await codes(
        variant('wrongca', (s) => {
          s.caBundle = clusterCa;
        }),
      ),
    ).toEqual(['CHAIN_UNTRUSTED']);
    const renamed = await verify({
      apiServices: [
        variant('renamed', (s) => {
          s.service = { name: 'other-api', namespace: 'apps' };
        }),
      ],
      servingCerts: [`${out}.crt`],
    });
    expect(renamed.findings.map((f) => f.code)).toEqual(['SAN_MISSING']);
    expect(renamed.findings[0]!.symptom).toContain('not other-api.apps.svc');
  });
});

describe('kpki cert issue', () => {
  it.each(['new', 'cluster'] as const)('--ca %s rejects an unknown --key-type as a bad flag, writing nothing', async (ca) => {
    const work = tempDir();
    const error = await rejection(
      issueExtensionApiserver({
        service: 'metrics-server',
        namespace: 'kube-system',
        ca,
        out: path.join(work, 'm'),
        certDir: certDir(),
        keyType: 'dsa',
      }),
    );
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toBe('--key-type: "dsa" is not supported');
    expect(readdirSync(work)).toEqual([]);
  });

  it('cert issue refuses a SAN that is neither an IP nor a DNS name, writing nothing', async () => {
    const work = tempDir();
    const error = await rejection(
      issueCertificateFiles({
        role: 'server',
        commonName: 'x',
        sans: ['ok.example.com', 'bad san!'],
        ca: 'cluster',
        certDir: certDir(),
        out: path.join(work, 'x'),
      }),
    );
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.message).toBe('--san: "bad san!" is not a valid IP address, DNS name or *.wildcard name');
    expect(readdirSync(work)).toEqual([]);
  });

  it('issues server, client and peer leaves from each named CA with the asked names', async () => {
    const work = tempDir();
    for (const [role, ca, caFile, usages] of [
      ['server', 'cluster', 'ca.crt', ['serverAuth']],
      ['client', 'front-proxy', 'front-proxy-ca.crt', ['clientAuth']],
      ['peer', 'etcd', 'etcd/ca.crt', ['serverAuth', 'clientAuth']],
    ] as const) {
      const out = path.join(work, role);
      await issueCertificateFiles({
        role,
        commonName: `${role}-cn`,
        organizations: ['team'],
        sans: ['svc.example.com', '10.1.2.3'],
        ca,
        certDir: certDir(),
        out,
      });
      const facts = certificateFacts(parseCertificate(readFileSync(`${out}.crt`), role));
      expect(facts).toMatchObject({
        commonName: `${role}-cn`,
        organizations: ['team'],
        dnsNames: ['svc.example.com'],
        ipAddresses: ['10.1.2.3'],
        extKeyUsages: usages,
      });
      execFileSync('openssl', ['verify', '-CAfile', path.join(certDir(), caFile), `${out}.crt`]);
    }
  });
});

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { issueExtensionApiserver } from '../../src/issue/extension.js';
import { verify } from '../../src/commands/verify.js';
import { type VerifyOptions } from '../../src/verify/index.js';
import { kpki } from '../support/cli.js';
import { applyFix, shimDir } from '../support/fix.js';
import { tempDir } from '../support/tmp.js';
import { base, copy, flagsFile, reissue, verifyBroken } from '../support/verify-pki.js';

/** The one finding a broken setup draws; its fix applied as printed; then nothing left. */
async function fixedByItsFix(options: VerifyOptions, cwd: string, code: string, shims?: string) {
  const before = await verifyBroken(options);
  expect(before.findings.map((f) => f.code)).toEqual([code]);
  applyFix(before.findings[0]!.fix, cwd, shims);
  expect((await verifyBroken(options)).findings).toEqual([]);
  return before.findings[0]!;
}

/** kubectl apply as the cluster would take it: here, the applied manifest is kept as applied.yaml. */
const kubectlApply = (dir: string) => shimDir({ kubectl: `[ "$1" = apply ] && cp "$3" "${dir}/applied.yaml"` });

describe('verify: fixes that fix, applied as printed', () => {
  it('a wrong service-IP SAN: reissue with the service IP and keep --service-cidr, not extra SANs', async () => {
    const dir = copy();
    const options = { ...base(dir), apiserverArgs: flagsFile(dir, 'apiserver', { 'service-cluster-ip-range': '10.100.0.0/16' }) };
    const found = await fixedByItsFix(options, dir, 'SAN_MISSING');
    expect(found.symptom).toMatch(/not 10\.100\.0\.1$/);
    expect(found.fix).toMatch(
      /^kpki cert issue --profile server --cn kube-apiserver .*--san .*10\.100\.0\.1.* --ca .*\/pki\/ca\.crt --out .*\/pki\/apiserver --force {2}# and pass --service-cidr 10\.100\.0\.0\/16 to every later kpki init/,
    );
    expect(found.fix).not.toContain('--apiserver-cert-extra-sans');
  });

  it('a kubeconfig trusting the wrong CA: point the kubeconfig at the CA, not reissue apiserver.crt', async () => {
    const dir = copy();
    const conf = path.join(dir, 'admin.conf');
    const wrongCa = readFileSync(path.join(dir, 'pki/front-proxy-ca.crt')).toString('base64');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${wrongCa}`), {
      mode: 0o600,
    });
    const found = await fixedByItsFix(base(dir), dir, 'CHAIN_UNTRUSTED');
    expect(found.fix).toBe(
      `kubectl config set-cluster kubernetes --kubeconfig ${conf} --certificate-authority ${path.join(dir, 'pki/ca.crt')} --embed-certs`,
    );
  });

  it('a kubeconfig server the apiserver certificate does not name: reissued with it', async () => {
    const dir = copy();
    const conf = path.join(dir, 'admin.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('https://10.0.0.11:6443', 'https://lb.example.com:6443'), { mode: 0o600 });
    await fixedByItsFix(base(dir), dir, 'SAN_MISSING');
  });

  it('etcd serving certificate without the --etcd-servers host: reissued as a peer certificate from the etcd CA', async () => {
    const dir = copy();
    const options = {
      ...base(dir),
      apiserverArgs: flagsFile(dir, 'apiserver', { 'etcd-servers': 'https://10.0.0.99:2379' }),
      etcdArgs: flagsFile(dir, 'etcd'),
    };
    const found = await fixedByItsFix(options, dir, 'SAN_MISSING');
    expect(found.fix).toContain(
      `--profile peer --cn cp1 --san cp1,localhost,10.0.0.11,127.0.0.1,::1,10.0.0.99 --ca ${path.join(dir, 'pki/etcd/ca.crt')}`,
    );
  });

  it('an expired client certificate: reissued as it was (subject, groups, usage) from its CA', async () => {
    const dir = copy();
    await reissue(dir, 'apiserver-kubelet-client', { validity: -60, backdate: 3600 });
    const found = await fixedByItsFix(base(dir), dir, 'EXPIRED');
    expect(found.fix).toMatch(
      /^kpki cert issue --profile client --cn kube-apiserver-kubelet-client --org \S+ --ca .*\/pki\/ca\.crt --out .*\/pki\/apiserver-kubelet-client --force/,
    );
  });

  describe('extension apiservers', () => {
    async function extension(work: string) {
      const out = path.join(work, 'metrics-server');
      await issueExtensionApiserver({
        service: 'metrics-server',
        namespace: 'kube-system',
        ca: 'new',
        out,
        apiGroup: 'metrics.k8s.io',
        apiVersion: 'v1beta1',
      });
      return out;
    }

    it('the APIService fix keeps --api-group/--api-version: applying it gives v1beta1.metrics.k8s.io, verified clean', async () => {
      const work = tempDir();
      const out = await extension(work);
      const spec = parseYaml(readFileSync(`${out}-apiservice.yaml`, 'utf8'));
      delete spec.spec.caBundle;
      writeFileSync(path.join(work, 'broken.yaml'), stringify(spec));
      const [found] = (await verify({ apiServices: [path.join(work, 'broken.yaml')], servingCerts: [`${out}.crt`] })).findings;
      expect(found!.code).toBe('APISERVICE_NO_CA_BUNDLE');
      const fixed = tempDir();
      applyFix(found!.fix, fixed, kubectlApply(fixed));
      expect(parseYaml(readFileSync(path.join(fixed, 'applied.yaml'), 'utf8')).metadata.name).toBe('v1beta1.metrics.k8s.io');
      expect(
        (await verify({ apiServices: [path.join(fixed, 'applied.yaml')], servingCerts: [path.join(fixed, 'metrics-server.crt')] }))
          .findings,
      ).toEqual([]);
    });

    it("a serving certificate without the service's name: the fix is kpki cert extension-apiserver, not init's extra SANs", async () => {
      const work = tempDir();
      const out = await extension(work);
      const spec = parseYaml(readFileSync(`${out}-apiservice.yaml`, 'utf8'));
      spec.spec.service.name = 'metrics';
      writeFileSync(path.join(work, 'renamed.yaml'), stringify(spec));
      const [found] = (await verify({ apiServices: [path.join(work, 'renamed.yaml')], servingCerts: [`${out}.crt`] })).findings;
      expect(found!.code).toBe('SAN_MISSING');
      expect(found!.fix).not.toContain('kpki init');
      const fixed = tempDir();
      applyFix(found!.fix, fixed, kubectlApply(fixed));
      expect(
        (await verify({ apiServices: [path.join(fixed, 'applied.yaml')], servingCerts: [path.join(fixed, 'metrics.crt')] })).findings,
      ).toEqual([]);
    });

    it('--apiservice without --serving-cert: checks the caBundle and reports what it could not check, never "No problems found"', async () => {
      const work = tempDir();
      const out = await extension(work);
      const cli = kpki(['verify', '--apiservice', `${out}-apiservice.yaml`]);
      expect(cli.stdout).not.toContain('No problems found');
      expect(cli.stdout).toContain('WARN UNCHECKED APIService v1beta1.metrics.k8s.io');
      expect(cli.stdout).toContain('--serving-cert');
      // A caBundle holding a leaf is refused without any serving certificate.
      const spec = parseYaml(readFileSync(`${out}-apiservice.yaml`, 'utf8'));
      spec.spec.caBundle = readFileSync(`${out}.crt`).toString('base64');
      writeFileSync(path.join(work, 'leaf.yaml'), stringify(spec));
      const leaf = kpki(['verify', '--apiservice', path.join(work, 'leaf.yaml'), '--json']);
      expect(leaf.status).toBe(1);
      expect(JSON.parse(leaf.stdout).findings.map((f: { code: string }) => f.code)).toEqual(['NOT_CA']);
    });
  });
});

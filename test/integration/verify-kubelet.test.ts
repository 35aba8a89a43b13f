import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueCertificateFiles } from '../../src/issue/extension.js';
import { verify } from '../../src/commands/verify.js';
import { type VerifyOptions } from '../../src/verify/index.js';
import { tempDir } from '../support/tmp.js';
import { KUBEADM_BASELINE, kubeadmFlags, pristine } from '../support/verify-pki.js';

const KUBELET_PKI = '/var/lib/kubelet/pki';

/** A node copy: kubeadm's tree under /etc/kubernetes, an apiserver that verifies kubelets with ca.crt, and a kubelet config. */
function nodeRoot(kubeletConfig: string): { root: string; options: VerifyOptions } {
  const root = tempDir();
  cpSync(pristine(), path.join(root, 'etc/kubernetes'), { recursive: true });
  mkdirSync(path.join(root, 'var/lib/kubelet/pki'), { recursive: true });
  writeFileSync(path.join(root, 'var/lib/kubelet/config.yaml'), `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${kubeletConfig}`);
  const flags = [...kubeadmFlags('apiserver', '/etc/kubernetes/pki', '/etc/kubernetes'), ['kubelet-certificate-authority', '/etc/kubernetes/pki/ca.crt'], ['kubelet-preferred-address-types', 'InternalIP,ExternalIP,Hostname']];
  const args = path.join(tempDir(), 'kube-apiserver.flags');
  writeFileSync(args, flags.map(([n, v]) => `--${n}=${v}`).join('\n'));
  return { root, options: { root, apiserverArgs: args } };
}

/** A kubelet serving certificate (cert and key in one PEM, as the kubelet writes it) from a CA of the node copy. */
async function servingPem(root: string, ca: string, sans: string[]): Promise<string> {
  const out = path.join(tempDir(), 'kubelet');
  await issueCertificateFiles({ role: 'server', commonName: 'system:node:node1', organizations: ['system:nodes'], sans, ca: path.join(root, 'etc/kubernetes/pki', ca), out });
  return readFileSync(`${out}.crt`, 'utf8') + readFileSync(`${out}.key`, 'utf8');
}

const codes = async (options: VerifyOptions) => (await verify(options)).findings.map((f) => f.code).filter((c) => c !== KUBEADM_BASELINE);

describe('verify: the kubelet serving certificate where the kubelet keeps it', () => {
  it('serverTLSBootstrap: kubelet-server-current.pem, an absolute symlink resolved inside --root, SANs against the address the apiserver dials', async () => {
    const { root, options } = nodeRoot('serverTLSBootstrap: true\n');
    const dated = 'kubelet-server-2026-11-29-10-00-00.pem';
    writeFileSync(path.join(root, 'var/lib/kubelet/pki', dated), await servingPem(root, 'ca.crt', ['node1', '10.0.0.21']), { mode: 0o600 });
    symlinkSync(path.join(KUBELET_PKI, dated), path.join(root, 'var/lib/kubelet/pki/kubelet-server-current.pem'));
    expect(existsSync(path.join(KUBELET_PKI, dated))).toBe(false); // only inside the root
    expect(await codes({ ...options, nodeAddresses: ['InternalIP=10.0.0.21', 'Hostname=node1'] })).toEqual([]);
    const wrong = await verify({ ...options, nodeAddresses: ['InternalIP=10.0.0.99', 'Hostname=node1'] });
    const san = wrong.findings.find((f) => f.code === 'SAN_MISSING')!;
    expect(san.symptom).toBe('kubectl logs/exec: Error from server: Get "https://10.0.0.99:10250/containerLogs/…": tls: failed to verify certificate: x509: certificate is valid for 10.0.0.21, not 10.0.0.99');
    expect(san.diagnosis).toContain("node's InternalIP");
  });

  it("the kubelet's self-signed default kubelet.crt, with --kubelet-certificate-authority set: KUBELET_SERVING_SELF_SIGNED", async () => {
    const { root, options } = nodeRoot('');
    const pki = path.join(root, 'var/lib/kubelet/pki');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=node1@1700000000', '-addext', 'subjectAltName=DNS:node1', '-days', '365', '-keyout', path.join(pki, 'kubelet.key'), '-out', path.join(pki, 'kubelet.crt')], { stdio: 'ignore' });
    const result = await verify({ ...options, nodeAddresses: ['Hostname=node1'] });
    const found = result.findings.filter((f) => f.code !== KUBEADM_BASELINE);
    expect(found.map((f) => `${f.severity} ${f.code}`)).toEqual(['error KUBELET_SERVING_SELF_SIGNED']);
    expect(found[0]!.symptom).toContain('x509: certificate signed by unknown authority');
    expect(found[0]!.fix).toContain('serverTLSBootstrap: true');
  });

  it('tlsCertFile signed by another CA: CHAIN_UNTRUSTED; node addresses unknown: UNCHECKED, never silence', async () => {
    const { root, options } = nodeRoot('tlsCertFile: /var/lib/kubelet/pki/serving.crt\ntlsPrivateKeyFile: /var/lib/kubelet/pki/serving.crt\n');
    const serving = path.join(root, 'var/lib/kubelet/pki/serving.crt');
    writeFileSync(serving, await servingPem(root, 'front-proxy-ca.crt', ['node1']), { mode: 0o600 });
    expect(await codes(options)).toEqual(['CHAIN_UNTRUSTED']);
    writeFileSync(serving, await servingPem(root, 'ca.crt', ['node1']));
    const unchecked = (await verify(options)).findings.filter((f) => f.code !== KUBEADM_BASELINE);
    expect(unchecked.map((f) => `${f.severity} ${f.code}`)).toEqual(['warning UNCHECKED']);
    expect(unchecked[0]!.fix).toContain('--node-address');
  });

  it('a symlink loop where a certificate should be ends with a clear finding', async () => {
    const { root, options } = nodeRoot('serverTLSBootstrap: true\n');
    const current = path.join(root, 'var/lib/kubelet/pki/kubelet-server-current.pem');
    symlinkSync(path.join(KUBELET_PKI, 'kubelet-server-current.pem'), current);
    const result = await verify({ ...options, nodeAddresses: ['node1'] });
    const loop = result.findings.find((f) => f.code === 'FILE_INVALID')!;
    expect(loop.symptom).toContain('symlink loop');
    expect(loop.files).toEqual([path.join(KUBELET_PKI, 'kubelet-server-current.pem')]);
  });
});

import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueCertificateFiles } from '../../src/issue/extension.js';
import { verify } from '../../src/commands/verify.js';
import { type VerifyOptions } from '../../src/verify/index.js';
import { selfSignedAt } from '../support/self-signed.js';
import { tempDir } from '../support/tmp.js';
import { KUBEADM_BASELINE, kubeadmFlags, pristine } from '../support/verify-pki.js';

const KUBELET_PKI = '/var/lib/kubelet/pki';

/** A node copy: kubeadm's tree under /etc/kubernetes, an apiserver that verifies kubelets with ca.crt, and a kubelet config. */
function nodeRoot(kubeletConfig: string): { root: string; options: VerifyOptions } {
  const root = tempDir();
  cpSync(pristine(), path.join(root, 'etc/kubernetes'), { recursive: true });
  mkdirSync(path.join(root, 'var/lib/kubelet/pki'), { recursive: true });
  writeFileSync(
    path.join(root, 'var/lib/kubelet/config.yaml'),
    `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${kubeletConfig}`,
  );
  const flags = [
    ...kubeadmFlags('apiserver', '/etc/kubernetes/pki', '/etc/kubernetes'),
    ['kubelet-certificate-authority', '/etc/kubernetes/pki/ca.crt'],
    ['kubelet-preferred-address-types', 'InternalIP,ExternalIP,Hostname'],
  ];
  const args = path.join(tempDir(), 'kube-apiserver.flags');
  writeFileSync(args, flags.map(([n, v]) => `--${n}=${v}`).join('\n'));
  return { root, options: { root, apiserverArgs: args } };
}

/** A kubelet serving certificate (cert and key in one PEM, as the kubelet writes it) from a CA of the node copy. */
async function servingPem(root: string, ca: string, sans: string[]): Promise<string> {
  const out = path.join(tempDir(), 'kubelet');
  await issueCertificateFiles({
    role: 'server',
    commonName: 'system:node:node1',
    organizations: ['system:nodes'],
    sans,
    ca: path.join(root, 'etc/kubernetes/pki', ca),
    out,
  });
  return readFileSync(`${out}.crt`, 'utf8') + readFileSync(`${out}.key`, 'utf8');
}

const codes = async (options: VerifyOptions) => (await verify(options)).findings.map((f) => f.code).filter((c) => c !== KUBEADM_BASELINE);

/** The certificate a kubelet without tlsCertFile makes up for itself in `pki`. */
const selfSignedKubeletCert = (pki: string) => selfSignedAt(path.join(pki, 'kubelet'), '/CN=node1@1700000000', 'DNS:node1');

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
    expect(san.symptom).toBe(
      'kubectl logs/exec: Error from server: Get "https://10.0.0.99:10250/containerLogs/…": tls: failed to verify certificate: x509: certificate is valid for 10.0.0.21, not 10.0.0.99',
    );
    expect(san.diagnosis).toContain("node's InternalIP");
  });

  it("the kubelet's self-signed default kubelet.crt, with --kubelet-certificate-authority set: KUBELET_SERVING_SELF_SIGNED", async () => {
    const { root, options } = nodeRoot('');
    const pki = path.join(root, 'var/lib/kubelet/pki');
    selfSignedKubeletCert(pki);
    const result = await verify({ ...options, nodeAddresses: ['Hostname=node1'] });
    const found = result.findings.filter((f) => f.code !== KUBEADM_BASELINE);
    expect(found.map((f) => `${f.severity} ${f.code}`)).toEqual(['error KUBELET_SERVING_SELF_SIGNED']);
    expect(found[0]!.symptom).toContain('x509: certificate signed by unknown authority');
    expect(found[0]!.fix).toContain('serverTLSBootstrap: true');
  });

  it('tlsCertFile signed by another CA: CHAIN_UNTRUSTED; node addresses unknown: UNCHECKED, never silence', async () => {
    const { root, options } = nodeRoot(
      'tlsCertFile: /var/lib/kubelet/pki/serving.crt\ntlsPrivateKeyFile: /var/lib/kubelet/pki/serving.crt\n',
    );
    const serving = path.join(root, 'var/lib/kubelet/pki/serving.crt');
    writeFileSync(serving, await servingPem(root, 'front-proxy-ca.crt', ['node1']), { mode: 0o600 });
    expect(await codes(options)).toEqual(['CHAIN_UNTRUSTED']);
    writeFileSync(serving, await servingPem(root, 'ca.crt', ['node1']));
    const unchecked = (await verify(options)).findings.filter((f) => f.code !== KUBEADM_BASELINE);
    expect(unchecked.map((f) => `${f.severity} ${f.code}`)).toEqual(['warning UNCHECKED']);
    expect(unchecked[0]!.fix).toContain('--node-address');
  });

  it("the kubelet's flags with --config: the file fills in what the flags leave out; a self-signed kubelet.crt dialed by IP fails on the IP first, as Go does", async () => {
    const { root, options } = nodeRoot('port: 10300\n');
    const pki = path.join(root, 'var/lib/kubelet/own-pki');
    mkdirSync(pki);
    selfSignedKubeletCert(pki);
    const flags = path.join(root, 'var/lib/kubelet/kubelet.flags');
    writeFileSync(
      flags,
      ['--config=/var/lib/kubelet/config.yaml', '--cert-dir=/var/lib/kubelet/own-pki', '--hostname-override=node1'].join('\n'),
    );
    const result = await verify({ ...options, kubeletConfig: flags, nodeAddresses: ['InternalIP=10.0.0.21'] });
    const found = result.findings.filter((f) => f.code !== KUBEADM_BASELINE);
    expect(found.map((f) => `${f.code} ${f.files[0]}`)).toEqual(['KUBELET_SERVING_SELF_SIGNED /var/lib/kubelet/own-pki/kubelet.crt']);
    expect(found[0]!.symptom).toBe(
      'kubectl logs/exec: Error from server: Get "https://10.0.0.21:10300/containerLogs/…": tls: failed to verify certificate: x509: cannot validate certificate for 10.0.0.21 because it doesn\'t contain any IP SANs',
    );
  });

  it("a kubelet.conf of another node: NodeRestriction's refusal, as the kubelet logs it", async () => {
    const { root, options } = nodeRoot('');
    const flags = path.join(root, 'var/lib/kubelet/kubelet.flags');
    // kubeadm's kubelet.conf is system:node:cp1's; this kubelet registers node1.
    writeFileSync(
      flags,
      ['--config=/var/lib/kubelet/config.yaml', '--hostname-override=node1', '--kubeconfig=/etc/kubernetes/kubelet.conf'].join('\n'),
    );
    const result = await verify({ ...options, kubeletConfig: flags, nodeAddresses: ['InternalIP=10.0.0.21'] });
    const identity = result.findings.filter((f) => f.code === 'IDENTITY_UNEXPECTED');
    expect(identity.map((f) => f.files)).toEqual([['/etc/kubernetes/kubelet.conf']]);
    expect(identity[0]!.symptom).toMatch(
      /^kubelet: Unable to register node "node1" with API server: nodes "node1" is forbidden: node "[^"]+" is not allowed to modify node "node1"$/,
    );
    expect(identity[0]!.diagnosis).toContain('its role needs CN=system:node:node1, O=system:nodes');
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

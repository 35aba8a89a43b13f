import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseKubeadmConfig } from '../../src/config/kubeadm.js';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { resolveSettings } from '../../src/spec/settings.js';
import { FIXTURE_CONFIG } from '../support/tmp.js';

const host = { nodeName: 'x', advertiseAddress: '192.0.2.1' };

describe('parseKubeadmConfig', () => {
  it('reads the kubeadm v1.20.2 fixture (v1beta2)', () => {
    const config = parseKubeadmConfig(readFileSync(FIXTURE_CONFIG, 'utf8'), 'kubeadm-config.yaml');
    expect(config.certificatesDir).toBe('/etc/kubernetes/pki');
    expect(config.settings).toEqual({
      controlPlaneEndpoint: 'k8s-api.example.internal:6443',
      serviceCidr: '10.96.0.0/12',
      dnsDomain: 'cluster.local',
      apiserverCertExtraSans: ['198.51.100.100'],
      advertiseAddress: '198.51.100.11',
      bindPort: 6443,
      nodeName: 'cp1',
    });
    expect(config.warnings).toEqual([]);
  });

  it('reads v1beta4 key algorithm and validity periods, and ignores other kinds', () => {
    const config = parseKubeadmConfig(
      `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: prod
encryptionAlgorithm: ECDSA-P384
certificateValidityPeriod: 720h0m0s
caCertificateValidityPeriod: 87600h0m0s
networking:
  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112
etcd:
  local:
    serverCertSANs: [etcd.example.com]
    peerCertSANs: [10.0.0.50]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDomain: whatever
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration: {name: cp2}
controlPlane:
  localAPIEndpoint: {advertiseAddress: 10.0.0.12, bindPort: 8443}
`,
      'c.yaml',
    );
    expect(config.settings).toEqual({
      clusterName: 'prod',
      keyType: 'ecdsa-p384',
      certValidity: '2592000s',
      caValidity: '315360000s',
      serviceCidr: '10.96.0.0/16,fd00:10:96::/112',
      etcdServerCertExtraSans: ['etcd.example.com'],
      etcdPeerCertExtraSans: ['10.0.0.50'],
      nodeName: 'cp2',
      advertiseAddress: '10.0.0.12',
      bindPort: 8443,
    });
    const settings = resolveSettings(config.settings, host);
    expect(settings.certValidity).toBe(30 * 86400);
    expect(settings.caValidity).toBe(3650 * 86400);
    expect(settings.serviceCidrs).toHaveLength(2);
  });

  it('v1beta3 PublicKeysECDSA gate and external etcd', () => {
    const config = parseKubeadmConfig(
      'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nfeatureGates: {PublicKeysECDSA: true}\netcd:\n  external:\n    endpoints: [https://10.0.0.5:2379]\n',
      'c.yaml',
    );
    expect(config.settings).toEqual({ keyType: 'ecdsa-p256', localEtcd: false });
    expect(config.warnings[0]).toContain('etcd.external');
  });

  it.each([
    ['apiVersion: kubeadm.k8s.io/v1beta1\nkind: ClusterConfiguration\n', /uses kubeadm\.k8s\.io\/v1beta1/],
    ['kind: [\n', /not valid YAML/],
    ['- a\n- b\n', /must be a mapping/],
    ['apiVersion: v1\nkind: Pod\n', /holds no ClusterConfiguration/],
    ['apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  certSANs: 10.0.0.1\n', /ClusterConfiguration\.apiServer\.certSANs must be a list of strings/],
    ['apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: "6443"\n', /InitConfiguration\.localAPIEndpoint\.bindPort must be a whole number/],
    ['apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: DSA\n', /encryptionAlgorithm "DSA"/],
    ['apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: 1 year\n', /certificateValidityPeriod must be a duration/],
  ])('rejects %j', (text, message) => {
    let error: unknown;
    try {
      parseKubeadmConfig(text, 'bad.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KpkiError);
    expect((error as KpkiError).code).toBe(ErrorCode.BadInput);
    expect((error as KpkiError).message).toMatch(/^bad\.yaml: /);
    expect((error as KpkiError).message).toMatch(message);
  });
});

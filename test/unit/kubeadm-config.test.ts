import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKubeadmConfig, readKubeadmConfig } from '../../src/config/kubeadm.js';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { resolveSettings } from '../../src/model/settings.js';
import { thrown } from '../support/errors.js';
import { FIXTURE_CONFIG } from '../support/tmp.js';

const host = { nodeName: 'host', advertiseAddress: '192.0.2.1' };

/** Joins YAML documents, so samples read as files do. */
const yaml = (...docs: string[]): string => docs.join('---\n');
const cluster = (version: string, body = ''): string => `apiVersion: kubeadm.k8s.io/${version}\nkind: ClusterConfiguration\n${body}`;
const init = (version: string, body = ''): string => `apiVersion: kubeadm.k8s.io/${version}\nkind: InitConfiguration\n${body}`;

describe('parseKubeadmConfig: the kubeadm v1.20.2 fixture (v1beta2)', () => {
  it('maps to exactly the settings kubeadm used', async () => {
    const { origins, ...config } = await readKubeadmConfig(FIXTURE_CONFIG);
    expect(config).toEqual({
      settings: {
        controlPlaneEndpoint: 'k8s-api.example.internal:6443',
        serviceCidr: '10.96.0.0/12',
        dnsDomain: 'cluster.local',
        apiserverCertExtraSans: ['198.51.100.100'],
        advertiseAddress: '198.51.100.11',
        bindPort: 6443,
        nodeName: 'cp1',
      },
      certificatesDir: '/etc/kubernetes/pki',
      warnings: [],
    });
    // Each setting remembers its field, so that an invalid value is reported where it was written.
    expect(origins.advertiseAddress).toBe(`${FIXTURE_CONFIG}: localAPIEndpoint.advertiseAddress (InitConfiguration, line 16)`);
    expect(Object.keys(origins).sort()).toEqual(Object.keys(config.settings).sort());
    const settings = resolveSettings(config.settings, host);
    expect(settings).toMatchObject({ nodeName: 'cp1', advertiseAddress: '198.51.100.11', keyType: 'rsa-2048', localEtcd: true });
  });
});

describe('parseKubeadmConfig: v1beta3', () => {
  const text = yaml(
    cluster(
      'v1beta3',
      `clusterName: prod
kubernetesVersion: v1.28.4
apiServer:
  certSANs: [api.example.com, 10.0.0.100]
  extraArgs: {authorization-mode: Node,RBAC}
etcd:
  local:
    dataDir: /var/lib/etcd
    serverCertSANs: [etcd.example.com]
    peerCertSANs: [10.0.0.50]
featureGates:
  PublicKeysECDSA: true
`,
    ),
    init(
      'v1beta3',
      'localAPIEndpoint:\n  advertiseAddress: 10.0.0.11\nnodeRegistration:\n  name: cp-a\n  criSocket: unix:///run/containerd/containerd.sock\n',
    ),
    'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDomain: other.local\n',
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n',
  );

  it('maps SANs, the PublicKeysECDSA gate and the node, ignoring other kinds', () => {
    expect(parseKubeadmConfig(text, 'c.yaml')).toEqual({
      origins: expect.objectContaining({
        keyType: expect.stringMatching(/^c\.yaml: featureGates\.PublicKeysECDSA \(ClusterConfiguration, line \d+\)$/),
      }),
      settings: {
        clusterName: 'prod',
        apiserverCertExtraSans: ['api.example.com', '10.0.0.100'],
        etcdServerCertExtraSans: ['etcd.example.com'],
        etcdPeerCertExtraSans: ['10.0.0.50'],
        keyType: 'ecdsa-p256',
        advertiseAddress: '10.0.0.11',
        nodeName: 'cp-a',
      },
      warnings: [],
    });
  });

  it('ignores v1beta4-only fields with a warning, as kubeadm drops them as unknown', () => {
    const config = parseKubeadmConfig(cluster('v1beta3', 'encryptionAlgorithm: ECDSA-P384\ncertificateValidityPeriod: 24h\n'), 'c.yaml');
    expect(config.settings).toEqual({});
    expect(config.warnings).toEqual([
      'c.yaml: encryptionAlgorithm: is a v1beta4 field: kubeadm ignores it in v1beta3, and so does kpki (use apiVersion kubeadm.k8s.io/v1beta4) (ClusterConfiguration, line 3)',
      'c.yaml: certificateValidityPeriod: is a v1beta4 field: kubeadm ignores it in v1beta3, and so does kpki (use apiVersion kubeadm.k8s.io/v1beta4) (ClusterConfiguration, line 4)',
    ]);
  });

  it('warns about field names that differ only in case, which kubeadm drops', () => {
    const config = parseKubeadmConfig(cluster('v1beta3', 'apiServer:\n  certSans: [api.example.com]\n'), 'c.yaml');
    expect(config.settings).toEqual({});
    expect(config.warnings).toEqual([
      'c.yaml: apiServer.certSans: is not a kubeadm field (names are case-sensitive: certSANs); kubeadm and kpki ignore it (ClusterConfiguration, line 4)',
    ]);
  });

  it('skips kubeadm kinds without certificate settings, and warns about unknown ones', () => {
    const config = parseKubeadmConfig(
      yaml(
        cluster('v1beta4'),
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\n',
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfig\n',
      ),
      'c.yaml',
    );
    expect(config.warnings).toEqual(['c.yaml: InitConfig at line 7 is not a kubeadm kind: ignored']);
  });

  it('treats empty values and a zero port as unset, as kubeadm defaults them', () => {
    const config = parseKubeadmConfig(
      yaml(
        cluster('v1beta3', 'clusterName: ""\napiServer: {certSANs: []}\nnetworking:\netcd: {external: null}\n'),
        init('v1beta3', 'localAPIEndpoint: {bindPort: 0}\n'),
      ),
      'c.yaml',
    );
    expect(config).toEqual({ settings: {}, origins: {}, warnings: [] });
  });

  it('reads YAML merge keys, as kubeadm (go-yaml) does', () => {
    const config = parseKubeadmConfig(
      cluster('v1beta3', 'x-sans: &sans\n  certSANs: [a.example.com]\napiServer:\n  <<: *sans\n'),
      'c.yaml',
    );
    expect(config.settings).toEqual({ apiserverCertExtraSans: ['a.example.com'] });
  });
});

describe('parseKubeadmConfig: v1beta4', () => {
  it.each([
    ['RSA-2048', 'rsa-2048'],
    ['RSA-3072', 'rsa-3072'],
    ['RSA-4096', 'rsa-4096'],
    ['ECDSA-P256', 'ecdsa-p256'],
    ['ECDSA-P384', 'ecdsa-p384'],
  ])('maps encryptionAlgorithm %s to key type %s', (algorithm, keyType) => {
    const config = parseKubeadmConfig(cluster('v1beta4', `encryptionAlgorithm: ${algorithm}\n`), 'c.yaml');
    expect(config.settings).toEqual({ keyType });
    expect(resolveSettings(config.settings, host).keyType).toBe(keyType);
  });

  it('converts Go validity periods into durations resolveSettings accepts', () => {
    const config = parseKubeadmConfig(
      cluster('v1beta4', 'certificateValidityPeriod: 8760h0m0s\ncaCertificateValidityPeriod: 87600h0m0s\n'),
      'c.yaml',
    );
    expect(config.settings).toEqual({ certValidity: '31536000s', caValidity: '315360000s' });
    const settings = resolveSettings(config.settings, host);
    expect(settings.certValidity).toBe(31_536_000);
    expect(settings.caValidity).toBe(315_360_000);
  });

  it.each([
    ['1h30m', '5400s'],
    ['90s', '90s'],
    ['1.5h', '5400s'],
    ['0.3h', '1080s'],
    ['2h0m1.9s', '7201s'],
    ['+1h', '3600s'],
    ['1500ms', '1s'],
  ])('reads the Go duration %s as %s', (duration, seconds) => {
    expect(parseKubeadmConfig(cluster('v1beta4', `certificateValidityPeriod: ${duration}\n`), 'c.yaml').settings.certValidity).toBe(
      seconds,
    );
  });

  it('lets a PublicKeysECDSA gate override encryptionAlgorithm, as kubeadm does', () => {
    const config = parseKubeadmConfig(
      cluster('v1beta4', 'encryptionAlgorithm: RSA-4096\nfeatureGates: {PublicKeysECDSA: false}\n'),
      'c.yaml',
    );
    expect(config.settings).toEqual({ keyType: 'rsa-2048' });
    expect(config.warnings).toEqual([
      'c.yaml: featureGates.PublicKeysECDSA: overrides encryptionAlgorithm, as in kubeadm: keys will be rsa-2048 (ClusterConfiguration, line 4)',
    ]);
  });

  it('reads a dual-stack service subnet as one comma list', () => {
    const config = parseKubeadmConfig(
      cluster('v1beta4', 'networking:\n  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112\n  dnsDomain: corp.local\n'),
      'c.yaml',
    );
    expect(config.settings).toEqual({ serviceCidr: '10.96.0.0/16,fd00:10:96::/112', dnsDomain: 'corp.local' });
    expect(resolveSettings(config.settings, host).serviceCidrs.map((c) => c.family)).toEqual([4, 6]);
  });

  it('external etcd: no local etcd, and a warning naming the client files', () => {
    const config = parseKubeadmConfig(
      cluster(
        'v1beta4',
        `etcd:
  external:
    endpoints: [https://10.0.0.5:2379]
    caFile: /etc/etcd/ca.crt
    certFile: /etc/etcd/client.crt
    keyFile: /etc/etcd/client.key
`,
      ),
      'c.yaml',
    );
    expect(config.settings).toEqual({ localEtcd: false });
    expect(config.warnings).toEqual([
      'c.yaml: etcd.external: kpki writes no etcd CA, etcd certificates or apiserver-etcd-client certificate; kube-apiserver uses your caFile, certFile, keyFile instead (ClusterConfiguration, line 4)',
    ]);
    expect(resolveSettings(config.settings, host).localEtcd).toBe(false);
  });

  it('reads a control-plane JoinConfiguration alone', () => {
    const config = parseKubeadmConfig(
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration: {name: cp2}\ncontrolPlane:\n  localAPIEndpoint: {advertiseAddress: 10.0.0.12, bindPort: 8443}\n',
      'c.yaml',
    );
    expect(config).toEqual({
      settings: { nodeName: 'cp2', advertiseAddress: '10.0.0.12', bindPort: 8443 },
      origins: expect.any(Object),
      warnings: [],
    });
  });

  it('prefers the InitConfiguration over a JoinConfiguration in the same file', () => {
    const config = parseKubeadmConfig(
      yaml(
        init('v1beta4', 'nodeRegistration: {name: cp1}\n'),
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration: {name: cp2}\ncontrolPlane: {}\n',
      ),
      'c.yaml',
    );
    expect(config.settings).toEqual({ nodeName: 'cp1' });
    expect(config.warnings).toEqual([
      'c.yaml: JoinConfiguration: ignored: kubeadm init reads the InitConfiguration in the same file (JoinConfiguration, line 5)',
    ]);
  });
});

describe('parseKubeadmConfig: errors', () => {
  it.each([
    // [what, text, message pattern]
    [
      'v1beta1',
      cluster('v1beta1'),
      /^bad\.yaml: ClusterConfiguration at line 1 has apiVersion kubeadm\.k8s\.io\/v1beta1; kpki reads kubeadm\.k8s\.io\/v1beta2, kubeadm\.k8s\.io\/v1beta3, kubeadm\.k8s\.io\/v1beta4$/,
    ],
    ['v1', init('v1'), /^bad\.yaml: InitConfiguration at line 1 has apiVersion kubeadm\.k8s\.io\/v1;.*v1beta4$/],
    ['a bare group', 'apiVersion: kubeadm.k8s.io\nkind: ClusterConfiguration\n', /has apiVersion kubeadm\.k8s\.io;/],
    ['YAML syntax', yaml(cluster('v1beta3'), 'kind: [\n'), /^bad\.yaml: not valid YAML at line \d+: /],
    ['duplicate keys', cluster('v1beta3', 'clusterName: a\nclusterName: b\n'), /^bad\.yaml: not valid YAML at line 4: .*unique/],
    [
      'a list document',
      yaml(cluster('v1beta3'), '- a\n- b\n'),
      /^bad\.yaml: document at line 4 must be a mapping with apiVersion and kind, not a list$/,
    ],
    ['a scalar document', 'hello\n', /^bad\.yaml: document at line 1 must be a mapping/],
    ['no kind', 'apiVersion: kubeadm.k8s.io/v1beta3\nclusterName: x\n', /^bad\.yaml: document at line 1 has no kind$/],
    ['no apiVersion', 'kind: ClusterConfiguration\n', /^bad\.yaml: document at line 1 has no apiVersion$/],
    ['a kind twice', yaml(cluster('v1beta3'), cluster('v1beta4')), /^bad\.yaml: ClusterConfiguration appears twice \(second at line 4\)$/],
    [
      'only other kinds',
      'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n',
      /^bad\.yaml: holds no kubeadm\.k8s\.io ClusterConfiguration or InitConfiguration$/,
    ],
    [
      'a worker JoinConfiguration',
      'apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\nnodeRegistration: {name: w1}\n',
      /holds no .* \(its JoinConfiguration has no controlPlane\)$/,
    ],
    ['an empty file', '', /^bad\.yaml: holds no /],
    ['binary data', '\u0007\u0001\uFFFDkind: x\n', /^bad\.yaml: is binary data, not YAML$/],
    ['only comments', '# nothing\n---\n', /^bad\.yaml: holds no /],
    [
      'an alias bomb',
      'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      /^bad\.yaml: document at line 1 cannot be read: /,
    ],
  ])('rejects %s', (_what, text, message) => {
    const error = thrown(() => parseKubeadmConfig(text, 'bad.yaml'));
    expect(error.code).toBe(ErrorCode.BadInput);
    expect(error.subject).toBe('bad.yaml');
    expect(error.message).toMatch(message);
  });

  it.each([
    [
      'apiServer.certSANs',
      cluster('v1beta3', 'apiServer:\n  certSANs: 10.0.0.1\n'),
      'apiServer.certSANs: must be a list of strings, not "10.0.0.1" (ClusterConfiguration, line 4)',
    ],
    [
      'a SAN',
      cluster('v1beta3', 'apiServer:\n  certSANs:\n    - a.example.com\n    - 42\n'),
      'apiServer.certSANs[1]: must be a string, not 42 (ClusterConfiguration, line 6)',
    ],
    [
      'etcd.local.peerCertSANs',
      cluster('v1beta2', 'etcd:\n  local: {peerCertSANs: {a: b}}\n'),
      'etcd.local.peerCertSANs: must be a list of strings, not a mapping (ClusterConfiguration, line 4)',
    ],
    [
      'a parent that is not a mapping',
      cluster('v1beta3', 'networking: [10.96.0.0/12]\n'),
      'networking: must be a mapping, not a list (ClusterConfiguration, line 3)',
    ],
    ['clusterName', cluster('v1beta3', 'clusterName: 42\n'), 'clusterName: must be a string, not 42 (ClusterConfiguration, line 3)'],
    [
      'certificatesDir',
      cluster('v1beta3', 'certificatesDir: [a]\n'),
      'certificatesDir: must be a string, not a list (ClusterConfiguration, line 3)',
    ],
    [
      'a quoted bindPort',
      init('v1beta3', 'localAPIEndpoint:\n  bindPort: "6443"\n'),
      'localAPIEndpoint.bindPort: must be a whole number, not "6443" (InitConfiguration, line 4)',
    ],
    [
      'a bindPort out of range',
      init('v1beta4', 'localAPIEndpoint: {bindPort: 70000}\n'),
      'localAPIEndpoint.bindPort: 70000 is not a port number (1-65535) (InitConfiguration, line 3)',
    ],
    [
      'nodeRegistration.name',
      init('v1beta4', 'nodeRegistration: {name: true}\n'),
      'nodeRegistration.name: must be a string, not true (InitConfiguration, line 3)',
    ],
    [
      'a join advertiseAddress',
      'apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ncontrolPlane:\n  localAPIEndpoint: {advertiseAddress: [1]}\n',
      'controlPlane.localAPIEndpoint.advertiseAddress: must be a string, not a list (JoinConfiguration, line 4)',
    ],
    [
      'the ECDSA gate',
      cluster('v1beta3', 'featureGates: {PublicKeysECDSA: "yes"}\n'),
      'featureGates.PublicKeysECDSA: must be true or false, not "yes" (ClusterConfiguration, line 3)',
    ],
    [
      'an unknown algorithm',
      cluster('v1beta4', 'encryptionAlgorithm: DSA\n'),
      'encryptionAlgorithm: "DSA" is not one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (ClusterConfiguration, line 3)',
    ],
    ['a lower-case algorithm', cluster('v1beta4', 'encryptionAlgorithm: ecdsa-p256\n'), 'encryptionAlgorithm: "ecdsa-p256" is not one of'],
    [
      'a non-Go duration',
      cluster('v1beta4', 'certificateValidityPeriod: 1y\n'),
      'certificateValidityPeriod: "1y" is not a Go duration such as 8760h0m0s (ClusterConfiguration, line 3)',
    ],
    [
      'a numeric duration',
      cluster('v1beta4', 'caCertificateValidityPeriod: 3600\n'),
      'caCertificateValidityPeriod: must be a string, not 3600',
    ],
    ['a zero duration', cluster('v1beta4', 'certificateValidityPeriod: 0s\n'), 'certificateValidityPeriod: "0s" must be at least 1s'],
    [
      'a negative duration',
      cluster('v1beta4', 'certificateValidityPeriod: -8760h\n'),
      'certificateValidityPeriod: "-8760h" must be at least 1s',
    ],
    [
      'a sub-second duration',
      cluster('v1beta4', 'certificateValidityPeriod: 500ms\n'),
      'certificateValidityPeriod: "500ms" must be at least 1s',
    ],
    [
      'an overlong duration',
      cluster('v1beta4', 'caCertificateValidityPeriod: 3000000h\n'),
      'caCertificateValidityPeriod: "3000000h" is longer than a Go duration can be',
    ],
    [
      'etcd.external',
      cluster('v1beta4', 'etcd:\n  external: https://10.0.0.5:2379\n'),
      'etcd.external: must be a mapping, not "https://10.0.0.5:2379" (ClusterConfiguration, line 4)',
    ],
    [
      'etcd.external.caFile',
      cluster('v1beta4', 'etcd:\n  external: {caFile: 1}\n'),
      'etcd.external.caFile: must be a string, not 1 (ClusterConfiguration, line 4)',
    ],
    [
      'local and external etcd',
      cluster('v1beta4', 'etcd:\n  local: {dataDir: /var/lib/etcd}\n  external: {endpoints: [https://e:2379]}\n'),
      'etcd: local and external are mutually exclusive (ClusterConfiguration, line 3)',
    ],
  ])('rejects a wrongly typed %s, naming the file and field', (_what, text, message) => {
    const error = thrown(() => parseKubeadmConfig(text, 'bad.yaml'));
    expect(error.code).toBe(ErrorCode.BadInput);
    expect(error.message).toMatch(/^bad\.yaml: /);
    expect(error.message).toContain(`bad.yaml: ${message}`);
  });
});

describe('readKubeadmConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpki-kubeadm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a missing file as MissingFile, naming it', async () => {
    const file = path.join(dir, 'nope.yaml');
    const error = await readKubeadmConfig(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KpkiError);
    expect((error as KpkiError).code).toBe(ErrorCode.MissingFile);
    expect((error as KpkiError).message).toContain(file);
  });

  it('reports a directory as BadInput, naming it', async () => {
    await expect(readKubeadmConfig(dir)).rejects.toMatchObject({ code: ErrorCode.BadInput, subject: dir });
  });
});

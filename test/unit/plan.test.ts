import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPkiSpec, classifySans, type PkiSpec } from '../../src/model/spec.js';
import { parseProfile, type Profile } from '../../src/model/profile.js';
import { resolveSettings, type SettingsInput } from '../../src/model/settings.js';
import { REPO_ROOT } from '../support/tmp.js';

const profile = (name: string): Profile =>
  parseProfile(readFileSync(path.join(REPO_ROOT, 'profiles', `${name}.yaml`), 'utf8'), `${name}.yaml`);
const host = { nodeName: 'cp1', advertiseAddress: '10.0.0.11' };
const spec = (input: SettingsInput = {}, name = 'kubeadm'): PkiSpec => buildPkiSpec(profile(name), resolveSettings(input, host));
const cert = (s: PkiSpec, name: string) => s.certificates.find((c) => c.name === name)!;
const kubeconfig = (s: PkiSpec, name: string) => s.kubeconfigs.find((k) => k.name === name)!;

describe('built-in profiles', () => {
  it.each(['kubeadm', 'kubeadm-v1.31', 'kubeadm-v1.20'])('%s: CAs come before what they sign, names and files are unique', (name) => {
    const p = profile(name);
    const seen = new Set<string>();
    for (const c of p.certificates) {
      if (c.issuer) expect(seen.has(c.issuer), `${c.name} issued by ${c.issuer}`).toBe(true);
      else seen.add(c.name);
    }
    const names = [...p.certificates, ...p.keyPairs, ...p.kubeconfigs, ...p.manifests].map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    expect(p.certificates.filter((c) => !c.issuer).map((c) => c.name)).toEqual(['ca', 'front-proxy-ca', 'etcd-ca']);
  });

  it('kubeadm writes the current kubeadm set of files', () => {
    const s = spec();
    expect(s.certificates.map((c) => c.file)).toEqual([
      'ca',
      'apiserver',
      'apiserver-kubelet-client',
      'front-proxy-ca',
      'front-proxy-client',
      'etcd/ca',
      'etcd/server',
      'etcd/peer',
      'etcd/healthcheck-client',
      'apiserver-etcd-client',
    ]);
    expect(s.keyPairs.map((k) => k.file)).toEqual(['sa']);
    expect(s.kubeconfigs.map((k) => k.file)).toEqual([
      'admin.conf',
      'super-admin.conf',
      'controller-manager.conf',
      'scheduler.conf',
      'kubelet.conf',
    ]);
  });
});

describe('SAN derivation', () => {
  it('apiserver: node name, in-cluster names, service VIP, advertise address, endpoint, extras', () => {
    const api = cert(
      spec({ controlPlaneEndpoint: 'lb.example.com:6443', apiserverCertExtraSans: ['10.0.0.100', 'api.example.com'] }),
      'apiserver',
    );
    expect(api.dnsNames).toEqual([
      'api.example.com',
      'cp1',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
      'lb.example.com',
    ]);
    expect(api.ipAddresses).toEqual(['10.96.0.1', '10.0.0.11', '10.0.0.100']);
  });

  it('an IP endpoint goes to the IP SANs; the DNS domain is honoured', () => {
    const api = cert(spec({ controlPlaneEndpoint: '10.0.0.100', dnsDomain: 'k8s.internal' }), 'apiserver');
    expect(api.ipAddresses).toEqual(['10.96.0.1', '10.0.0.11', '10.0.0.100']);
    expect(api.dnsNames).toContain('kubernetes.default.svc.k8s.internal');
    expect(api.dnsNames).not.toContain('kubernetes.default.svc.cluster.local');
  });

  it('dual-stack: the first IP of each service CIDR', () => {
    const api = cert(spec({ serviceCidr: '10.96.0.0/12,fd00:10:96::/112' }), 'apiserver');
    expect(api.ipAddresses.slice(0, 2)).toEqual(['10.96.0.1', 'fd00:10:96::1']);
  });

  it('IPv6 advertise address and endpoint', () => {
    const s = spec({ advertiseAddress: 'fd00::11', controlPlaneEndpoint: '[fd00::100]:6443', serviceCidr: 'fd00:10:96::/112' });
    expect(cert(s, 'apiserver').ipAddresses).toEqual(['fd00:10:96::1', 'fd00::11', 'fd00::100']);
    expect(kubeconfig(s, 'admin.conf').server).toBe('https://[fd00::100]:6443');
    expect(kubeconfig(s, 'scheduler.conf').server).toBe('https://[fd00::11]:6443');
  });

  it('etcd server and peer: node name, localhost, loopbacks, advertise address, their own extras', () => {
    const s = spec({ etcdServerCertExtraSans: ['etcd.example.com'], etcdPeerCertExtraSans: ['10.0.0.50'] });
    expect(cert(s, 'etcd-server').dnsNames).toEqual(['cp1', 'etcd.example.com', 'localhost']);
    expect(cert(s, 'etcd-server').ipAddresses).toEqual(['10.0.0.11', '127.0.0.1', '::1']);
    expect(cert(s, 'etcd-peer').dnsNames).toEqual(['cp1', 'localhost']);
    expect(cert(s, 'etcd-peer').ipAddresses).toEqual(['10.0.0.11', '127.0.0.1', '::1', '10.0.0.50']);
    expect(cert(s, 'etcd-server').commonName).toBe('cp1');
  });

  it('sorts DNS names by bytes and keeps IPs in first-seen order, deduplicated', () => {
    expect(classifySans(['b', '*.a', 'A', '10.0.0.2', '10.0.0.1', '10.0.0.2', 'b'])).toEqual({
      dnsNames: ['*.a', 'a', 'b'],
      ipAddresses: ['10.0.0.2', '10.0.0.1'],
    });
  });
});

describe('identities and policy', () => {
  it('current kubeadm: admin in kubeadm:cluster-admins, super-admin in system:masters, kubelet per node', () => {
    const s = spec({ nodeName: 'worker-7' });
    expect(kubeconfig(s, 'admin.conf').client).toMatchObject({ commonName: 'kubernetes-admin', organizations: ['kubeadm:cluster-admins'] });
    expect(kubeconfig(s, 'super-admin.conf').client).toMatchObject({
      commonName: 'kubernetes-super-admin',
      organizations: ['system:masters'],
    });
    expect(kubeconfig(s, 'kubelet.conf').client).toMatchObject({ commonName: 'system:node:worker-7', organizations: ['system:nodes'] });
    expect(kubeconfig(s, 'kubelet.conf').contextName).toBe('system:node:worker-7@kubernetes');
    expect(cert(s, 'apiserver-kubelet-client').organizations).toEqual(['kubeadm:cluster-admins']);
    expect(cert(s, 'apiserver-etcd-client').organizations).toEqual([]);
    expect(cert(s, 'ca')).toMatchObject({ dnsNames: ['kubernetes'], basicConstraints: true, isCA: true, validity: 3650 * 86400 });
    expect(cert(s, 'apiserver')).toMatchObject({ basicConstraints: true, isCA: false, validity: 365 * 86400, backdate: 300 });
  });

  it('kubeadm v1.20: system:masters clients, no CA SAN, no BasicConstraints on leaves, no super-admin', () => {
    const s = spec({}, 'kubeadm-v1.20');
    expect(cert(s, 'apiserver-etcd-client').organizations).toEqual(['system:masters']);
    expect(cert(s, 'ca').dnsNames).toEqual([]);
    expect(cert(s, 'apiserver').basicConstraints).toBe(false);
    expect(s.kubeconfigs.map((k) => k.name)).not.toContain('super-admin.conf');
  });

  it("servers (kubeadm v1.33+): endpoint for admin, local for controller-manager, scheduler and a control plane's kubelet", () => {
    const s = spec({ controlPlaneEndpoint: 'lb.example.com', bindPort: 8443 });
    expect(kubeconfig(s, 'admin.conf').server).toBe('https://lb.example.com:8443');
    expect(kubeconfig(s, 'kubelet.conf').server).toBe('https://10.0.0.11:8443');
    expect(kubeconfig(s, 'controller-manager.conf').server).toBe('https://10.0.0.11:8443');
    const noEndpoint = spec();
    expect(kubeconfig(noEndpoint, 'admin.conf').server).toBe('https://10.0.0.11:6443');
  });

  it("a worker's kubelet.conf points at the endpoint under every profile; a control plane's at the endpoint before v1.33", () => {
    const settings = resolveSettings({ controlPlaneEndpoint: 'lb.example.com', bindPort: 8443 }, host);
    for (const name of ['kubeadm', 'kubeadm-v1.31', 'kubeadm-v1.20']) {
      const worker = buildPkiSpec(profile(name), settings, { controlPlane: false });
      expect(kubeconfig(worker, 'kubelet.conf').server).toBe('https://lb.example.com:8443');
    }
    expect(kubeconfig(spec({ controlPlaneEndpoint: 'lb.example.com', bindPort: 8443 }, 'kubeadm-v1.31'), 'kubelet.conf').server).toBe(
      'https://lb.example.com:8443',
    );
  });

  it('component serving certificates: only when asked for; cluster CA, serverAuth, the names a scraper dials', () => {
    expect(spec().certificates.map((c) => c.name)).not.toContain('controller-manager-serving');
    const s = spec({ componentServingCerts: true, advertiseAddress: '10.0.0.11' });
    for (const [name, cn, file] of [
      ['controller-manager-serving', 'kube-controller-manager', 'controller-manager'],
      ['scheduler-serving', 'kube-scheduler', 'scheduler'],
    ] as const) {
      const c = cert(s, name);
      expect(c).toMatchObject({ commonName: cn, file, issuer: 'ca', extKeyUsages: ['serverAuth'], isCA: false });
      expect(c.dnsNames).toEqual(['cp1', 'localhost']);
      expect(c.ipAddresses).toEqual(['10.0.0.11', '127.0.0.1', '::1']);
    }
  });

  it('external etcd drops the etcd certificates', () => {
    const s = buildPkiSpec(profile('kubeadm'), { ...resolveSettings({}, host), localEtcd: false });
    expect(s.certificates.map((c) => c.name)).toEqual([
      'ca',
      'apiserver',
      'apiserver-kubelet-client',
      'front-proxy-ca',
      'front-proxy-client',
    ]);
  });

  it('key type and validity flow into every certificate', () => {
    const s = spec({ keyType: 'ecdsa-p384', certValidity: '30d', caValidity: '5y' });
    expect(new Set(s.certificates.map((c) => c.keyType))).toEqual(new Set(['ecdsa-p384']));
    expect(cert(s, 'front-proxy-client').validity).toBe(30 * 86400);
    expect(cert(s, 'front-proxy-ca').validity).toBe(5 * 365 * 86400);
  });
});

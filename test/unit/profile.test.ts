import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { clusterAdminGroups, parseProfile } from '../../src/model/profile.js';
import { REPO_ROOT } from '../support/tmp.js';

const base = readFileSync(path.join(REPO_ROOT, 'profiles/kubeadm.yaml'), 'utf8');

function rejection(text: string): KpkiError {
  try {
    parseProfile(text, 'custom.yaml');
  } catch (error) {
    return error as KpkiError;
  }
  throw new Error('profile was accepted');
}

describe('parseProfile rejects broken profiles with the file and field', () => {
  it.each([
    ['YAML syntax', 'kind: [', /not valid YAML/],
    ['wrong kind', base.replace('kind: CertificateProfile', 'kind: Pod'), /kind must be CertificateProfile/],
    ['unknown usage', base.replace('usages: [serverAuth]', 'usages: [codeSigning]'), /usages has "codeSigning"/],
    ['unknown placeholder', base.replace('${dnsDomain}', '${domain}'), /unknown placeholder \$\{domain\}/],
    ['list placeholder inside a string', base.replace('      - ${serviceIPs}', '      - ip-${serviceIPs}'), /only as a whole SAN entry/],
    ['issuer defined later', base.replace('issuer: front-proxy-ca', 'issuer: etcd-ca'), /issuer "etcd-ca" is not a CA defined before it/],
    ['duplicate name', base.replace('name: scheduler.conf', 'name: admin.conf'), /name "admin.conf" is used twice/],
    ['path escape', base.replace('file: apiserver\n', 'file: ../apiserver\n'), /must be a relative path/],
    ['bad backdate', base.replace('backdate: 5m', 'backdate: soon'), /backdate must be a duration/],
    [
      'wiring to an unknown component',
      base.replace('apiserver: { cert: tls-cert-file', 'kubelet: { cert: tls-cert-file'),
      /certificates\[1\]\.wiring\.kubelet is no component/,
    ],
    [
      'wiring a part the entry lacks',
      base.replace('apiserver: { cert: client-ca-file }', 'apiserver: { pub: client-ca-file }'),
      /wiring\.apiserver\.pub is not a part this entry has/,
    ],
    [
      'a flag wired to two entries',
      base.replace('apiserver: { cert: etcd-cafile }', 'apiserver: { cert: client-ca-file }'),
      /etcd-ca: apiserver --client-ca-file is already wired to ca/,
    ],
    ['a flag written with dashes', base.replace('{ cert: tls-cert-file,', '{ cert: --tls-cert-file,'), /must name flags without dashes/],
    [
      'an alias on a leaf',
      base.replace('commonName: kube-apiserver\n', 'commonName: kube-apiserver\n    alias: api\n'),
      /alias is for CAs only/,
    ],
    ['an alias used twice', base.replace('alias: etcd', 'alias: cluster'), /alias "cluster" is used twice/],
    [
      'a kubelet pki entry naming more than the node',
      base.replace('      - ${nodeAddresses}', '      - ${nodeAddresses}\n      - kubelet.${dnsDomain}'),
      /kubeletPki entries name only the node: .* not \$\{dnsDomain\}/,
    ],
    [
      'a CA in the kubelet pki dir',
      base.replace('commonName: front-proxy-ca\n', 'commonName: front-proxy-ca\n    location: kubeletPki\n'),
      /kubeletPki is for certificates a CA signs/,
    ],
    [
      'wiring on a kubelet pki entry',
      base.replace(
        '      - ${nodeAddresses}\n',
        '      - ${nodeAddresses}\n    wiring:\n      apiserver: { cert: kubelet-certificate-authority }\n',
      ),
      /wiring names cert dir files/,
    ],
    ['an unknown identity', base.replace('identity: admin', 'identity: root'), /identity must be one of/],
  ])('%s', (_, text, message) => {
    const error = rejection(text);
    expect(error).toBeInstanceOf(KpkiError);
    expect(error.code).toBe(ErrorCode.BadInput);
    expect(error.message).toMatch(/^custom\.yaml: /);
    expect(error.message).toMatch(message);
  });
});

describe('a profile is data: adding a certificate is adding an entry', () => {
  it('accepts a new leaf without code changes', () => {
    const extended = base.replace(
      'keyPairs:',
      `  - name: metrics-client
    file: metrics-client
    issuer: front-proxy-ca
    commonName: metrics-client
    organizations: [monitoring]
    usages: [clientAuth]

keyPairs:`,
    );
    const profile = parseProfile(extended, 'extended.yaml');
    expect(profile.certificates.at(-1)).toMatchObject({ name: 'metrics-client', issuer: 'front-proxy-ca', organizations: ['monitoring'] });
  });
});

describe("clusterAdminGroups: the groups a profile's manifests bind to cluster-admin", () => {
  it('kubeadm binds kubeadm:cluster-admins; kubeadm v1.20 binds none (admin.conf was system:masters)', () => {
    expect(clusterAdminGroups(parseProfile(base, 'kubeadm.yaml'))).toEqual(['kubeadm:cluster-admins']);
    const v120 = readFileSync(path.join(REPO_ROOT, 'profiles/kubeadm-v1.20.yaml'), 'utf8');
    expect(clusterAdminGroups(parseProfile(v120, 'kubeadm-v1.20.yaml'))).toEqual([]);
  });

  it('only Group subjects of a binding to the cluster-admin ClusterRole count', () => {
    const view = base.replace('name: cluster-admin\n', 'name: view\n');
    expect(view).not.toBe(base);
    expect(clusterAdminGroups(parseProfile(view, 'custom.yaml'))).toEqual([]);
    const user = base.replace('kind: Group\n', 'kind: User\n');
    expect(user).not.toBe(base);
    expect(clusterAdminGroups(parseProfile(user, 'custom.yaml'))).toEqual([]);
  });
});

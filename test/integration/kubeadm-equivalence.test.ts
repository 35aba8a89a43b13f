import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { initPki } from '../../src/commands/init.js';
import { x509 } from '../../src/pki/crypto.js';
import { FIXTURE_CONFIG, FIXTURE_KUBERNETES, tempDir } from '../support/tmp.js';

/**
 * The promise to kubeadm users: for the same settings, `openssl x509 -text` of kpki's output and
 * kubeadm's differ only in keys, serials, dates, key identifiers and signatures. So subjects,
 * issuers, and every extension but SKI/AKI must be byte-identical, in the same order.
 */
const CERTS = [
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
];
const KUBECONFIGS = ['admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'];
const KEY_ID_OIDS = new Set(['2.5.29.14', '2.5.29.35']);

const hex = (buf: ArrayBuffer) => Buffer.from(buf).toString('hex');

/** Everything about a certificate that must match kubeadm's, keyed for a readable diff. */
function comparable(cert: x509.X509Certificate) {
  return {
    version: 3,
    subject: hex(cert.subjectName.toArrayBuffer()),
    issuer: hex(cert.issuerName.toArrayBuffer()),
    signatureAlgorithm: cert.signatureAlgorithm,
    publicKeyAlgorithm: cert.publicKey.algorithm,
    validityDays: Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000),
    extensions: cert.extensions.map((e) => ({
      oid: e.type,
      critical: e.critical,
      value: KEY_ID_OIDS.has(e.type) ? 'key-dependent' : hex(e.value),
    })),
  };
}

const loadCert = (file: string) => new x509.X509Certificate(readFileSync(file, 'utf8'));

function kubeconfigShape(file: string) {
  const doc = parseYaml(readFileSync(file, 'utf8'));
  const user = doc.users[0];
  const clientCert = new x509.X509Certificate(Buffer.from(user.user['client-certificate-data'], 'base64').toString());
  // Data fields differ per key; everything else must be the same document.
  return {
    keys: Object.keys(doc),
    cluster: { name: doc.clusters[0].name, server: doc.clusters[0].cluster.server, fields: Object.keys(doc.clusters[0].cluster) },
    context: doc.contexts,
    currentContext: doc['current-context'],
    user: { name: user.name, fields: Object.keys(user.user) },
    client: comparable(clientCert),
  };
}

describe('kpki --config <fixture kubeadm-config.yaml> --profile kubeadm-v1.20 matches kubeadm v1.20.2 output', () => {
  const dir = tempDir();
  beforeAll(async () => {
    // The fixture's own kubeadm config, so the comparison also covers reading it.
    await initPki({ config: FIXTURE_CONFIG, profile: 'kubeadm-v1.20', certDir: path.join(dir, 'pki'), kubeconfigDir: dir });
  });

  it.each(CERTS)('%s.crt', (name) => {
    const kpki = comparable(loadCert(path.join(dir, 'pki', `${name}.crt`)));
    const kubeadm = comparable(loadCert(path.join(FIXTURE_KUBERNETES, 'pki', `${name}.crt`)));
    expect(kpki).toEqual(kubeadm);
  });

  it.each(KUBECONFIGS)('%s', (name) => {
    expect(kubeconfigShape(path.join(dir, name))).toEqual(kubeconfigShape(path.join(FIXTURE_KUBERNETES, name)));
  });

  it('kubeconfigs are laid out byte for byte like kubeadm, apart from base64 data', () => {
    const strip = (text: string) => text.replace(/(-data: )\S+/g, '$1DATA');
    for (const name of KUBECONFIGS) {
      expect(strip(readFileSync(path.join(dir, name), 'utf8'))).toBe(strip(readFileSync(path.join(FIXTURE_KUBERNETES, name), 'utf8')));
    }
  });

  it('keys use the PEM types kubeadm writes', () => {
    for (const name of [...CERTS, 'sa']) {
      const kpki = readFileSync(path.join(dir, 'pki', `${name}.key`), 'utf8').split('\n')[0];
      expect(kpki).toBe(readFileSync(path.join(FIXTURE_KUBERNETES, 'pki', `${name}.key`), 'utf8').split('\n')[0]);
    }
    expect(readFileSync(path.join(dir, 'pki/sa.pub'), 'utf8').split('\n')[0]).toBe('-----BEGIN PUBLIC KEY-----');
  });
});

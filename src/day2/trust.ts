import type { Observed } from '../plan/decide.js';
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { certificateFacts, certificatePem, describeAuthority, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { sameKeyPair } from '../pki/keys.js';
import { isSignedBy, sameAuthority } from '../pki/match.js';
import { parseCertificates, parseKey } from '../pki/pem.js';

/** A CA as the cert dir holds it: its trust file (one or more certificates) and maybe its key. */
export interface Authority {
  name: string;
  /** Cert dir path without extension: `ca`, `front-proxy-ca`, `etcd/ca`. */
  file: string;
  certFile: string;
  keyFile: string;
  /** Every certificate of the trust file, in file order. */
  bundle: x509.X509Certificate[];
  /** The certificate that matches the key (what kpki signs as); the first one when there is no key. */
  cert: x509.X509Certificate;
  /** Undefined for an external CA: kpki cannot sign with it. */
  key: KeyObject | undefined;
}

export const bundlePem = (certs: x509.X509Certificate[]): string => certs.map(certificatePem).join('');

/** A CA of a cert dir, as the snapshot holds it; undefined when its trust file does not exist. */
export function authorityIn(snapshot: Observed, certDir: string, name: string, file: string): Authority | undefined {
  const certFile = path.join(certDir, `${file}.crt`);
  const keyFile = path.join(certDir, `${file}.key`);
  const [certData, keyData] = [snapshot.get(certFile), snapshot.get(keyFile)];
  if (!certData) return undefined;
  const bundle = parseCertificates(certData, certFile);
  const key = keyData && parseKey(keyData, keyFile);
  const cert = key ? bundle.find((c) => sameKeyPair(key, publicKeyObject(c))) : bundle[0];
  if (!cert) {
    throw new KpkiError(ErrorCode.StaleFile, `${keyFile} matches no certificate of ${certFile}`, {
      subject: keyFile,
      hint: 'restore the CA files from a backup; kpki signs nothing with a key it cannot match to its certificate',
    });
  }
  return { name, file, certFile, keyFile, bundle, cert, key };
}

/** Whether any certificate of a bundle stands for the same authority as `ca`. */
export const bundleHolds = (bundle: x509.X509Certificate[], ca: x509.X509Certificate) => bundle.some((c) => sameAuthority(c, ca));

/**
 * Refuses user kubeconfigs (--kubeconfig) that belong to another PKI: renewing one would sign it
 * with this CA and replace its CA data, and the credential for its own cluster would be lost.
 */
export function refuseForeignKubeconfigs(files: string[], snapshot: Observed, ca: Authority | undefined): void {
  if (!ca) return;
  const ours = `this PKI's ${ca.certFile} (${ca.bundle.map(describeAuthority).join(', ')})`;
  const hint = 'nothing was changed; give --kubeconfig only kubeconfigs this PKI issued (kpki kubeconfig user)';
  for (const file of files) {
    const data = snapshot.get(file);
    if (!data) continue;
    const creds = parseKubeconfig(data.toString('utf8'), file);
    const authority = creds.certificateAuthority;
    const trusted = authority?.data ? parseCertificates(authority.data, authority.origin) : [];
    if (trusted.length && !trusted.some((c) => bundleHolds(ca.bundle, c))) {
      throw badInput(file, `belongs to another PKI: it trusts ${trusted.map(describeAuthority).join(', ')}, not ${ours}`, hint);
    }
    const client = creds.clientCertificate?.data && parseCertificates(creds.clientCertificate.data, creds.clientCertificate.origin)[0];
    if (client && !ca.bundle.some((c) => isSignedBy(client, c))) {
      const facts = certificateFacts(client);
      const keyId = facts.authorityKeyId ? `, authority key id ${facts.authorityKeyId}` : '';
      throw badInput(file, `belongs to another PKI: its client certificate (CN=${facts.commonName}) was signed by CN=${facts.issuerCommonName}${keyId}, not by ${ours}`, hint);
    }
  }
}

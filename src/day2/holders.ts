import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { badInput } from '../errors.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import type { x509 } from '../pki/crypto.js';
import { parseCertificates } from '../pki/pem.js';
import type { Observed } from '../plan/decide.js';
import type { FileWrite } from '../plan/steps.js';
import type { Layout } from './layout.js';
import { setKubeconfigData } from '../kubeconfig/kubeconfig.js';
import { bundlePem } from './trust.js';

/** A file kpki manages that tells components or clients which CAs to trust. */
export interface TrustHolder {
  kind: 'ca-file' | 'kubeconfig' | 'apiservice';
  file: string;
  /** For CA files: the CA entry it is the trust file of. */
  ca: string | undefined;
}

/** Turns the certificates a holder trusts into the ones it should trust; undefined leaves it alone. */
export type TrustEdit = (bundle: x509.X509Certificate[], holder: TrustHolder) => x509.X509Certificate[] | undefined;

/**
 * Every trust file of the layout: each location's CA files (`ca.crt`, `front-proxy-ca.crt`,
 * `etcd/ca.crt`), its kubeconfigs' CA data, and the APIService manifests named (caBundle).
 */
export function trustHolders(layout: Layout, snapshot: Observed, apiServices: string[] = []): TrustHolder[] {
  const holders: TrustHolder[] = [];
  const cas = layout.profile.certificates.filter((c) => !c.issuer);
  for (const location of layout.locations) {
    for (const ca of cas) holders.push({ kind: 'ca-file', file: path.join(location.certDir, `${ca.file}.crt`), ca: ca.name });
    for (const kubeconfig of layout.profile.kubeconfigs) holders.push({ kind: 'kubeconfig', file: path.join(location.kubeconfigDir, kubeconfig.file), ca: undefined });
  }
  for (const file of layout.kubeconfigs) holders.push({ kind: 'kubeconfig', file, ca: undefined });
  for (const file of apiServices) {
    if (!snapshot.get(file)) throw badInput(file, 'not found', 'name the APIService manifests kpki cert extension-apiserver wrote');
    holders.push({ kind: 'apiservice', file, ca: undefined });
  }
  return holders.filter((h) => snapshot.has(h.file));
}

const sameBundle = (a: x509.X509Certificate[], b: x509.X509Certificate[]) => a.length === b.length && a.every((c, i) => Buffer.from(c.rawData).equals(Buffer.from(b[i]!.rawData)));

/** The holder rewritten by an edit, or undefined when its trust does not change. */
export function editTrust(holder: TrustHolder, edit: TrustEdit, snapshot: Observed): FileWrite | undefined {
  const data = snapshot.get(holder.file)!;
  const text = data.toString('utf8');
  switch (holder.kind) {
    case 'ca-file': {
      const bundle = parseCertificates(data, holder.file);
      const next = edit(bundle, holder);
      return next && !sameBundle(bundle, next) ? { path: holder.file, data: bundlePem(next), mode: 0o644 } : undefined;
    }
    case 'kubeconfig': {
      const creds = parseKubeconfig(text, holder.file);
      const ca = creds.certificateAuthority;
      if (!ca?.data) return undefined;
      const bundle = parseCertificates(ca.data, ca.origin);
      const next = edit(bundle, holder);
      return next && !sameBundle(bundle, next) ? { path: holder.file, data: setKubeconfigData(text, holder.file, { ca: bundlePem(next) }), mode: 0o600 } : undefined;
    }
    case 'apiservice': {
      const doc = parseDocument(text);
      const spec = doc.get('spec');
      const caBundle = isMap(spec) ? spec.get('caBundle') : undefined;
      if (typeof caBundle !== 'string') return undefined;
      const bundle = parseCertificates(Buffer.from(caBundle, 'base64'), `${holder.file}: spec.caBundle`);
      const next = edit(bundle, holder);
      if (!next || sameBundle(bundle, next)) return undefined;
      doc.setIn(['spec', 'caBundle'], Buffer.from(bundlePem(next)).toString('base64'));
      return { path: holder.file, data: doc.toString({ lineWidth: 0 }), mode: 0o644 };
    }
  }
}

/** Applies an edit to every holder; returns the writes of those that change. */
export function editAllTrust(holders: TrustHolder[], edit: TrustEdit, snapshot: Observed): FileWrite[] {
  const writes = holders.map((h) => editTrust(h, edit, snapshot));
  return writes.filter((w): w is FileWrite => w !== undefined);
}

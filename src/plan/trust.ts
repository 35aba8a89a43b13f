import type { FileWrite, Observed } from '../model/files.js';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { parseKubeconfig, setKubeconfigData } from '../kubeconfig/kubeconfig.js';
import type { Layout } from '../model/layout.js';
import { certificateFacts, certificatePem, describeAuthority, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { sameKeyPair } from '../pki/keys.js';
import { isSignedBy, sameAuthority } from '../pki/match.js';
import { parseCertificates, parseKey } from '../pki/pem.js';
import { publicHalf, type SigningKey } from '../pki/signing-key.js';
import type { TokenCa } from './decide.js';

/** A CA as the cert dir holds it: its trust file (one or more certificates) and maybe its key. */
export interface HeldCa {
  name: string;
  /** Cert dir path without extension: `ca`, `front-proxy-ca`, `etcd/ca`. */
  file: string;
  certFile: string;
  keyFile: string;
  /** Every certificate of the trust file, in file order. */
  bundle: x509.X509Certificate[];
  /** The certificate that matches the key (what kpki signs as); the first one when there is no key. */
  cert: x509.X509Certificate;
  /** A key file's, or the key a PKCS#11 token holds; undefined for an external CA: kpki cannot sign with it. */
  key: SigningKey | undefined;
}

/**
 * The CA keys PKCS#11 tokens hold for a day-2 run, as the command opened them
 * (commands/ca-keys.ts): the core decides with them and never opens a token.
 */
export interface TokenCas {
  /** CA entry name → the URI kpki-pkcs11.json names its key by. */
  uris: ReadonlyMap<string, string>;
  /** URI → the key as the token holds it (key undefined: no such object), for every URI the run may sign with. */
  keys: ReadonlyMap<string, TokenCa>;
  /** kpki-pkcs11.json, for a rotation phase that names another key of a CA. */
  settingsFile: string;
  /** The module kpki-pkcs11.json names, kept when it is written again. */
  module: string | undefined;
}

/**
 * kpki-pkcs11.json with the given CAs' keys at other URIs (a rotation phase that moves signing to
 * the other side's key); nothing when it names them so already.
 */
export function tokenSettingsWrite(tokens: TokenCas | undefined, moved: ReadonlyMap<string, string>): FileWrite[] {
  if (!tokens || ![...moved].some(([name, uri]) => tokens.uris.get(name) !== uri)) return [];
  const caKeys = Object.fromEntries([...tokens.uris, ...moved]);
  const text = `${JSON.stringify({ ...(tokens.module ? { module: tokens.module } : {}), caKeys }, null, 2)}\n`;
  return [{ path: tokens.settingsFile, data: text, mode: 0o644 }];
}

/** The token key a URI names, checked against the certificates it must sign as: one line naming the token object otherwise. */
export function tokenKeyFor(tokens: TokenCas, uri: string, certs: x509.X509Certificate[], certFile: string): SigningKey {
  const held = tokens.keys.get(uri);
  if (!held?.key)
    throw new KpkiError(ErrorCode.BadInput, `${held?.label ?? uri}: no such key in the token`, {
      subject: held?.label ?? uri,
      hint: `check the token and ${tokens.settingsFile} (and --pkcs11-module); nothing was written`,
    });
  if (!certs.some((c) => sameKeyPair(publicHalf(held.key!), publicKeyObject(c))))
    throw new KpkiError(ErrorCode.BadInput, `${held.label}: the token's key does not match ${certFile}`, {
      subject: held.label,
      hint: `point ${tokens.settingsFile} at the key this CA certificate was made with; nothing was written`,
    });
  return held.key;
}

export const bundlePem = (certs: x509.X509Certificate[]): string => certs.map(certificatePem).join('');

/**
 * A CA of a cert dir, as the snapshot holds it; undefined when its trust file does not exist. Its
 * key is the file beside it, or the token key `tokens` names for it (no key file is normal then).
 */
export function authorityIn(snapshot: Observed, certDir: string, name: string, file: string, tokens?: TokenCas): HeldCa | undefined {
  const certFile = path.join(certDir, `${file}.crt`);
  const keyFile = path.join(certDir, `${file}.key`);
  const [certData, keyData] = [snapshot.get(certFile), snapshot.get(keyFile)];
  if (!certData) return undefined;
  const bundle = parseCertificates(certData, certFile);
  const uri = tokens?.uris.get(name);
  if (uri && keyData)
    throw new KpkiError(
      ErrorCode.BadInput,
      `${keyFile}: ${name}'s key is in a PKCS#11 token (${tokens!.settingsFile}), but this file holds one`,
      {
        subject: keyFile,
        hint: 'move the file away: kpki signs with the token key and never with a copy',
      },
    );
  const key = uri ? tokenKeyFor(tokens!, uri, bundle, certFile) : keyData && parseKey(keyData, keyFile);
  const cert = key ? bundle.find((c) => sameKeyPair(publicHalf(key), publicKeyObject(c))) : bundle[0];
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
export function refuseForeignKubeconfigs(files: string[], snapshot: Observed, ca: HeldCa | undefined): void {
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
      throw badInput(
        file,
        `belongs to another PKI: its client certificate (CN=${facts.commonName}) was signed by CN=${facts.issuerCommonName}${keyId}, not by ${ours}`,
        hint,
      );
    }
  }
}

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
    for (const kubeconfig of layout.profile.kubeconfigs)
      holders.push({ kind: 'kubeconfig', file: path.join(location.kubeconfigDir, kubeconfig.file), ca: undefined });
  }
  for (const file of layout.kubeconfigs) holders.push({ kind: 'kubeconfig', file, ca: undefined });
  for (const file of apiServices) {
    if (!snapshot.get(file)) throw badInput(file, 'not found', 'name the APIService manifests kpki cert extension-apiserver wrote');
    holders.push({ kind: 'apiservice', file, ca: undefined });
  }
  return holders.filter((h) => snapshot.has(h.file));
}

const sameBundle = (a: x509.X509Certificate[], b: x509.X509Certificate[]) =>
  a.length === b.length && a.every((c, i) => Buffer.from(c.rawData).equals(Buffer.from(b[i]!.rawData)));

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
      return next && !sameBundle(bundle, next)
        ? { path: holder.file, data: setKubeconfigData(text, holder.file, { ca: bundlePem(next) }), mode: 0o600 }
        : undefined;
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

/** A CA kpki can sign with; refused for an external CA, whose owner re-certifies it. */
export function signingAuthority(cas: Map<string, HeldCa>, name: string, certDir: string): HeldCa & { key: SigningKey } {
  const ca = cas.get(name);
  if (!ca)
    throw new KpkiError(ErrorCode.MissingFile, `${certDir}: has no ${name}`, {
      subject: certDir,
      hint: 'point --cert-dir at the PKI (a cluster: its shared directory)',
    });
  if (!ca.key) {
    throw new KpkiError(ErrorCode.ExternalCaMissing, `${ca.keyFile}: ${name} is an external CA (its key is not here)`, {
      subject: ca.keyFile,
      hint: 'have its owner extend or replace it, then copy the new certificate to every node',
    });
  }
  return ca as HeldCa & { key: SigningKey };
}

/** What kube-controller-manager's root CA change means for pods. */
export const ROOT_CA_NOTE =
  'kube-controller-manager publishes ca.crt as the kube-root-ca.crt ConfigMap in every namespace; pods read it when they start: restart workloads that talk to the apiserver (kubectl rollout restart …)';

import type { FileWrite, Observed } from '../model/files.js';
import path from 'node:path';
import { certificateFacts, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { keyTypeOf, parsePublicKey, sameKeyPair, type KeyObject } from '../pki/keys.js';
import { certificateMismatches, notCaReasons, sameAuthority, signedByKey } from '../pki/match.js';
import { parseCertificate, parseCertificates, parseKey } from '../pki/pem.js';
import { parseKubeconfig, type KubeconfigCredentials } from '../kubeconfig/kubeconfig.js';
import { publicHalf, type TokenKey } from '../pki/signing-key.js';
import type { CertSpec, KeyPairSpec, KubeconfigSpec, ManifestSpec, PkiSpec } from '../model/spec.js';
import { ErrorCode, KpkiError } from '../errors.js';
import { certificateItem, type Authority, type Step } from './steps.js';
import type { Location } from '../model/layout.js';

/** File contents by absolute-or-relative path as the store read them; a missing file has no entry. */
/** Make the files match the spec: what `init` and `node add` ask for. */
export interface ConvergeIntent {
  /** Reissue every stale leaf and kubeconfig (never a CA or the service-account key). */
  force: boolean;
  /** Entry names to reissue even though they exist and match. */
  renew: readonly string[];
  now: Date;
  /**
   * CAs whose key the settings keep in a PKCS#11 token, by entry name: the key as the token holds
   * it, or undefined when the token has no such object yet (the run creates it with the CA).
   */
  tokenCas?: ReadonlyMap<string, TokenCa>;
}

/** A CA key addressed in a token: how messages name it, and the key when the token has it. */
export interface TokenCa {
  label: string;
  key: TokenKey | undefined;
}

/** A CA as the decision sees it. */
interface CaState extends Authority {
  /** True when this run creates the CA: existing leaves under it cannot be reused. */
  fresh: boolean;
}

/** Where a certificate entry's `.crt` and `.key` are. */
export function certificatePaths(spec: CertSpec, location: Location): [crt: string, key: string] {
  const dir = spec.location === 'kubeletPki' ? location.kubeletPki : location.certDir;
  if (!dir) throw new Error(`${spec.name}: no kubelet pki directory in this location`);
  const prefix = path.join(dir, spec.file!);
  return [`${prefix}.crt`, `${prefix}.key`];
}

const keyPairPaths = (spec: KeyPairSpec, dir: string): [key: string, pub: string] => [
  path.join(dir, `${spec.file}.key`),
  path.join(dir, `${spec.file}.pub`),
];

/** Every file the decision reads, but those a kubeconfig refers to (see kubeconfigReferences). */
export function observedPaths(spec: PkiSpec, location: Location): string[] {
  const { shared } = location;
  return [
    ...spec.certificates.flatMap((c) => [
      ...certificatePaths(c, location),
      ...(shared && (c.isCA || shared.entries.includes(c.name)) ? certificatePaths(c, { ...location, certDir: shared.certDir }) : []),
    ]),
    ...spec.keyPairs.flatMap((k) => [...keyPairPaths(k, location.certDir), ...(shared ? keyPairPaths(k, shared.certDir) : [])]),
    ...[...spec.kubeconfigs, ...spec.manifests].map((e) => path.join(location.kubeconfigDir, e.file)),
  ];
}

/** Files the observed kubeconfigs name instead of embedding their credentials. */
export function kubeconfigReferences(spec: PkiSpec, location: Location, observed: Observed): string[] {
  return spec.kubeconfigs.flatMap((kc) => {
    const file = path.join(location.kubeconfigDir, kc.file);
    const data = observed.get(file);
    if (!data) return [];
    const creds = parseKubeconfig(data.toString('utf8'), file);
    return [creds.certificateAuthority, creds.clientCertificate, creds.clientKey].flatMap((s) =>
      s?.path ? [path.resolve(path.dirname(file), s.path)] : [],
    );
  });
}

/** A CA certificate needs its key in the token, and that key must be the certificate's. */
function checkTokenKey(
  inToken: TokenCa,
  certificate: x509.X509Certificate,
  crtPath: string,
): asserts inToken is TokenCa & { key: TokenKey } {
  if (!inToken.key) {
    throw new KpkiError(ErrorCode.BadInput, `${inToken.label}: no such key in the token, and ${crtPath} exists`, {
      subject: inToken.label,
      hint: 'check --ca-key-uri (token and object names) and --pkcs11-module; kpki makes a token key only together with a new CA certificate',
    });
  }
  if (!sameKeyPair(inToken.key.publicKey, publicKeyObject(certificate))) {
    throw new KpkiError(ErrorCode.BadInput, `${inToken.label}: the token's key does not match ${crtPath}`, {
      subject: inToken.label,
      hint: 'point --ca-key-uri at the key this CA certificate was made with; nothing was written',
    });
  }
}

type Decision = { action: 'create' | 'reissue' | 'reuse' | 'conflict' | 'external'; reasons: string[] };

function decideStale(reasons: string[], replace: boolean): Decision {
  return { action: replace ? 'reissue' : 'conflict', reasons };
}

/**
 * An existing leaf or kubeconfig: reused while it matches; reissued when stale and replaceable, or
 * whenever --renew names it (renewal before expiry, as `kubeadm certs renew`); only checked under
 * an external CA, which kpki cannot sign with.
 */
function decideExisting(reasons: string[], external: boolean, replace: boolean, renew: boolean): Decision {
  if (external) {
    if (renew && !reasons.length)
      return { action: 'conflict', reasons: ['--renew needs the CA key, and this CA is external: have the external CA sign a new one'] };
    return { action: reasons.length ? 'conflict' : 'external', reasons };
  }
  if (renew) return { action: 'reissue', reasons: reasons.length ? reasons : ['--renew asks for a new certificate'] };
  if (!reasons.length) return { action: 'reuse', reasons };
  return decideStale(reasons, replace);
}

/**
 * Decides, entry by entry, what a run does to make the observed files match the spec. Pure: it
 * reads only `observed`, writes nothing, and returns steps in the spec's order (CAs before what
 * they sign), which the renderer and the store carry out.
 */
export async function decide(spec: PkiSpec, location: Location, observed: Observed, intent: ConvergeIntent): Promise<Step[]> {
  const cas = new Map<string, CaState>();
  const wantsRenew = (name: string) => intent.renew.includes(name);
  const replaceable = (name: string) => intent.force || wantsRenew(name);
  const { shared } = location;
  const read = (file: string) => observed.get(file);
  const readCertAndKey = ([crtPath, keyPath]: [string, string]) => {
    const [crt, key] = [read(crtPath), read(keyPath)];
    return { cert: crt && parseCertificate(crt, crtPath), key: key && parseKey(key, keyPath) };
  };

  /**
   * A CA, the service-account key or a shared leaf taken from the cluster's shared directory: copied when
   * missing, reused when identical, refused when the node holds a different one (a leaf is replaced
   * when the user asked, e.g. after renewing it in the shared directory).
   */
  const sharedCopy = (
    base: Omit<Step, 'action' | 'reasons'>,
    nodeFiles: { public: string; key: string },
    sourceFiles: { public: string; key: string },
    name: string,
    options: { ca?: CertSpec; replace: boolean; publicMode: number },
  ): Step => {
    const publicData = read(sourceFiles.public);
    const keyData = read(sourceFiles.key);
    if (!publicData) {
      throw new KpkiError(ErrorCode.MissingFile, `${sourceFiles.public}: the cluster's ${name} is missing`, {
        subject: sourceFiles.public,
        hint: 'create the shared PKI first (kpki init with --control-plane-nodes)',
      });
    }
    if (options.ca) {
      const certificate = parseCertificate(publicData, sourceFiles.public);
      const inToken = intent.tokenCas?.get(name);
      if (inToken) checkTokenKey(inToken, certificate, sourceFiles.public);
      cas.set(name, { certificate, key: inToken?.key ?? (keyData && parseKey(keyData, sourceFiles.key)), fresh: false });
      const nodeCert = read(nodeFiles.public);
      if (nodeCert && !sameAuthority(parseCertificate(nodeCert, nodeFiles.public), certificate)) {
        return { ...base, action: 'conflict', reasons: [`${nodeFiles.public} is not the cluster's ${name} (${sourceFiles.public})`] };
      }
    }
    const copies: FileWrite[] = [];
    const wanted: [string, Buffer | undefined, number][] = [
      [nodeFiles.key, shared!.keys.includes(name) ? keyData : undefined, 0o600],
      [nodeFiles.public, publicData, options.publicMode],
    ];
    for (const [target, data, mode] of wanted) {
      if (!data) continue;
      const current = read(target);
      if (current === undefined || (options.replace && !current.equals(data))) copies.push({ path: target, data, mode });
      else if (!current.equals(data) && (!options.ca || target === nodeFiles.key)) {
        return {
          ...base,
          action: 'conflict',
          reasons: [`${target} differs from the cluster's ${sourceFiles.public.replace(/\.pub$/, '')}`],
        };
      }
    }
    if (!copies.length) return { ...base, action: 'reuse', reasons: [] };
    return { ...base, files: copies.map((c) => c.path), action: 'copy', reasons: [], copies };
  };

  const decideCa = (cert: CertSpec): Step => {
    const files = certificatePaths(cert, location);
    const base = { ...certificateItem(cert, 'ca', files), spec: cert };
    if (shared) {
      const source = certificatePaths(cert, { ...location, certDir: shared.certDir });
      return sharedCopy(base, { public: files[0], key: files[1] }, { public: source[0], key: source[1] }, cert.name, {
        ca: cert,
        replace: false,
        publicMode: 0o644,
      });
    }
    const existing = readCertAndKey(files);
    const [crtName, keyName] = files.map((f) => path.basename(f));
    const inToken = intent.tokenCas?.get(cert.name);
    if (inToken) return decideTokenCa(cert, base, inToken, existing, files);
    const { cert: current, key } = existing;
    const refuse = (reasons: string[]): Step => {
      cas.set(cert.name, { certificate: current, key, fresh: false });
      return { ...base, action: 'conflict', reasons };
    };
    if (wantsRenew(cert.name)) {
      return refuse([
        'kpki never replaces a CA: every certificate it signed would stop working; remove its files yourself if you really mean to',
      ]);
    }
    if (!current && !key) {
      cas.set(cert.name, { certificate: undefined, key: undefined, fresh: true });
      return { ...base, action: 'create', reasons: [] };
    }
    if (!current) {
      // The certificate alone is gone: certify the key again, keeping it, so what it signed stays valid.
      cas.set(cert.name, { certificate: undefined, key, fresh: false });
      return { ...base, action: 'complete', reasons: [`${keyName} exists without its certificate`], existingKey: key! };
    }
    const reasons = notCaReasons(certificateFacts(current));
    if (current.notAfter <= intent.now) reasons.push(`expired on ${current.notAfter.toISOString()}`);
    if (key && !sameKeyPair(key, publicKeyObject(current))) reasons.push(`${keyName} does not match ${crtName}`);
    if (reasons.length) return refuse(reasons);
    cas.set(cert.name, { certificate: current, key, fresh: false });
    if (!key) return { ...base, action: 'external', reasons: [`${keyName} is absent: external CA, leaves are checked, not issued`] };
    return { ...base, action: 'reuse', reasons: [] };
  };

  /**
   * A CA whose key the token holds: created with a new token key, completed when the token has the
   * key but the certificate is gone, reused when they match. A key file beside it, or a token key
   * that is not ca.crt's, is refused before anything is written.
   */
  const decideTokenCa = (
    cert: CertSpec,
    base: Omit<Step, 'action' | 'reasons'>,
    inToken: TokenCa,
    existing: { cert?: x509.X509Certificate; key?: KeyObject },
    files: [string, string],
  ): Step => {
    const [crtPath, keyPath] = files;
    if (existing.key) {
      throw new KpkiError(ErrorCode.BadInput, `${keyPath}: ${cert.name}'s key is to be in ${inToken.label}, but this file holds one`, {
        subject: keyPath,
        hint: 'move the file away (kpki never imports a key file into a token), or leave out --ca-key-uri for this CA',
      });
    }
    const current = existing.cert;
    if (!current) {
      cas.set(cert.name, { certificate: undefined, key: inToken.key, fresh: !inToken.key });
      if (!inToken.key) return { ...base, action: 'create', reasons: [] };
      return {
        ...base,
        action: 'complete',
        reasons: [`${inToken.label} holds the key, ${path.basename(crtPath)} is missing`],
        existingKey: inToken.key,
      };
    }
    checkTokenKey(inToken, current, crtPath);
    cas.set(cert.name, { certificate: current, key: inToken.key, fresh: false });
    const reasons = notCaReasons(certificateFacts(current));
    if (current.notAfter <= intent.now) reasons.push(`expired on ${current.notAfter.toISOString()}`);
    return { ...base, action: reasons.length ? 'conflict' : 'reuse', reasons };
  };

  /** Why a certificate signed by `ca` does not fit `spec`; checked against the CA's key when its certificate is being remade. */
  const mismatches = async (current: x509.X509Certificate, spec: CertSpec, ca: CaState, key: KeyObject | undefined): Promise<string[]> => {
    if (ca.fresh) return [`was signed by a previous ${spec.issuer}, which is being created anew`];
    const reasons = await certificateMismatches(current, spec, { issuer: ca.certificate, key, now: intent.now });
    if (!ca.certificate && ca.key && !signedByKey(current, ca.key)) reasons.push(`is not signed by the current ${spec.issuer}`);
    return reasons;
  };

  const decideLeaf = async (cert: CertSpec): Promise<Step> => {
    const files = certificatePaths(cert, location);
    const base = { ...certificateItem(cert, 'certificate', files), spec: cert };
    if (shared?.entries.includes(cert.name)) {
      const source = certificatePaths(cert, { ...location, certDir: shared.certDir });
      return sharedCopy(base, { public: files[0], key: files[1] }, { public: source[0], key: source[1] }, cert.name, {
        replace: replaceable(cert.name),
        publicMode: 0o644,
      });
    }
    const { cert: current, key } = readCertAndKey(files);
    const ca = cas.get(cert.issuer!)!;
    const external = ca.certificate !== undefined && ca.key === undefined;
    const [crtName, keyName] = files.map((f) => path.basename(f));
    if (!current) {
      if (external)
        return {
          ...base,
          action: 'conflict',
          reasons: [`${crtName} is missing and ${cert.issuer} is an external CA (no key): have it signed by that CA`],
        };
      if (key) return { ...base, action: 'complete', reasons: [`${keyName} exists without its certificate`], existingKey: key };
      return { ...base, action: 'create', reasons: [] };
    }
    const reasons = await mismatches(current, cert, ca, key);
    if (!key) reasons.push(`${keyName} is missing`);
    const decision = decideExisting(reasons, external, replaceable(cert.name), wantsRenew(cert.name));
    // A reissue signs a matching key of the wanted type again, as `kubeadm certs renew` does:
    // only the certificate file changes, so a reader of the pair never sees a mismatch.
    const keep =
      decision.action === 'reissue' &&
      key &&
      sameKeyPair(key, publicKeyObject(current)) &&
      keyTypeOf(publicKeyObject(current)) === cert.keyType;
    return { ...base, ...decision, ...(keep ? { existingKey: key } : {}) };
  };

  const decideKeyPair = (pair: KeyPairSpec): Step => {
    const [keyPath, pubPath] = keyPairPaths(pair, location.certDir);
    const base = { kind: 'key-pair' as const, name: pair.name, files: [keyPath, pubPath], keyType: pair.keyType, spec: pair };
    if (shared) {
      const [sourceKey, sourcePub] = keyPairPaths(pair, shared.certDir);
      return sharedCopy(base, { public: pubPath, key: keyPath }, { public: sourcePub, key: sourceKey }, pair.name, {
        replace: false,
        publicMode: 0o600,
      });
    }
    // Rotating the signing key invalidates every issued token; only an explicit --renew does it.
    if (wantsRenew(pair.name)) return { ...base, action: 'reissue', reasons: ['--renew asks for a new key pair'] };
    const keyData = read(keyPath);
    const pubData = read(pubPath);
    const [keyName, pubName] = [path.basename(keyPath), path.basename(pubPath)];
    if (!keyData) {
      if (pubData !== undefined)
        return { ...base, action: 'conflict', reasons: [`${pubName} exists without ${keyName}: restore the key or remove the public key`] };
      return { ...base, action: 'create', reasons: [] };
    }
    const key = parseKey(keyData, keyPath);
    if (pubData === undefined) return { ...base, action: 'complete', reasons: [`${pubName} is missing`], existingKey: key };
    let pub: KeyObject;
    try {
      pub = parsePublicKey(pubData);
    } catch {
      return { ...base, action: 'conflict', reasons: [`${pubName} is not a PEM public key: remove it to derive it from ${keyName}`] };
    }
    if (!sameKeyPair(key, pub))
      return {
        ...base,
        action: 'conflict',
        reasons: [`${pubName} does not match ${keyName}: tokens would fail; remove it to derive it again`],
      };
    return { ...base, action: 'reuse', reasons: [] };
  };

  const decideKubeconfig = async (spec: KubeconfigSpec): Promise<Step> => {
    const file = path.join(location.kubeconfigDir, spec.file);
    const base = { ...certificateItem(spec.client, 'kubeconfig', [file]), spec };
    const ca = cas.get(spec.client.issuer!)!;
    const external = ca.certificate !== undefined && ca.key === undefined;
    const data = read(file);
    if (data === undefined) {
      if (external)
        return {
          ...base,
          action: 'conflict',
          reasons: [`${spec.file} is missing and ${spec.client.issuer} is an external CA: create it with a certificate from that CA`],
        };
      return { ...base, action: 'create', reasons: [] };
    }
    const creds = parseKubeconfig(data.toString('utf8'), file);
    const reasons = await kubeconfigMismatches(
      creds,
      spec,
      ca,
      (source) => source?.data ?? (source?.path ? read(path.resolve(path.dirname(file), source.path)) : undefined),
    );
    return { ...base, ...decideExisting(reasons, external, replaceable(spec.name), wantsRenew(spec.name)) };
  };

  const kubeconfigMismatches = async (
    creds: KubeconfigCredentials,
    spec: KubeconfigSpec,
    ca: CaState,
    load: (source: KubeconfigCredentials['clientCertificate']) => Buffer | undefined,
  ): Promise<string[]> => {
    const reasons: string[] = [];
    if (ca.fresh) reasons.push(`its credentials come from a previous ${spec.client.issuer}, which is being created anew`);
    else {
      const caData = load(creds.certificateAuthority);
      const embeddedCa = caData && parseCertificates(caData, creds.certificateAuthority!.origin);
      const current = ca.certificate;
      const trusted = current
        ? embeddedCa?.some((c) => sameAuthority(c, current))
        : embeddedCa?.some((c) => ca.key && sameKeyPair(publicHalf(ca.key), publicKeyObject(c)));
      if (!trusted) reasons.push(`its certificate-authority-data is not the current ${spec.client.issuer}`);
      const [certData, keyData] = [load(creds.clientCertificate), load(creds.clientKey)];
      if (!certData || !keyData) reasons.push('has no client certificate and key');
      else
        reasons.push(
          ...(await mismatches(
            parseCertificate(certData, creds.clientCertificate!.origin),
            spec.client,
            ca,
            parseKey(keyData, creds.clientKey!.origin),
          )),
        );
    }
    if (creds.server !== spec.server) reasons.push(`server is ${creds.server}, want ${spec.server}`);
    if (creds.clusterName !== spec.clusterName) reasons.push(`cluster is "${creds.clusterName}", want "${spec.clusterName}"`);
    return reasons;
  };

  const decideManifest = (manifest: ManifestSpec): Step => {
    const file = path.join(location.kubeconfigDir, manifest.file);
    const current = read(file);
    const item = { kind: 'manifest' as const, name: manifest.name, files: [file], spec: manifest };
    if (current === undefined) return { ...item, action: 'create', reasons: [] };
    if (current.toString('utf8') === manifest.content) return { ...item, action: 'reuse', reasons: [] };
    return { ...item, ...decideStale(['content differs from the profile'], replaceable(manifest.name)) };
  };

  // CAs first, in profile order (leaves read their CA's state); then every other entry.
  const caSteps = new Map(
    spec.certificates
      .filter((c) => c.isCA)
      .map((c): [CertSpec, Step] => {
        const step = decideCa(c);
        const { certificate, key } = cas.get(c.name)!;
        return [c, { ...step, authority: { certificate, key } }];
      }),
  );
  return Promise.all([
    ...spec.certificates.map((cert) => caSteps.get(cert) ?? decideLeaf(cert)),
    ...spec.keyPairs.map(decideKeyPair),
    ...spec.kubeconfigs.map(decideKubeconfig),
    ...spec.manifests.map(decideManifest),
  ]);
}

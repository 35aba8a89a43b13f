import type { FileWrite } from '../model/files.js';
import path from 'node:path';
import { ErrorCode, KpkiError } from '../errors.js';
import { buildKubeconfig, setKubeconfigData } from '../kubeconfig/kubeconfig.js';
import { certificatePem, issueCertificate } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { generateKeyPair, privateKeyPem, publicKeyOf, publicKeyPem, type KeyObject, type KeyPair } from '../pki/keys.js';
import type { CertSpec, KubeconfigSpec, ManifestSpec } from '../model/spec.js';
import { createCsrPem } from '../pki/csr.js';
import { isTokenKey, publicHalf, type SigningKey, type TokenKey } from '../pki/signing-key.js';
import { outlivesCa } from '../model/validity.js';
import type { KeyType } from '../pki/key-types.js';
import { writes, type Day2Step, type MadeMaterial, type RenewStep, type Step } from './steps.js';

export interface RenderOptions {
  now: Date;
  /** CAs that sign without a step of their own (a renewal's), by entry name. */
  signers?: ReadonlyMap<string, Signer>;
  /** Called as each key is ready. */
  onKey?: (done: number, total: number) => void;
  /**
   * Makes the key of a CA this run creates where the settings keep it (a PKCS#11 token); undefined
   * for a CA whose key is a file. The key is made in the token, never written.
   */
  makeCaKey?: (name: string, keyType: KeyType) => Promise<TokenKey> | undefined;
  signal?: AbortSignal;
}

const MODE_PRIVATE = 0o600;
const MODE_PUBLIC = 0o644;

export function interruptedError(): KpkiError {
  return new KpkiError(ErrorCode.Interrupted, 'interrupted; every file written so far is complete', {
    hint: 'run the same command again to finish',
  });
}

const needsNewKey = (step: Step) =>
  (step.action === 'create' && step.kind !== 'manifest') ||
  (step.action === 'reissue' && step.kind !== 'manifest' && !step.existingKey) ||
  step.action === 'csr' ||
  (step.action === 'renew' && !step.keptKey);

/** The CA an entry is signed by, when it needs one. */
function issuerOf(step: Step): string | undefined {
  if (step.action === 'renew') return step.spec.issuer;
  if (step.action === 'csr' || step.action === 'copy') return undefined;
  if (step.kind === 'certificate') return (step.spec as CertSpec).issuer;
  if (step.kind === 'kubeconfig') return (step.spec as KubeconfigSpec).client.issuer;
  return undefined;
}

export interface Signer {
  certificate: x509.X509Certificate;
  /** A key in memory or in a PKCS#11 token. */
  key: SigningKey;
  /** What a renewed kubeconfig trusts: the CA's whole trust file (two certificates during a rotation). */
  trust?: x509.X509Certificate[];
}

/** What rendering a step made. */
export interface Rendered {
  step: Step;
  files: FileWrite[];
  /** The certificate it issued, if any. */
  issued?: x509.X509Certificate;
}

/** Builds the bytes of one step, signing with `signer` (its CA, ready). Returns the CA's new material for a CA. */
/** A key this run made: a file's pair, or a CA's key in a token (which is never written). */
type FreshKey = KeyPair | { keyType: KeyType; privateKey: TokenKey; publicKey: KeyPair['publicKey'] };

async function renderStep(
  step: Step,
  fresh: FreshKey | undefined,
  signer: Signer | undefined,
  now: Date,
  followed: (step: RenewStep) => Promise<Rendered>,
): Promise<Rendered & { made?: Signer }> {
  if (step.action === 'copy') {
    if (!('follows' in step)) return { step, files: step.copies };
    const source = await followed(step.follows);
    const files = step.pairs.map(({ from, to }) => ({ ...source.files.find((f) => f.path === from)!, path: to }));
    return { step, issued: source.issued, files };
  }
  if (step.action === 'csr') {
    const [keyPath, csrPath] = step.files as [string, string];
    const pair = fresh as KeyPair;
    const csr = await createCsrPem(pair, step.spec.commonName, step.spec.organizations, step.spec);
    return {
      step,
      files: [
        { path: keyPath, data: privateKeyPem(pair.privateKey), mode: MODE_PRIVATE },
        { path: csrPath, data: csr, mode: MODE_PUBLIC },
      ],
    };
  }
  if (step.action === 'renew') return renderRenewal(step, fresh as KeyPair | undefined, signer!, now);
  const privateKey: SigningKey =
    fresh?.privateKey ?? (step.action === 'complete' || step.action === 'reissue' ? step.existingKey : undefined)!;
  const keyWrite = (file: string): FileWrite[] =>
    fresh && !isTokenKey(fresh.privateKey) ? [{ path: file, data: privateKeyPem(fresh.privateKey), mode: MODE_PRIVATE }] : [];
  switch (step.kind) {
    case 'ca':
    case 'certificate': {
      const spec = step.spec as CertSpec;
      const [crtPath, keyPath] = step.files as [string, string];
      const certificate = await issueCertificate({
        spec,
        publicKey: fresh?.publicKey ?? publicHalf(privateKey),
        issuer: spec.isCA ? { key: privateKey, certificate: undefined } : { key: signer!.key, certificate: signer!.certificate },
        now,
      });
      const files = [...keyWrite(keyPath), { path: crtPath, data: certificatePem(certificate), mode: MODE_PUBLIC }];
      return { step, files, issued: certificate, made: spec.isCA ? { certificate, key: privateKey } : undefined };
    }
    case 'key-pair': {
      const [keyPath, pubPath] = step.files as [string, string];
      // kubeadm writes sa.pub with its key writer: 0600.
      return { step, files: [...keyWrite(keyPath), { path: pubPath, data: publicKeyPem(publicHalf(privateKey)), mode: MODE_PRIVATE }] };
    }
    case 'kubeconfig': {
      const spec = step.spec as KubeconfigSpec;
      const pair = fresh as KeyPair;
      const cert = await issueCertificate({
        spec: spec.client,
        publicKey: pair.publicKey,
        issuer: { key: signer!.key, certificate: signer!.certificate },
        now,
      });
      const data = buildKubeconfig({
        clusterName: spec.clusterName,
        server: spec.server,
        userName: spec.userName,
        contextName: spec.contextName,
        ca: { pem: certificatePem(signer!.certificate) },
        cert: { pem: certificatePem(cert) },
        key: { pem: privateKeyPem(pair.privateKey) },
      });
      return { step, issued: cert, files: [{ path: step.files[0]!, data, mode: MODE_PRIVATE }] };
    }
    case 'manifest':
      return { step, files: [{ path: step.files[0]!, data: (step.spec as ManifestSpec).content, mode: MODE_PUBLIC }] };
  }
}

/** A renewal: the same subject signed again; a kubeconfig keeps its text but for its credentials and CA data. */
async function renderRenewal(step: RenewStep, fresh: KeyPair | undefined, signer: Signer, now: Date): Promise<Rendered> {
  const pair = fresh ?? { keyType: step.spec.keyType, privateKey: step.keptKey!, publicKey: publicKeyOf(step.keptKey!) };
  const issued = await issueCertificate({
    spec: step.spec,
    publicKey: pair.publicKey,
    issuer: { key: signer.key, certificate: signer.certificate },
    now,
  });
  const certPem = certificatePem(issued);
  const keyPem = fresh && privateKeyPem(fresh.privateKey);
  if (step.kind === 'kubeconfig') {
    const ca = (signer.trust ?? [signer.certificate]).map(certificatePem).join('');
    const text = setKubeconfigData(step.kubeconfig!, step.files[0]!, { ca, cert: certPem, key: keyPem });
    return { step, issued, files: [{ path: step.files[0]!, data: text, mode: MODE_PRIVATE }] };
  }
  const [crtPath, keyPath] = step.files as [string, string | undefined];
  return {
    step,
    issued,
    files: [...(keyPem ? [{ path: keyPath!, data: keyPem, mode: MODE_PRIVATE }] : []), { path: crtPath, data: certPem, mode: MODE_PUBLIC }],
  };
}

/**
 * Turns decided steps into the files they write. Key generation is nearly all of the cost, so
 * signing overlaps it: every key is asked for at once, CA keys first so that they are ready
 * first, and each certificate is signed as soon as its key and its CA are ready, while later keys
 * are still being generated. The steps are not changed.
 */
export async function renderSteps(steps: Step[], options: RenderOptions): Promise<Rendered[]> {
  if (options.signal?.aborted) throw interruptedError();
  const changing = steps.filter(writes);
  const ordered = [...changing.filter((s) => s.kind === 'ca'), ...changing.filter((s) => s.kind !== 'ca')];
  const wanted = ordered.filter(needsNewKey);
  const followed = (step: RenewStep) => rendered[ordered.indexOf(step)]!;
  let keysDone = 0;
  options.onKey?.(keysDone, wanted.length);
  const keys = new Map(
    wanted.map((step) => {
      // Renewals and CSRs carry the certificate's own spec, also for a kubeconfig.
      const keyType =
        step.kind === 'kubeconfig' && step.action !== 'renew' && step.action !== 'csr'
          ? (step.spec as KubeconfigSpec).client.keyType
          : (step.spec as CertSpec).keyType;
      const inToken = step.kind === 'ca' ? options.makeCaKey?.(step.name, keyType) : undefined;
      const made: Promise<FreshKey> = inToken
        ? inToken.then((key) => ({ keyType, privateKey: key, publicKey: key.publicKey }))
        : generateKeyPair(keyType);
      return [step, made.then((pair) => (options.onKey?.(++keysDone, wanted.length), pair))] as const;
    }),
  );
  // Each CA's signing material: as it exists, or once this run has made it.
  const signers = new Map<string, Promise<Signer | undefined>>(
    [...(options.signers ?? [])].map(([name, signer]) => [name, Promise.resolve(signer)]),
  );
  for (const step of steps.filter((s) => s.kind === 'ca')) {
    const { certificate, key } = step.authority ?? {};
    signers.set(step.name, Promise.resolve(certificate && key ? { certificate, key } : undefined));
  }
  const rendered: Promise<Rendered & { made?: Signer }>[] = ordered.map((step) => {
    const issuer = issuerOf(step);
    const rendering = (async () =>
      renderStep(step, await keys.get(step), issuer ? await signers.get(issuer) : undefined, options.now, followed))();
    // A copied CA signs with what the shared set holds; a created or completed one with what it made.
    if (step.kind === 'ca' && step.action !== 'copy')
      signers.set(
        step.name,
        rendering.then((r) => r.made),
      );
    // Awaited below; after an interrupt, nobody is left to.
    rendering.catch(() => {});
    return rendering;
  });
  // RSA-4096 sets take seconds: an interrupt must not wait for them.
  const interrupted = new Promise<never>((_, reject) => {
    if (options.signal?.aborted) reject(interruptedError());
    options.signal?.addEventListener('abort', () => reject(interruptedError()), { once: true });
  });
  return Promise.race([Promise.all(rendered), interrupted]);
}

/**
 * The leaves a run signed that were cut at their CA's expiry (issuing never lets a leaf outlive
 * its CA): each asked for a lifetime past the CA's, which kubeadm warns of.
 */
export function cutAtCaExpiry(rendered: Rendered[], now: Date): string[] {
  return rendered.flatMap(({ step, issued }) => {
    const spec = step.kind === 'kubeconfig' && step.action !== 'renew' ? (step.spec as KubeconfigSpec).client : (step.spec as CertSpec);
    if (!issued || spec.isCA) return [];
    const wanted = new Date(Math.floor(now.getTime() / 1000) * 1000 + spec.validity * 1000);
    return issued.notAfter < wanted ? [outlivesCa(step.name, spec.issuer ?? 'ca', wanted, issued.notAfter)] : [];
  });
}

/** One leaf outside a plan (`kpki cert`, `kpki kubeconfig`): a new key, signed by the CA's Signer. */
export async function renderLeaf(spec: CertSpec, signer: Signer, now: Date): Promise<{ certificate: x509.X509Certificate; pair: KeyPair }> {
  const pair = await generateKeyPair(spec.keyType);
  const certificate = await issueCertificate({
    spec,
    publicKey: pair.publicKey,
    issuer: { key: signer.key, certificate: signer.certificate },
    now,
  });
  return { certificate, pair };
}

/** A new key and a request for a CA to sign it, outside a plan (`kpki kubeconfig --csr-only`). */
export async function renderCsr(keyType: KeyType, commonName: string, organizations: string[]): Promise<{ pair: KeyPair; csr: string }> {
  const pair = await generateKeyPair(keyType);
  return { pair, csr: await createCsrPem(pair, commonName, organizations) };
}

/** A CA of its own outside a plan (an extension apiserver's): a new key that signs its own certificate. */
export async function renderSelfSignedCa(spec: CertSpec, now: Date): Promise<Signer & { key: KeyObject }> {
  const pair = await generateKeyPair(spec.keyType);
  const certificate = await issueCertificate({
    spec,
    publicKey: pair.publicKey,
    issuer: { key: pair.privateKey, certificate: undefined },
    now,
  });
  return { certificate, key: pair.privateKey };
}

export interface Day2RenderOptions {
  /** Makes a CA key in a token at a URI (a rotation's incoming key in a token); never written. */
  makeTokenKey?: (uri: string, keyType: KeyType) => Promise<TokenKey>;
  /** A dry run makes a token CA's key in memory (and writes nothing): the token is left as it is. */
  dryRun?: boolean;
}

/** A new CA's key: in memory, or made in the token its step names. */
async function newCaKey(step: Extract<Day2Step, { action: 'new-ca' }>, options: Day2RenderOptions): Promise<FreshKey> {
  if (!step.tokenUri || options.dryRun) return generateKeyPair(step.spec.keyType);
  if (!options.makeTokenKey) throw new Error(`${step.name}: a key in a token to be made, and no token open`);
  const key = await options.makeTokenKey(step.tokenUri, step.spec.keyType);
  return { keyType: step.spec.keyType, privateKey: key, publicKey: key.publicKey };
}

/**
 * Renders a CA renewal's or a rotation phase's steps into files, in order: the CAs and keys it
 * makes first become material the trust edits after them are made of. A recertified CA is
 * signed by its own key through the same Signer every other signature goes through.
 */
export async function renderDay2Steps(
  steps: Day2Step[],
  now: Date,
  options: Day2RenderOptions = {},
): Promise<{ files: FileWrite[]; made: MadeMaterial }> {
  const cas = new Map<string, Signer>();
  const keys = new Map<string, KeyObject>();
  const files: FileWrite[] = [];
  for (const step of steps) {
    switch (step.action) {
      case 'new-ca': {
        const fresh = await newCaKey(step, options);
        const certificate = await issueCertificate({
          spec: step.spec,
          publicKey: fresh.publicKey,
          issuer: { key: fresh.privateKey, certificate: undefined },
          now,
          keep: { subject: step.keepSubject, subjectKeyId: undefined },
        });
        cas.set(step.name, { certificate, key: fresh.privateKey });
        const [crt, key] = step.files;
        files.push(
          { path: crt, data: certificatePem(certificate), mode: MODE_PUBLIC },
          step.tokenUri
            ? { path: key, data: `${step.tokenUri}\n`, mode: MODE_PUBLIC }
            : { path: key, data: privateKeyPem(fresh.privateKey as KeyObject), mode: MODE_PRIVATE },
        );
        break;
      }
      case 'recertified-ca': {
        const signer: Signer = step.ca;
        const certificate = await issueCertificate({
          spec: step.spec,
          publicKey: publicHalf(signer.key),
          issuer: { key: signer.key, certificate: undefined },
          now,
          keep: { subject: signer.certificate.subjectName, subjectKeyId: step.subjectKeyId },
        });
        cas.set(step.name, { certificate, key: signer.key });
        break;
      }
      case 'new-key': {
        const fresh = await generateKeyPair(step.keyType);
        keys.set(step.name, fresh.privateKey);
        files.push({ path: step.file, data: privateKeyPem(fresh.privateKey), mode: MODE_PRIVATE });
        break;
      }
      case 'trust-edit':
        files.push(...step.edit({ cas, keys }));
        break;
      case 'renew':
        files.push(...(await renderSteps(step.steps, { now, signers: step.signers })).flatMap((r) => r.files));
        break;
      case 'write':
      case 'record':
        files.push(step.write);
    }
  }
  // A later file of the same path replaces an earlier one (a kubeconfig's trust, then its renewal), where the first stood.
  const merged = [...new Map(files.map((f) => [path.resolve(f.path), f])).values()];
  return { files: merged, made: { cas, keys } };
}

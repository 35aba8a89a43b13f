import { createPublicKey } from 'node:crypto';
import { ErrorCode, KpkiError } from '../errors.js';
import { buildKubeconfig } from '../kubeconfig/kubeconfig.js';
import { certificatePem, issueCertificate } from '../pki/certificate.js';
import { generateKeyPair, privateKeyPem, publicKeyPem, type KeyPair } from '../pki/keys.js';
import type { CertSpec, KubeconfigSpec, ManifestSpec } from '../model/plan.js';
import { writeFilesTogether, type FileWrite } from '../store/journal.js';
import type { InitPlan, Step } from './plan.js';

export interface Progress {
  phase: 'keys' | 'write';
  done: number;
  total: number;
}

export interface ExecuteOptions {
  now: Date;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Where the journal goes: the locked directory. */
  journalDir: string;
}

const MODE_PRIVATE = 0o600;
const MODE_PUBLIC = 0o644;

const needsNewKey = (step: Step) => (step.action === 'create' || step.action === 'reissue') && step.kind !== 'manifest';

function interruptedError(): KpkiError {
  return new KpkiError(ErrorCode.Interrupted, 'interrupted; every file written so far is complete', {
    hint: 'run the same command again to finish',
  });
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruptedError();
}

/** The CA an entry is signed by, when it needs one. */
function issuerOf(step: Step): string | undefined {
  if (step.kind === 'certificate') return (step.spec as CertSpec).issuer;
  if (step.kind === 'kubeconfig') return (step.spec as KubeconfigSpec).client.issuer;
  return undefined;
}

/** Asks for every key the steps need at once, in their order; each arrives as it is ready. */
function generateKeys(steps: Step[], options: ExecuteOptions): Map<Step, Promise<KeyPair>> {
  const wanted = steps.filter(needsNewKey);
  let done = 0;
  options.onProgress?.({ phase: 'keys', done, total: wanted.length });
  return new Map(
    wanted.map((step) => {
      const keyType = step.kind === 'kubeconfig' ? (step.spec as KubeconfigSpec).client.keyType : (step.spec as CertSpec).keyType;
      const pair = generateKeyPair(keyType).then((generated) => {
        options.onProgress?.({ phase: 'keys', done: ++done, total: wanted.length });
        return generated;
      });
      return [step, pair];
    }),
  );
}

/** Builds the bytes of one entry; CAs update the plan so that later entries sign with them. */
async function render(step: Step, plan: InitPlan, fresh: KeyPair | undefined, now: Date): Promise<FileWrite[]> {
  if (step.action === 'copy') return step.copies!;
  const privateKey = fresh?.privateKey ?? step.existingKey!;
  const keyWrite = (file: string): FileWrite[] => (fresh ? [{ path: file, data: privateKeyPem(fresh.privateKey), mode: MODE_PRIVATE }] : []);
  switch (step.kind) {
    case 'ca':
    case 'certificate': {
      const spec = step.spec as CertSpec;
      const [crtPath, keyPath] = step.files as [string, string];
      const ca = plan.cas.get(spec.issuer ?? spec.name)!;
      // A CA completed from an existing key already got its certificate while planning.
      const cert =
        step.kind === 'ca' && step.action === 'complete'
          ? ca.certificate!
          : await issueCertificate({
              spec,
              publicKey: fresh?.publicKey ?? createPublicKey(privateKey),
              issuer: spec.isCA ? { key: privateKey, certificate: undefined } : { key: ca.key!, certificate: ca.certificate },
              now,
            });
      if (spec.isCA) plan.cas.set(spec.name, { certificate: cert, key: privateKey, fresh: true });
      return [...keyWrite(keyPath), { path: crtPath, data: certificatePem(cert), mode: MODE_PUBLIC }];
    }
    case 'key-pair': {
      const [keyPath, pubPath] = step.files as [string, string];
      // kubeadm writes sa.pub with its key writer: 0600.
      return [...keyWrite(keyPath), { path: pubPath, data: publicKeyPem(createPublicKey(privateKey)), mode: MODE_PRIVATE }];
    }
    case 'kubeconfig': {
      const spec = step.spec as KubeconfigSpec;
      const ca = plan.cas.get(spec.client.issuer!)!;
      const cert = await issueCertificate({
        spec: spec.client,
        publicKey: fresh!.publicKey,
        issuer: { key: ca.key!, certificate: ca.certificate },
        now,
      });
      const data = buildKubeconfig({
        clusterName: spec.clusterName,
        server: spec.server,
        userName: spec.userName,
        contextName: spec.contextName,
        ca: { pem: certificatePem(ca.certificate!) },
        cert: { pem: certificatePem(cert) },
        key: { pem: privateKeyPem(fresh!.privateKey) },
      });
      return [{ path: step.files[0]!, data, mode: MODE_PRIVATE }];
    }
    case 'manifest':
      return [{ path: step.files[0]!, data: (step.spec as ManifestSpec).content, mode: MODE_PUBLIC }];
  }
}

/**
 * Carries out a plan. Key generation is nearly all of its cost, so signing overlaps it: every key
 * is asked for at once, CA keys first so that they are ready first, and each certificate is signed
 * as soon as its key and its CA are ready, while later keys are still being generated. Every file
 * is then written as one journaled unit (store/journal.ts): a killed run leaves the old files, or
 * a journal the next run completes, never a key beside a certificate it does not match.
 */
export async function executePlan(plan: InitPlan, options: ExecuteOptions): Promise<void> {
  checkAborted(options.signal);
  const changing = plan.steps.filter((s) => s.action !== 'reuse' && s.action !== 'external');
  const cas = changing.filter((s) => s.kind === 'ca');
  const ordered = [...cas, ...changing.filter((s) => s.kind !== 'ca')];
  const keys = generateKeys(ordered, options);
  const rendered = new Map<Step, Promise<FileWrite[]>>();
  const renderWhenReady = async (step: Step): Promise<FileWrite[]> => {
    const fresh = await keys.get(step);
    const issuer = cas.find((ca) => ca.name === issuerOf(step));
    // A CA's rendering records the key and certificate its leaves are signed with.
    if (issuer) await rendered.get(issuer);
    return render(step, plan, fresh, options.now);
  };
  for (const step of ordered) {
    const rendering = renderWhenReady(step);
    // Awaited below; after an interrupt, nobody is left to.
    rendering.catch(() => {});
    rendered.set(step, rendering);
  }
  // RSA-4096 sets take seconds: an interrupt must not wait for them.
  const interrupted = new Promise<never>((_, reject) => {
    if (options.signal?.aborted) reject(interruptedError());
    options.signal?.addEventListener('abort', () => reject(interruptedError()), { once: true });
  });
  const writes = (await Promise.race([Promise.all(rendered.values()), interrupted])).flat();
  let done = 0;
  await writeFilesTogether(options.journalDir, writes, {
    abort: { signal: options.signal, error: interruptedError },
    onStaged: () => options.onProgress?.({ phase: 'write', done: ++done, total: writes.length }),
  });
}

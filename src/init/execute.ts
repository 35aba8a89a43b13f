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

/** The files of one entry, written in this order: each key before the certificate naming it. */
interface EntryWrites {
  step: Step;
  writes: FileWrite[];
}

const needsNewKey = (step: Step) => (step.action === 'create' || step.action === 'reissue') && step.kind !== 'manifest';

function interruptedError(): KpkiError {
  return new KpkiError(ErrorCode.Interrupted, 'interrupted; every file written so far is complete', {
    hint: 'run the same command again to finish',
  });
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruptedError();
}

/** Generates every key the plan needs at once: the thread pool spreads them over all cores. */
async function generateKeys(steps: Step[], options: ExecuteOptions): Promise<Map<Step, KeyPair>> {
  checkAborted(options.signal);
  const wanted = steps.filter(needsNewKey);
  let done = 0;
  options.onProgress?.({ phase: 'keys', done, total: wanted.length });
  const generation = Promise.all(
    wanted.map(async (step) => {
      const keyType = step.kind === 'kubeconfig' ? (step.spec as KubeconfigSpec).client.keyType : (step.spec as CertSpec).keyType;
      const pair = await generateKeyPair(keyType);
      options.onProgress?.({ phase: 'keys', done: ++done, total: wanted.length });
      return [step, pair] as const;
    }),
  );
  // RSA-4096 sets take seconds: an interrupt must not wait for them.
  const interrupted = new Promise<never>((_, reject) => {
    if (options.signal?.aborted) reject(interruptedError());
    options.signal?.addEventListener('abort', () => reject(interruptedError()), { once: true });
  });
  return new Map(await Promise.race([generation, interrupted]));
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
 * Carries out a plan: keys are generated together, CA certificates issued first, then the rest.
 * Every file is written as one journaled unit (store/journal.ts): a killed run leaves the old
 * files, or a journal the next run completes, never a key beside a certificate it does not match.
 */
export async function executePlan(plan: InitPlan, options: ExecuteOptions): Promise<void> {
  const keys = await generateKeys(plan.steps, options);
  const changing = plan.steps.filter((s) => s.action !== 'reuse' && s.action !== 'external');
  const renderEntry = async (step: Step): Promise<EntryWrites> => ({ step, writes: await render(step, plan, keys.get(step), options.now) });
  const entries: EntryWrites[] = [];
  // CAs one by one, as the profile orders them; then everything they sign at once, so that each
  // signature's round trip to the thread pool overlaps the encoding of the next certificate.
  for (const step of changing.filter((s) => s.kind === 'ca')) entries.push(await renderEntry(step));
  entries.push(...(await Promise.all(changing.filter((s) => s.kind !== 'ca').map(renderEntry))));
  const writes = entries.flatMap((e) => e.writes);
  let done = 0;
  await writeFilesTogether(options.journalDir, writes, {
    signal: options.signal,
    interrupted: interruptedError,
    onStaged: () => options.onProgress?.({ phase: 'write', done: ++done, total: writes.length }),
  });
}

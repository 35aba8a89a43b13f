/** What the live-command suites (live.test.ts, csr.test.ts) share on top of the cluster harness. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { subjectName } from '../../src/pki/certificate.js';
import { x509 } from '../../src/pki/crypto.js';
import { certificatePublicKey, generateKeyPair, signatureAlgorithm, signingKey } from '../../src/pki/keys.js';
import { describeRun, requireTool, run, type RunResult } from '../interop/helpers.js';
import { startCluster, type Cluster } from './harness.js';

/** Starts one cluster for the file; tests after a failed start fail with its reason. */
export function useCluster(): () => Cluster {
  let cluster: Cluster | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      cluster = await startCluster();
    } catch (err) {
      failure = err;
      throw err;
    }
  });
  afterAll(() => cluster?.stop());
  return () => {
    if (!cluster) throw new Error(`the cluster did not start: ${failure instanceof Error ? failure.message : String(failure)}`);
    return cluster;
  };
}

export const adminConf = (c: Cluster) => path.join(c.root, 'admin.conf');

/** kubectl with a kubeconfig, optionally fed stdin; never rejects on exit codes. */
export function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<RunResult> {
  return run(requireTool('kubectl'), ['--kubeconfig', kubeconfig, ...args], { input, timeoutMs: 30_000 });
}

export async function kubectlOk(kubeconfig: string, args: readonly string[], input?: string): Promise<RunResult> {
  const r = await kubectl(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl failed:\n${describeRun(r)}`);
  return r;
}

/** A copy of a kubeconfig with its cluster CA taken from another one. */
export async function withCaOf(file: string, caFrom: string, out: string): Promise<string> {
  type Doc = { clusters: { cluster: Record<string, string> }[] };
  const doc = parseYaml(await readFile(file, 'utf8')) as Doc;
  const ca = (parseYaml(await readFile(caFrom, 'utf8')) as Doc).clusters[0]!.cluster['certificate-authority-data']!;
  doc.clusters[0]!.cluster['certificate-authority-data'] = ca;
  await writeFile(out, stringifyYaml(doc));
  return out;
}

export interface CsrRequest {
  name: string;
  commonName: string;
  organizations: string[];
  dnsNames?: string[];
  ips?: string[];
  usages: string[];
  signerName?: string;
}

/** Creates a CertificateSigningRequest object as the kubeconfig's user (a node, for kubelet-serving). */
export async function submitCsr(kubeconfig: string, request: CsrRequest): Promise<void> {
  const pair = await generateKeyPair('ecdsa-p256');
  const names = [...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })), ...(request.ips ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(request.commonName, request.organizations),
    keys: { privateKey: await signingKey(pair.privateKey), publicKey: await certificatePublicKey(pair.publicKey) },
    signingAlgorithm: signatureAlgorithm(pair.privateKey),
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  const object = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name: request.name },
    spec: { signerName: request.signerName ?? 'kubernetes.io/kubelet-serving', request: Buffer.from(csr.toString('pem')).toString('base64'), usages: request.usages },
  };
  await kubectlOk(kubeconfig, ['create', '-f', '-'], JSON.stringify(object));
}

/** The condition types of a CSR (Approved, Denied, …) and whether it holds a certificate. */
export async function csrState(kubeconfig: string, name: string): Promise<{ conditions: string[]; issued: boolean }> {
  const csr = JSON.parse((await kubectlOk(kubeconfig, ['get', 'csr', name, '-o', 'json'])).stdout) as { status?: { conditions?: { type: string }[]; certificate?: string } };
  return { conditions: (csr.status?.conditions ?? []).map((c) => c.type), issued: Boolean(csr.status?.certificate) };
}

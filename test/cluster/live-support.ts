/** What the live-command suites (live.test.ts, csr.test.ts) share on top of the cluster harness. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { subjectName } from '../../src/pki/certificate.js';
import { x509 } from '../../src/pki/crypto.js';
import { certificatePublicKey, generateKeyPair, signatureAlgorithm, signingKey } from '../../src/pki/keys.js';
import { describeRun, requireTool, run, type RunResult } from '../interop/helpers.js';
import type { Finding } from '../../src/verify/findings.js';
import { DNS_DOMAIN, SERVICE_CIDR, type Cluster, type FlagOverrides, type NodeName } from './harness.js';

export type { Finding };

export const adminConf = (c: Cluster) => path.join(c.root, 'admin.conf');

/** The inputs of a control-plane node as its processes got them, plus extra flags. */
export function nodeInputs(c: Cluster, node: NodeName, extra: string[] = []): string[] {
  return [
    '--apiserver-args',
    c.flagsFile('kube-apiserver', node),
    '--etcd-args',
    c.flagsFile('etcd'),
    // The controller manager runs on cp1 (its kubeconfig names cp1's address).
    ...(node === 'cp1' ? ['--controller-manager-args', c.flagsFile('kube-controller-manager')] : []),
    '--kubeconfig',
    adminConf(c),
    ...extra,
  ];
}

/** `kpki init --renew NAME` for the cluster as the harness made it: the renewed files land in the nodes' directories. */
export async function renewInCluster(c: Cluster, name: string): Promise<void> {
  const r = await c.kpki([
    'init',
    '--cert-dir',
    c.certDir,
    '--kubeconfig-dir',
    c.root,
    '--control-plane-nodes',
    `cp1=${c.nodes.cp1.address},cp2=${c.nodes.cp2.address}`,
    '--control-plane-endpoint',
    c.endpoint.replace('https://', ''),
    '--apiserver-bind-port',
    String(c.bindPort),
    '--service-cidr',
    SERVICE_CIDR,
    '--dns-domain',
    DNS_DOMAIN,
    '--renew',
    name,
  ]);
  if (r.code !== 0) throw new Error(`kpki init --renew ${name} failed:\n${describeRun(r)}`);
}

/** `kpki verify --live --json ARGS`: its exit code and findings (a crash or bad usage throws). */
export async function verifyLive(c: Cluster, args: string[]): Promise<{ code: number | null; findings: Finding[] }> {
  const r = await c.kpki(['verify', '--live', '--json', ...args]);
  if (r.code !== 0 && r.code !== 1) throw new Error(`kpki verify --live failed:\n${describeRun(r)}`);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

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
  const names = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
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
    spec: {
      signerName: request.signerName ?? 'kubernetes.io/kubelet-serving',
      request: Buffer.from(csr.toString('pem')).toString('base64'),
      usages: request.usages,
    },
  };
  await kubectlOk(kubeconfig, ['create', '-f', '-'], JSON.stringify(object));
}

/** The usages a kubelet asks its serving certificate for. */
export const SERVING_USAGES = ['digital signature', 'key encipherment', 'server auth'];

/** A Node object with the addresses given (what `kpki approve kubelet-serving` checks a request against); no kubelet behind it. */
export async function createNodeObject(kubeconfig: string, name: string, addresses: [type: string, address: string][]): Promise<void> {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
  };
  await kubectlOk(kubeconfig, ['create', '-f', '-'], JSON.stringify(node));
}

/** The condition types of a CSR (Approved, Denied, …) and whether it holds a certificate. */
export async function csrState(kubeconfig: string, name: string): Promise<{ conditions: string[]; issued: boolean }> {
  const csr = JSON.parse((await kubectlOk(kubeconfig, ['get', 'csr', name, '-o', 'json'])).stdout) as {
    status?: { conditions?: { type: string }[]; certificate?: string };
  };
  return { conditions: (csr.status?.conditions ?? []).map((c) => c.type), issued: Boolean(csr.status?.certificate) };
}

/** The CA keys kpki keeps in a token in the token suites: every CA entry of the profile. */
export const TOKEN_CAS = ['ca', 'front-proxy-ca', 'etcd-ca'];

/** A controller manager beside kpki signer: with the CA key in a token it cannot sign, so csrsigning is off and no signing file is named. */
export const SIGNER_CONTROLLER_MANAGER: FlagOverrides = {
  controllers: '*,bootstrapsigner,tokencleaner,-csrsigning',
  'cluster-signing-cert-file': null,
  'cluster-signing-key-file': null,
};

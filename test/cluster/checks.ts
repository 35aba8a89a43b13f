/**
 * What the cluster tests ask of a running cluster and of `kpki verify`, shared by the suites that
 * use the harness.
 */
import { createPrivateKey, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Finding } from '../../src/verify/findings.js';
import { describeRun, type RunResult } from '../interop/helpers.js';
import { SA_ISSUER, type Cluster, type NodeName } from './harness.js';

export const NODE_NAMES: NodeName[] = ['cp1', 'cp2'];

/** The VIP (haproxy) and each apiserver directly. */
export function servers(c: Cluster): { label: string; url: string }[] {
  return [{ label: 'VIP', url: c.endpoint }, ...NODE_NAMES.map((n) => ({ label: n, url: c.nodes[n].url }))];
}

/** Each kubeconfig kpki wrote, with the identity the apiserver must see. */
function standardKubeconfigs(c: Cluster): { file: string; user: string; admin: boolean }[] {
  return [
    { file: c.admin, user: 'kubernetes-admin', admin: true },
    { file: c.superAdmin, user: 'kubernetes-super-admin', admin: true },
    ...NODE_NAMES.flatMap((n) => [
      { file: c.nodes[n].kubeconfig('admin.conf'), user: 'kubernetes-admin', admin: true },
      { file: c.nodes[n].kubeconfig('controller-manager.conf'), user: 'system:kube-controller-manager', admin: false },
      { file: c.nodes[n].kubeconfig('scheduler.conf'), user: 'system:kube-scheduler', admin: false },
      { file: c.nodes[n].kubeconfig('kubelet.conf'), user: `system:node:${n}`, admin: false },
    ]),
  ];
}

/**
 * Creating a namespace (server-side dry run) succeeds for cluster admins; every other identity is
 * refused by RBAC with a message naming the user the apiserver authenticated.
 */
export async function expectKubeconfigsAuthenticate(c: Cluster): Promise<void> {
  const cases = standardKubeconfigs(c).flatMap((k) => servers(c).map((s) => ({ ...k, server: s })));
  const results = await Promise.all(
    cases.map((k) => c.kubectl(k.file, ['--server', k.server.url, 'create', 'namespace', 'kpki-probe', '--dry-run=server', '-o', 'name'])),
  );
  cases.forEach((k, i) => {
    const r = results[i]!;
    const label = `${path.relative(c.root, k.file)} via ${k.server.label}`;
    if (k.admin) {
      expect(r.code, `${label}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim(), label).toBe('namespace/kpki-probe');
    } else {
      expect(r.code, label).not.toBe(0);
      expect(r.stderr, label).toContain(
        `Error from server (Forbidden): namespaces is forbidden: User "${k.user}" cannot create resource "namespaces"`,
      );
    }
  });
}

export interface VerifyRun {
  run: RunResult;
  findings: Finding[];
}

export interface VerifyInputs {
  /** Default: the node's own pki/ and /etc/kubernetes. */
  certDir?: string;
  kubeconfigDir?: string;
  /** Default: the flags file the node's kube-apiserver runs from. */
  apiserverArgs?: string;
  extra?: string[];
}

/**
 * `kpki verify --json` for one control-plane node as it runs: its PKI and kubeconfigs, the flags
 * files of its apiserver, etcd (when stacked) and (on cp1) the controller manager, and the wardle APIService
 * with its serving certificate.
 */
export async function verifyNode(c: Cluster, node: NodeName, inputs: VerifyInputs = {}): Promise<VerifyRun> {
  const n = c.nodes[node];
  return kpkiVerify(c, [
    '--cert-dir',
    inputs.certDir ?? path.join(n.dir, 'pki'),
    '--kubeconfig-dir',
    inputs.kubeconfigDir ?? n.dir,
    '--apiserver-args',
    inputs.apiserverArgs ?? c.flagsFile('kube-apiserver', node),
    // Stacked: cp1's member (cp2 runs the same flags); external members are verified on their own.
    ...(c.etcdMembers.length === 1 ? ['--etcd-args', c.flagsFile('etcd')] : []),
    ...(node === 'cp1' ? ['--controller-manager-args', c.flagsFile('kube-controller-manager')] : []),
    '--apiservice',
    c.wardle.apiservice,
    '--serving-cert',
    c.wardle.servingCert,
    '--kubelet-config',
    c.worker.kubeletConfig,
    '--node-address',
    `InternalIP=${c.worker.address}`,
    ...(inputs.extra ?? []),
  ]);
}

/** `kpki verify --json ARGS` (in `cwd`, default kpki's own directory), its findings parsed (a run that printed no JSON throws with its transcript). */
export async function kpkiVerify(c: Cluster, args: string[], cwd?: string): Promise<VerifyRun> {
  const run = await c.kpki(['verify', '--json', ...args], cwd);
  let findings: Finding[];
  try {
    findings = (JSON.parse(run.stdout) as { findings: Finding[] }).findings;
  } catch {
    throw new Error(`kpki verify printed no JSON:\n${describeRun(run)}`);
  }
  return { run, findings };
}

/** kpki verify reports finding `code` about `subject` (its subject or files); errors make it exit 1. */
export function expectFinding(v: VerifyRun, code: string, subject: RegExp): Finding {
  const found = v.findings.find((f) => f.code === code && subject.test(`${f.subject} ${f.files.join(' ')}`));
  expect(found, `expected ${code} on ${subject}; kpki verify said:\n${JSON.stringify(v.findings, null, 2)}\n${v.run.stderr}`).toBeDefined();
  expect(v.run.code).toBe(v.findings.some((f) => f.severity === 'error') ? 1 : 0);
  return found!;
}

/** Notes that describe a healthy tree: where a control plane's kubelet.conf points (kubeadm ≥ 1.33: its own apiserver). */
const DESCRIPTIVE = new Set(['KUBELET_SERVER_MODE']);

export function expectNoProblems(v: VerifyRun): void {
  expect(
    v.findings.filter((f) => !DESCRIPTIVE.has(f.code)),
    JSON.stringify(v.findings, null, 2),
  ).toEqual([]);
  expect(v.run.code, describeRun(v.run)).toBe(0);
}

/**
 * A bound service-account token as kube-apiserver's TokenRequest issues it, signed here with the
 * given key (sa.key): RS256 for RSA keys, ES256 for P-256.
 */
export function signServiceAccountToken(keyFile: string, sa: { namespace: string; name: string; uid: string }): string {
  const key = createPrivateKey(readFileSync(keyFile));
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256', typ: 'JWT' });
  const claims = b64({
    iss: SA_ISSUER,
    // kube-apiserver's --api-audiences defaults to the issuer.
    aud: [SA_ISSUER],
    sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
    iat: now,
    nbf: now,
    exp: now + 600,
    'kubernetes.io': { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } },
  });
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${header}.${claims}.${signature.toString('base64url')}`;
}

/** A service-account public key that belongs to no key kpki made. */
export async function foreignPublicKey(file: string): Promise<string> {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(file, publicKey.export({ type: 'spki', format: 'pem' }));
  return file;
}

/** The same certificate in DER, as a misconfigured deployment hands it to a component. */
export async function derCopy(pemFile: string, derFile: string): Promise<string> {
  await writeFile(derFile, new X509Certificate(readFileSync(pemFile)).raw);
  return derFile;
}

/** Go's `certificate is valid for A, B, not HOST` for an IP the certificate lacks. */
export function notValidFor(host: string): RegExp {
  return new RegExp(`x509: certificate is valid for [^\\n]*, not ${host.replace(/\./g, '\\.')}`);
}

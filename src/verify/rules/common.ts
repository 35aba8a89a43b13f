import type { KeyObject } from 'node:crypto';
import { publicKeyObject } from '../../pki/certificate.js';
import type { x509 } from '../../pki/crypto.js';
import { sameKeyPair } from '../../pki/keys.js';
import { hostnameError, verifyCertificate } from '../../pki/verify.js';
import type { ExtKeyUsageName } from '../../model/profile.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import { flag, type ComponentArgs } from '../inputs.js';

export const BINARY: Record<ComponentArgs['component'], string> = {
  apiserver: 'kube-apiserver',
  etcd: 'etcd',
  'controller-manager': 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  kubelet: 'kubelet',
};

/** `kube-apiserver --tls-cert-file`: how findings name a flag. */
export const flagSubject = (args: ComponentArgs, name: string) => `${BINARY[args.component]} --${name}`;

/** A certificate as some flag or kubeconfig names it. */
export interface NamedCert {
  label: string;
  file: string;
  certs: x509.X509Certificate[];
}

export async function certFromFlag(ctx: VerifyContext, args: ComponentArgs, name: string): Promise<NamedCert | undefined> {
  const file = flag(args, name);
  if (!file) return undefined;
  const certs = await ctx.certificates(file, flagSubject(args, name));
  return certs && { label: flagSubject(args, name), file, certs };
}

/** Loads a cert/key flag pair and reports a key that does not belong to the certificate. */
export async function pairFromFlags(ctx: VerifyContext, args: ComponentArgs, certFlag: string, keyFlag: string): Promise<NamedCert | undefined> {
  const cert = await certFromFlag(ctx, args, certFlag);
  const keyFile = flag(args, keyFlag);
  const key = keyFile ? await ctx.privateKey(keyFile, flagSubject(args, keyFlag)) : undefined;
  if (cert && key) checkKeyPair(ctx, cert, key, keyFile!, flagSubject(args, keyFlag));
  return cert;
}

export function checkKeyPair(ctx: VerifyContext, cert: NamedCert, key: KeyObject, keyFile: string, keyLabel: string): void {
  if (sameKeyPair(key, publicKeyObject(cert.certs[0]!))) return;
  ctx.report({
    code: FindingCode.KeyMismatch,
    severity: 'error',
    subject: keyLabel,
    symptom: 'tls: private key does not match public key',
    diagnosis: `${keyFile} is not the private key of ${cert.file} (${cert.label}); the component fails to start or the client cannot connect`,
    fix: `point ${keyLabel} at the key issued with ${cert.file}, or reissue both together`,
    files: [cert.file, keyFile],
  });
}

/** A time inside the leaf's validity: expiry is its own finding, so trust checks look past it. */
function withinValidity(cert: x509.X509Certificate, now: Date): Date {
  if (now < cert.notBefore) return cert.notBefore;
  if (now > cert.notAfter) return cert.notAfter;
  return now;
}

export interface TrustCheck {
  leaf: NamedCert;
  roots: NamedCert;
  usage: ExtKeyUsageName;
  /** How the failure shows to the user, given Go's error text. */
  symptom: (goError: string) => string;
  /** Who relies on this trust, for the diagnosis: "kube-apiserver authenticating admin.conf". */
  relation: string;
}

/** Reports when `leaf` would not verify against `roots` for `usage`, as Go would refuse it. */
export async function checkTrust(ctx: VerifyContext, check: TrustCheck): Promise<boolean> {
  const [leaf, ...intermediates] = check.leaf.certs;
  const result = await verifyCertificate(leaf!, {
    roots: check.roots.certs,
    intermediates,
    usage: check.usage,
    now: withinValidity(leaf!, ctx.now),
  });
  if (result.ok) return true;
  const usageProblem = result.error.includes('incompatible key usage');
  ctx.report({
    code: usageProblem ? FindingCode.UsageIncompatible : FindingCode.ChainUntrusted,
    severity: 'error',
    subject: check.leaf.label,
    symptom: check.symptom(result.error),
    diagnosis: usageProblem
      ? `${check.leaf.file} lacks ExtKeyUsage ${check.usage}, which ${check.relation} requires`
      : `${check.leaf.file} (${check.leaf.label}) is not signed by the CA in ${check.roots.file} (${check.roots.label}), which ${check.relation} trusts`,
    fix: usageProblem
      ? `reissue ${check.leaf.file} with ${check.usage} (kpki init --renew …)`
      : `reissue ${check.leaf.file} from the CA in ${check.roots.file}, or point ${check.roots.label} at the CA that signed it`,
    files: [check.leaf.file, check.roots.file],
  });
  return false;
}

/** Reports every host a client dials that the serving certificate does not cover. */
export function checkHosts(ctx: VerifyContext, serving: NamedCert, hosts: { host: string; who: string }[], symptomPrefix: string): void {
  const seen = new Set<string>();
  for (const { host, who } of hosts) {
    if (seen.has(host)) continue;
    seen.add(host);
    const error = hostnameError(serving.certs[0]!, host);
    if (!error) continue;
    ctx.report({
      code: FindingCode.SanMissing,
      severity: 'error',
      subject: serving.label,
      symptom: `${symptomPrefix}${error}`,
      diagnosis: `${serving.file} has no SAN for ${host}, which ${who} connects to`,
      fix: `reissue ${serving.file} with ${host} added (kpki init --apiserver-cert-extra-sans / --etcd-server-cert-extra-sans, then --renew)`,
      files: [serving.file],
    });
  }
}

/** Go ≥ 1.20 clients (kubectl, client-go) wrap server verification errors so. */
export const CLIENT_TLS_PREFIX = 'tls: failed to verify certificate: ';

/** Host part of a URL such as https://[fd00::1]:6443. */
export function urlHost(url: string): string | undefined {
  try {
    const host = new URL(url).hostname;
    return host.startsWith('[') ? host.slice(1, -1) : host;
  } catch {
    return undefined;
  }
}

import type { KeyObject } from '../../pki/keys.js';
import { publicKeyObject } from '../../pki/certificate-facts.js';
import type { CertificateData } from '../../pki/parse.js';
import { sameKeyPair } from '../../pki/keys.js';
import { hostnameError, verifyCertificate } from '../../pki/verify.js';
import { clusterAdminGroups, type ExtKeyUsageName, type Profile } from '../../model/profile.js';
import { flagSubject, type Facts } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag, type ComponentArgs } from '../inputs/args.js';
import { finding } from '../rule.js';

/** A certificate as some flag or kubeconfig names it. */
export interface NamedCert {
  label: string;
  file: string;
  certs: CertificateData[];
}

export function certFromFlag(facts: Facts, args: ComponentArgs, name: string): NamedCert | undefined {
  const file = flag(args, name);
  const certs = file ? facts.certificates.get(file) : undefined;
  return certs && { label: flagSubject(args, name), file: file!, certs };
}

/** tls.X509KeyPair's pairing check, with its messages. */
export function keyPairFindings(cert: NamedCert, key: KeyObject, keyFile: string, keyLabel: string): Finding[] {
  const publicKey = publicKeyObject(cert.certs[0]!);
  if (sameKeyPair(key, publicKey)) return [];
  const sameType = key.asymmetricKeyType === publicKey.asymmetricKeyType;
  return [
    finding({
      code: FindingCode.KeyMismatch,
      severity: 'error',
      subject: keyLabel,
      symptom: sameType ? 'tls: private key does not match public key' : 'tls: private key type does not match public key type',
      diagnosis: `${keyFile} is not the private key of ${cert.file} (${cert.label}); the component fails to start or the client cannot connect`,
      fix: `point ${keyLabel} at the key issued with ${cert.file}, or reissue both together`,
      files: [cert.file, keyFile],
    }),
  ];
}

/** A time inside the leaf's validity: expiry is its own finding, so trust checks look past it. */
function withinValidity(cert: CertificateData, now: Date): Date {
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
  /** The repair when the chain does not verify, if not reissuing the leaf from the trusted CA. */
  fix?: string;
}

type Verdict = ReturnType<typeof verifyCertificate>;
/** Go's verdicts per run: several kubeconfigs carry the same CA, several flags the same files. */
const verdicts = new WeakMap<Facts, Map<string, Verdict>>();

function verdict(facts: Facts, named: NamedCert, roots: NamedCert, usage: ExtKeyUsageName): Verdict {
  const [leaf, ...intermediates] = named.certs;
  const der = (certs: CertificateData[]) => certs.map((c) => Buffer.from(c.rawData).toString('base64')).join(',');
  const key = `${usage} ${der(named.certs)} ${der(roots.certs)}`;
  let memo = verdicts.get(facts);
  if (!memo) verdicts.set(facts, (memo = new Map()));
  let result = memo.get(key);
  if (!result)
    memo.set(key, (result = verifyCertificate(leaf!, { roots: roots.certs, intermediates, usage, now: withinValidity(leaf!, facts.now) })));
  return result;
}

/** Whether Go would accept `leaf` against `roots` for `usage` (validity aside). */
export async function isTrusted(facts: Facts, leaf: NamedCert, roots: NamedCert, usage: ExtKeyUsageName): Promise<boolean> {
  return (await verdict(facts, leaf, roots, usage)).ok;
}

/** A finding when `leaf` would not verify against `roots` for `usage`, as Go would refuse it. */
export async function trustFindings(facts: Facts, check: TrustCheck): Promise<Finding[]> {
  const result = await verdict(facts, check.leaf, check.roots, check.usage);
  if (result.ok) return [];
  const usageProblem = result.error.includes('incompatible key usage');
  // "Unknown authority" alone, or with a signature that another key made (a CA of the same name,
  // as every kubeadm cluster's "kubernetes"), means another CA signed it. Anything else means the
  // chain exists and Go refused it: path length, name constraints, a critical extension, an expired
  // intermediate, a SHA-1 signature, a parent that may not sign.
  const hint = /\(possibly because of "(.*)" while trying/.exec(result.error)?.[1];
  const unsigned = result.error.includes('signed by unknown authority') && (!hint || /verification (error|failure)/.test(hint));
  const chainDiagnosis = unsigned
    ? `${check.leaf.file} (${check.leaf.label}) is not signed by the CA in ${check.roots.file} (${check.roots.label}), which ${check.relation} trusts`
    : `${check.leaf.file} (${check.leaf.label}) chains to ${check.roots.file} (${check.roots.label}), but Go refuses that chain, so ${check.relation} fails: ${result.error}`;
  const chainFix = unsigned
    ? `reissue ${check.leaf.file} from the CA in ${check.roots.file}, or point ${check.roots.label} at the CA that signed it`
    : `reissue ${check.leaf.file} (and the intermediates sent with it) so that the chain satisfies what Go reports`;
  return [
    finding({
      code: usageProblem ? FindingCode.UsageIncompatible : FindingCode.ChainUntrusted,
      severity: 'error',
      subject: check.leaf.label,
      symptom: check.symptom(result.error),
      diagnosis: usageProblem ? `${check.leaf.file} lacks ExtKeyUsage ${check.usage}, which ${check.relation} requires` : chainDiagnosis,
      fix: usageProblem
        ? `reissue ${check.leaf.file} with ${check.usage} (kpki init --renew …)`
        : unsigned && check.fix
          ? check.fix
          : chainFix,
      files: [check.leaf.file, check.roots.file],
    }),
  ];
}

export interface DialedHost {
  host: string;
  who: string;
  /** The repair when the certificate lacks this host; by default, extra SANs for kpki init. */
  fix?: string;
}

/** A finding for every host a client dials that the serving certificate does not cover. */
export function hostFindings(serving: NamedCert, hosts: DialedHost[], symptomPrefix: string): Finding[] {
  const seen = new Set<string>();
  return hosts.flatMap(({ host, who, fix }) => {
    if (seen.has(host)) return [];
    seen.add(host);
    const error = hostnameError(serving.certs[0]!, host);
    if (!error) return [];
    return [
      finding({
        code: FindingCode.SanMissing,
        severity: 'error',
        subject: serving.label,
        symptom: `${symptomPrefix}${error}`,
        diagnosis: `${serving.file} has no SAN for ${host}, which ${who} connects to`,
        fix:
          fix ??
          `reissue ${serving.file} with ${host} added (kpki init --apiserver-cert-extra-sans / --etcd-server-cert-extra-sans, then --renew)`,
        files: [serving.file],
      }),
    ];
  });
}

/** Go ≥ 1.20 clients (kubectl, client-go) wrap server verification errors so. */
export const CLIENT_TLS_PREFIX = 'tls: failed to verify certificate: ';

/** The host a URL such as https://[fd00::1]:6443 dials, IPv6 brackets removed; undefined for no URL. */
export function hostOfUrl(url: string): string | undefined {
  try {
    const host = new URL(url).hostname;
    return host.startsWith('[') ? host.slice(1, -1) : host;
  } catch {
    return undefined;
  }
}

/** The groups authorised for everything: those the profile's manifests bind to cluster-admin, and system:masters. */
export function adminGroups(profile: Profile): { groups: string[]; preferred: string; expected: string } {
  const bound = clusterAdminGroups(profile);
  return {
    groups: [...bound, 'system:masters'],
    preferred: bound[0] ?? 'system:masters',
    expected: bound.length ? `O=${bound.join(' or O=')} (or system:masters)` : 'O=system:masters',
  };
}

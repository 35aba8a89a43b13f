import type { Observed } from '../model/files.js';
import type { KeyObject } from '../pki/keys.js';
import type { KeyType } from '../pki/key-types.js';
import path from 'node:path';
import { certificateFacts, publicKeyObject } from '../pki/certificate.js';
import { keyTypeOf, sameKeyPair } from '../pki/keys.js';
import type { x509 } from '../pki/crypto.js';
import { parseCertificate, parseKey } from '../pki/pem.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { resolveCertificate, type CertSpec } from '../model/spec.js';
import { EXT_KEY_USAGES, type ExtKeyUsageName, type ProfilePolicy } from '../model/profile.js';
import { DEFAULTS } from '../model/settings.js';
import { badInput, ErrorCode, KpkiError } from '../errors.js';
import { certificateItem, type FollowStep, type RenewStep, type Step } from './steps.js';

/** One file set a renewal may touch: an entry of the profile (or a user kubeconfig) in one location. */
export interface RenewalSite {
  /** Node name; undefined for the cluster's shared directory, `local` for a single-node PKI. */
  node: string | undefined;
  /** Whether this is the location that holds the signing CAs (the shared set, or the single PKI). */
  signing: boolean;
  name: string;
  kind: 'certificate' | 'kubeconfig';
  /** Entry name of the CA that signs it. */
  issuer: string;
  /** `[crt, key]` for certificates, `[conf]` for kubeconfigs. */
  files: string[];
  /** The site's cert dir: --csr-only names its requests after the path under it. */
  certDir: string;
}

/**
 * A renewal's keys. `auto` (the default, as \`kubeadm certs renew\`) signs the existing key again
 * when it matches, so only the certificate file changes and a reader of the pair never sees a
 * mismatch; a missing or mismatched key is replaced. `keep` (--keep-key) refuses instead of
 * replacing; `new` (--new-key) replaces every key, and both files of each pair change together
 * (store/journal.ts says what a reader sees then).
 */
export type KeyChoice = 'auto' | 'keep' | 'new';

/** Renew the named entries wherever they exist: what `kpki renew` and a rotation's reissue ask for. */
export interface RenewIntent {
  /** SANs to add, by entry name. */
  extraSans: ReadonlyMap<string, string[]>;
  /** What happens to each site's private key (see KeyChoice). */
  key: KeyChoice;
  /** Leaf lifetime in seconds (issuing caps it at the CA's expiry). */
  validity: number;
  /** Which CAs kpki holds the key of: leaves of the others get a key and a CSR (--csr-only) or are refused. */
  signable: ReadonlySet<string>;
  csrOnly: boolean;
  /** Where --csr-only writes. */
  csrDir: string;
  policy: ProfilePolicy;
  /**
   * The key algorithm wanted for the leaves of each CA (by entry name): a key of another type is
   * replaced by a new one of this type (unless `keep`). Without one, each leaf keeps its own type.
   */
  keyTypes?: ReadonlyMap<string, KeyType>;
}

/** The certificate and key a site holds now (a kubeconfig's embedded client credentials). */
function current(site: RenewalSite, observed: Observed) {
  const data = observed.get(site.files[0]!)!;
  if (site.kind === 'certificate') {
    return { certPem: data, keyPem: observed.get(site.files[1]!), origin: site.files[0]!, keyOrigin: site.files[1]!, text: undefined };
  }
  const text = data.toString('utf8');
  const creds = parseKubeconfig(text, site.files[0]!);
  if (!creds.clientCertificate?.data)
    throw badInput(
      site.files[0]!,
      'has no embedded client certificate',
      'kpki renews embedded kubeconfigs; reissue this one with kpki kubeconfig',
    );
  return {
    certPem: creds.clientCertificate.data,
    keyPem: creds.clientKey?.data,
    origin: creds.clientCertificate.origin,
    keyOrigin: creds.clientKey?.origin ?? site.files[0]!,
    text,
  };
}

/** Where --csr-only puts a site's key and request: `<csr dir>[/<node>]/<file>`. */
function csrPrefix(csrDir: string, site: RenewalSite): string {
  const base =
    site.kind === 'certificate' ? path.relative(site.certDir, site.files[0]!).replace(/\.crt$/, '') : path.basename(site.files[0]!);
  return path.join(csrDir, site.node && site.node !== 'local' ? site.node : '', base.startsWith('..') ? path.basename(base) : base);
}

/**
 * Decides a renewal, site by site: each existing certificate is signed again with its subject,
 * SANs (plus the added ones) and usages, as `kubeadm certs renew` does; a node's byte-for-byte
 * copy of a shared certificate follows the shared one; what an external CA signed gets a CSR, or
 * the whole renewal is refused. Pure: reads only `observed`.
 */
export function decideRenewal(sites: RenewalSite[], observed: Observed, intent: RenewIntent): Step[] {
  const steps: Step[] = [];
  const signingSteps = new Map<string, RenewStep>();
  /** What an external CA signed, for the refusal. */
  const external: string[] = [];
  for (const site of sites) {
    if (!observed.get(site.files[0]!)) continue;
    const existing = current(site, observed);
    const cert = parseCertificate(existing.certPem, existing.origin);
    const shared = signingSteps.get(site.name);
    // A node's copy of a shared certificate (the front-proxy client) follows the shared one.
    if (shared && observed.get(shared.files[0]!)!.equals(observed.get(site.files[0]!)!)) {
      const withKey = site.kind === 'certificate' && observed.has(site.files[1]!) && shared.files.length > 1;
      const pairs = [...(withKey ? [{ from: shared.files[1]!, to: site.files[1]! }] : []), { from: shared.files[0]!, to: site.files[0]! }];
      const follow: FollowStep = {
        ...certificateItem(shared.spec, site.kind, site.files),
        action: 'copy',
        reasons: [],
        spec: shared.spec,
        node: site.node,
        follows: shared,
        pairs,
        files: pairs.map((p) => p.to),
      };
      steps.push(follow);
      continue;
    }
    const keyType = (intent.key !== 'keep' && intent.keyTypes?.get(site.issuer)) || (keyTypeOf(publicKeyObject(cert)) ?? DEFAULTS.keyType);
    const spec = renewedSpec(intent.policy, site, certificateFacts(cert), intent.extraSans.get(site.name) ?? [], intent.validity, keyType);
    if (!intent.signable.has(site.issuer)) {
      const prefix = csrPrefix(intent.csrDir, site);
      external.push(site.files[0]!);
      steps.push({
        ...certificateItem(spec, site.kind, site.files),
        action: 'csr',
        reasons: [],
        spec,
        node: site.node,
        files: [`${prefix}.key`, `${prefix}.csr`],
      });
      continue;
    }
    const keptKey = keyToKeep(intent.key, existing, cert, keyType);
    const files = site.kind === 'certificate' && !keptKey ? site.files : [site.files[0]!];
    const step: RenewStep = {
      ...certificateItem(spec, site.kind, site.files),
      files,
      action: 'renew',
      reasons: [],
      spec,
      node: site.node,
      keptKey,
      kubeconfig: existing.text,
    };
    if (site.signing) signingSteps.set(site.name, step);
    steps.push(step);
  }
  if (external.length && !intent.csrOnly) {
    throw new KpkiError(ErrorCode.ExternalCaMissing, `cannot renew what an external CA signed: ${external.join(', ')}`, {
      subject: external[0],
      hint: 'nothing was written; rerun with --csr-only to write a key and CSR for each, have the external CA sign them, and put the certificates in place',
    });
  }
  return steps;
}

/** The existing key a renewal signs again, or undefined for a new one (see KeyChoice); `auto` keeps only a key of the wanted type. */
function keyToKeep(
  choice: KeyChoice,
  existing: ReturnType<typeof current>,
  cert: x509.X509Certificate,
  keyType: KeyType,
): KeyObject | undefined {
  if (choice === 'new') return undefined;
  const key = existing.keyPem && parseKey(existing.keyPem, existing.keyOrigin);
  const matches = key !== undefined && sameKeyPair(key, publicKeyObject(cert));
  if (choice === 'keep') {
    if (!key) throw badInput(existing.keyOrigin, 'is missing, so --keep-key has no key to keep', 'renew without --keep-key');
    if (!matches) throw badInput(existing.keyOrigin, `does not match ${existing.origin}`, 'renew without --keep-key to get a new key');
  }
  return matches && (choice === 'keep' || keyTypeOf(publicKeyObject(cert)) === keyType) ? key : undefined;
}

/** The certificate a renewal issues: the existing one's subject, SANs and usages, under the profile's policy. */
function renewedSpec(
  policy: ProfilePolicy,
  site: RenewalSite,
  existing: ReturnType<typeof certificateFacts>,
  extraSans: string[],
  validity: number,
  keyType: CertSpec['keyType'],
): CertSpec {
  const usages = existing.extKeyUsages.filter((u): u is ExtKeyUsageName => (EXT_KEY_USAGES as readonly string[]).includes(u));
  const sans = [...existing.dnsNames, ...existing.ipAddresses, ...extraSans];
  return resolveCertificate(
    policy,
    {
      name: site.name,
      file: '',
      issuer: site.issuer,
      commonName: existing.commonName,
      organizations: existing.organizations,
      usages,
      sans,
    },
    (t) => [t],
    { caValidity: validity, certValidity: validity, keyType },
    undefined,
  );
}

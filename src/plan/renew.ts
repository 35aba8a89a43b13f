import type { FileWrite, Observed } from '../model/files.js';
import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { DEFAULTS } from '../model/defaults.js';
import { parseDuration } from '../model/duration.js';
import type { Layout, LayoutLocation, LayoutOptions } from '../model/layout.js';
import { kubeletPkiEntries } from '../model/profile.js';
import { SAN_SETTINGS, type RememberedSans } from '../model/remembered-sans.js';
import { sanList, type KeyType } from '../model/settings.js';
import { nodeEntries } from '../model/topology.js';
import type { x509 } from '../pki/crypto.js';
import { cutAtCaExpiry, renderSteps, type Signer } from './render.js';
import { decideRenewal, type KeyChoice, type RenewalSite } from './renewal.js';
import type { Restart } from './restart.js';
import type { RenewStep, Step } from './steps.js';
import { authorityIn, type HeldCa, type TokenCas } from './trust.js';

export interface RenewOptions extends LayoutOptions {
  /** Entry names: `apiserver`, `admin.conf`, `kubelet-serving`, … */
  names?: string[];
  all?: boolean;
  /** SANs to add to the apiserver certificates (or to the etcd ones named). */
  addSans?: string[] | string;
  /** Refuse unless every existing key can be signed again (by default a matching key is kept, a missing or mismatched one replaced). */
  keepKey?: boolean;
  /** Generate new keys instead of signing the existing ones again. */
  newKey?: boolean;
  /** Leaf lifetime, e.g. `1y` (default: the cluster's, else one year; never past the CA). */
  validity?: string;
  dryRun?: boolean;
  /** For leaves an external CA signed: write a new key and a CSR for it instead of refusing. */
  csrOnly?: boolean;
  /** Where --csr-only writes (default: `<kubeconfig dir>/csr`). */
  csrDir?: string;
  now?: Date;
}

export type RenewAction = 'renew' | 'copy' | 'csr';

export interface RenewItem {
  /** Node name; undefined for the cluster's shared directory, `local` for a single-node PKI. */
  node: string | undefined;
  name: string;
  action: RenewAction;
  files: string[];
  /** SANs of the new certificate, for certificates that have any. */
  sans: string[] | undefined;
  /** Expiry of the new certificate (not on a dry run). */
  notAfter: string | undefined;
}

export interface RenewResult {
  dryRun: boolean;
  items: RenewItem[];
  /** Components to restart, in order, to pick the new files up. */
  restart: Restart[];
  /** Extra SANs now remembered for later `kpki init` / `node add` runs, and the file holding them. */
  remembered: { file: string; sans: RememberedSans } | undefined;
  /** Files of an interrupted run this one completed instead of starting anew. */
  resumed: string[] | undefined;
  /** kubeadm's lifetime warnings: a --validity above its default, a leaf cut at its CA's expiry. */
  warnings: string[];
}

interface Entry {
  name: string;
  kind: 'certificate' | 'kubeconfig';
  issuer: string;
  files: (location: LayoutLocation) => string[] | undefined;
}

/** Every renewable entry of a layout's profile (and its user kubeconfigs), and where it lives in a location. */
export function renewableEntries(layout: Layout): Entry[] {
  const { profile } = layout;
  return [
    // User kubeconfigs are signed by the cluster CA and live outside the locations.
    ...layout.kubeconfigs.map((file): Entry => ({
      name: file,
      kind: 'kubeconfig',
      issuer: 'ca',
      files: (l) => (l === layout.signing ? [file] : undefined),
    })),
    ...profile.certificates
      .filter((c) => c.issuer)
      .map((c): Entry => {
        // A kubelet pki entry (the kubelet's serving certificate) lives only where the location has a kubelet pki dir.
        const dir = (l: LayoutLocation) => (c.location === 'kubeletPki' ? l.kubeletPki : l.certDir);
        return {
          name: c.name,
          kind: 'certificate',
          issuer: c.issuer!,
          files: (l) => (dir(l) ? [path.join(dir(l)!, `${c.file}.crt`), path.join(dir(l)!, `${c.file}.key`)] : undefined),
        };
      }),
    ...profile.kubeconfigs.map((k): Entry => ({
      name: k.name,
      kind: 'kubeconfig',
      issuer: k.issuer,
      files: (l) => [path.join(l.kubeconfigDir, k.file)],
    })),
  ];
}

/** The CAs of a profile at the signing location, by entry name (their keys files, or in the tokens named). */
export function authoritiesIn(layout: Layout, snapshot: Observed, tokens?: TokenCas): Map<string, HeldCa> {
  const cas = layout.profile.certificates.filter((c) => !c.issuer);
  const read = cas.map((c) => authorityIn(snapshot, layout.signing.certDir, c.name, c.file, tokens));
  return new Map(read.filter((a): a is HeldCa => a !== undefined).map((a) => [a.name, a]));
}

export function selectNames(layout: Layout, options: RenewOptions): string[] {
  const entries = renewableEntries(layout).map((e) => e.name);
  const names = options.names ?? [];
  if (options.all && names.length) throw badFlag('--all', 'renews everything: give either names or --all');
  if (!options.all && !names.length && !layout.kubeconfigs.length)
    throw badFlag('NAME', 'name what to renew, or pass --all', `names: ${entries.join(', ')}`);
  for (const name of names) {
    if (layout.profile.certificates.some((c) => c.name === name && !c.issuer)) {
      throw badFlag('NAME', `${name} is a CA`, `extend it with kpki ca renew ${name}, or replace it with kpki ca rotate begin`);
    }
    if (layout.profile.keyPairs.some((k) => k.name === name))
      throw badFlag('NAME', `${name} is the service-account key`, 'replace it with kpki ca rotate begin --ca none --service-account');
    if (!entries.includes(name)) throw badFlag('NAME', `unknown entry "${name}"`, `use names from: ${entries.join(', ')}`);
  }
  // User kubeconfigs given by --kubeconfig are renewed whatever else is named.
  return options.all ? entries : [...names, ...layout.kubeconfigs];
}

/** Which entries `--add-san` extends: the SAN-bearing ones named, else the apiserver. */
export function sanTargets(names: string[], options: RenewOptions): { sans: string[]; entries: string[] } {
  const sans = sanList('--add-san', options.addSans);
  if (!sans.length) return { sans, entries: [] };
  const named = options.all ? [] : names.filter((n) => n in SAN_SETTINGS);
  if (!options.all && !named.length)
    throw badFlag('--add-san', `none of ${names.join(', ')} carries SANs`, `add apiserver (or etcd-server, etcd-peer) to the names`);
  return { sans, entries: named.length ? named : ['apiserver'] };
}

export function keyChoice(options: RenewOptions): KeyChoice {
  if (options.keepKey && options.newKey) throw badFlag('--new-key', 'contradicts --keep-key', 'give one of them');
  return options.newKey ? 'new' : options.keepKey ? 'keep' : 'auto';
}

export function validitySeconds(layout: Layout, options: RenewOptions): number {
  const text = options.validity ?? layout.record?.data.settings.certValidity ?? DEFAULTS.certValidity;
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) throw badFlag('--validity', `"${text}" is not a duration`, 'e.g. 8760h, 365d or 1y');
  return seconds;
}

/** What a renewal signs with and how: shared by `kpki renew` and the rotation phases that re-sign leaves. */
export interface RenewPlan {
  names: string[];
  /** Signing CAs by entry name; kubeconfigs get each one's whole trust file as CA data. */
  cas: Map<string, HeldCa>;
  sanPlan: { sans: string[]; entries: string[] };
  csrOnly: boolean;
  csrDir: string;
  key: KeyChoice;
  /** The key algorithm of each CA's leaves, by CA entry name (see RenewIntent.keyTypes). */
  keyTypes?: ReadonlyMap<string, KeyType>;
  validity: number;
  now: Date;
  dryRun: boolean;
}

/** Every place the named entries live, in layout order (the signing location first). */
export function renewalSites(layout: Layout, names: string[]): RenewalSite[] {
  const entries = renewableEntries(layout).filter((e) => names.includes(e.name));
  return layout.locations.flatMap((location) =>
    entries.flatMap((entry) => {
      const files = entry.files(location);
      return files
        ? [
            {
              node: location.node,
              signing: location === layout.signing,
              name: entry.name,
              kind: entry.kind,
              issuer: entry.issuer,
              files,
              certDir: location.certDir,
            },
          ]
        : [];
    }),
  );
}

/** A renewal decided over what exists and rendered (nothing rendered on a dry run): the files to write and what happened to each entry. */
export async function renewWrites(
  layout: Layout,
  plan: RenewPlan,
  snapshot: Observed,
): Promise<{ writes: FileWrite[]; items: RenewItem[]; warnings: string[] }> {
  const { steps, signers } = decideRenewalOf(layout, plan, snapshot);
  const item = (step: Step, issued?: x509.X509Certificate): RenewItem => ({
    node: (step as RenewStep).node,
    name: step.name,
    action: step.action as RenewAction,
    files: step.files,
    sans: step.sans?.length ? step.sans : undefined,
    notAfter: issued?.notAfter.toISOString(),
  });
  if (plan.dryRun) return { writes: [], items: steps.map((s) => item(s)), warnings: [] };
  const rendered = await renderSteps(steps, { now: plan.now, signers });
  return {
    writes: rendered.flatMap((r) => r.files),
    items: rendered.map((r) => item(r.step, r.issued)),
    warnings: [...new Set(cutAtCaExpiry(rendered, plan.now))],
  };
}

/** A renewal decided over what exists: its steps, and the CAs' signers that render them. */
export function decideRenewalOf(layout: Layout, plan: RenewPlan, snapshot: Observed): { steps: Step[]; signers: Map<string, Signer> } {
  const sites = renewalSites(layout, plan.names);
  // A leaf whose CA is not here at all (no trust file): the wrong directory, not an external CA.
  const orphan = sites.find((s) => snapshot.has(s.files[0]!) && !plan.cas.has(s.issuer));
  if (orphan) {
    const caFile = path.join(layout.signing.certDir, `${layout.profile.certificates.find((c) => c.name === orphan.issuer)!.file}.crt`);
    throw new KpkiError(
      ErrorCode.MissingFile,
      `${caFile}: no such file, so nothing can renew ${orphan.files[0]} (signed by ${orphan.issuer})`,
      {
        subject: caFile,
        hint: 'point --cert-dir at the PKI that holds its CAs (a cluster: its shared directory)',
      },
    );
  }
  const steps = decideRenewal(sites, snapshot, {
    extraSans: new Map(plan.sanPlan.entries.map((name) => [name, plan.sanPlan.sans])),
    key: plan.key,
    keyTypes: plan.keyTypes,
    validity: plan.validity,
    signable: new Set([...plan.cas].filter(([, ca]) => ca.key).map(([name]) => name)),
    csrOnly: plan.csrOnly,
    csrDir: plan.csrDir,
    policy: layout.profile.policy,
  });
  const signers = new Map(
    [...plan.cas].filter(([, ca]) => ca.key).map(([name, ca]) => [name, { certificate: ca.cert, key: ca.key!, trust: ca.bundle }]),
  );
  return { steps, signers };
}

/** Whether a site is meant to hold its entry: every entry in a single PKI; in a cluster, what the profile's roles give each place. */
function meantToHold(layout: Layout, site: RenewalSite): boolean {
  const { profile, record } = layout;
  if (!record || site.node === 'local') return true;
  if (site.node === undefined) return (profile.roles.shared ?? []).includes(site.name);
  const node = record.data.nodes.find((n) => n.name === site.node);
  if (!node) return false;
  if (kubeletPkiEntries(profile).some((e) => e.name === site.name)) return record.data.settings.kubeletServingCerts && node.role !== 'etcd';
  return nodeEntries(profile, node, record.data.topology).entries.includes(site.name);
}

/**
 * `--all`: the entries missing where they belong, which the run cannot renew, each said by its
 * file. An entry kpki issues only under a condition (`when: localEtcd`, …) belongs where another
 * entry of the same condition is there: a single PKI's settings are not recorded.
 */
export function missingFromAll(layout: Layout, names: string[], snapshot: Observed): string[] {
  const sites = renewalSites(layout, names);
  const conditionOf = (name: string) => layout.profile.certificates.find((c) => c.name === name)?.when;
  const present = sites.filter((s) => snapshot.has(s.files[0]!));
  const conditionHolds = (site: RenewalSite) => {
    const when = conditionOf(site.name);
    return !when || present.some((p) => p.node === site.node && conditionOf(p.name) === when);
  };
  return sites
    .filter((s) => !snapshot.has(s.files[0]!) && meantToHold(layout, s) && conditionHolds(s))
    .map(
      (s) => `${s.files[0]}: no such file, so ${s.name} was not renewed; restore it, or let kpki init (node add for a node) issue it again`,
    );
}

/** A named entry missing where it belongs names its file; a run that found nothing at all says so. */
export function refuseNothingFound(layout: Layout, options: RenewOptions, names: string[], snapshot: Observed): void {
  for (const name of options.names ?? []) {
    const sites = renewalSites(layout, [name]);
    const missing = sites.find((s) => !snapshot.has(s.files[0]!) && meantToHold(layout, s));
    if (!missing && sites.some((s) => snapshot.has(s.files[0]!))) continue;
    const file = (missing ?? sites[0])?.files[0] ?? name;
    throw new KpkiError(ErrorCode.MissingFile, `${file}: no such file, so ${name} cannot be renewed`, {
      subject: file,
      hint: 'restore it, or let kpki init (node add for a node) issue it again; nothing was changed',
    });
  }
  if (!renewalSites(layout, names).some((s) => snapshot.has(s.files[0]!))) {
    const where = [...new Set(layout.locations.flatMap((l) => [l.certDir, l.kubeconfigDir]))].join(', ');
    throw new KpkiError(
      ErrorCode.MissingFile,
      `${layout.signing.certDir}: nothing to renew: no certificate or kubeconfig of profile ${layout.profile.name} in ${where}`,
      {
        subject: layout.signing.certDir,
        hint: 'point --cert-dir (and --kubeconfig-dir) at the PKI, e.g. --cert-dir /etc/kubernetes/pki',
      },
    );
  }
}

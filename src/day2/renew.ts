import type { Observed } from '../plan/decide.js';
import path from 'node:path';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { recordText } from '../store/cluster-record.js';
import type { x509 } from '../pki/crypto.js';
import { parseDuration } from '../model/duration.js';
import { sanList } from '../model/settings.js';
import { DEFAULTS } from '../model/defaults.js';
import { kubeletPkiEntries } from '../model/profile.js';
import { nodeEntries } from '../model/topology.js';
import { decideRenewal, type RenewalSite } from '../plan/renewal.js';
import { renderSteps } from '../plan/render.js';
import type { FileWrite, RenewStep, Step } from '../plan/steps.js';
import { applyChanges } from '../store/apply.js';
import { underLock } from './session.js';
import { observeLayout, observeLayoutFiles, type Layout, type LayoutOptions, type Location } from './layout.js';
import { readRememberedSans, SAN_SETTINGS, SETTINGS_FILE, withRememberedSans, type RememberedSans } from './remembered.js';
import { restartPlan, type Restart } from './restart.js';
import { authorityIn, type Authority } from './trust.js';

export interface RenewOptions extends LayoutOptions {
  /** Entry names: `apiserver`, `admin.conf`, `kubelet-serving`, … */
  names?: string[];
  all?: boolean;
  /** SANs to add to the apiserver certificates (or to the etcd ones named). */
  addSans?: string[] | string;
  /** Sign the existing keys again instead of generating new ones. */
  keepKey?: boolean;
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
}

interface Entry {
  name: string;
  kind: 'certificate' | 'kubeconfig';
  issuer: string;
  files: (location: Location) => string[] | undefined;
}

/** Every renewable entry of a layout's profile (and its user kubeconfigs), and where it lives in a location. */
export function renewableEntries(layout: Layout): Entry[] {
  const { profile } = layout;
  return [
    // User kubeconfigs are signed by the cluster CA and live outside the locations.
    ...layout.kubeconfigs.map((file): Entry => ({ name: file, kind: 'kubeconfig', issuer: 'ca', files: (l) => (l === layout.signing ? [file] : undefined) })),
    ...profile.certificates
      .filter((c) => c.issuer)
      .map((c): Entry => {
        // A kubelet pki entry (the kubelet's serving certificate) lives only where the location has a kubelet pki dir.
        const dir = (l: Location) => (c.location === 'kubeletPki' ? l.kubeletPki : l.certDir);
        return { name: c.name, kind: 'certificate', issuer: c.issuer!, files: (l) => (dir(l) ? [path.join(dir(l)!, `${c.file}.crt`), path.join(dir(l)!, `${c.file}.key`)] : undefined) };
      }),
    ...profile.kubeconfigs.map((k): Entry => ({ name: k.name, kind: 'kubeconfig', issuer: k.issuer, files: (l) => [path.join(l.kubeconfigDir, k.file)] })),
  ];
}

/** The CAs of a profile at the signing location, by entry name. */
export function authoritiesIn(layout: Layout, snapshot: Observed): Map<string, Authority> {
  const cas = layout.profile.certificates.filter((c) => !c.issuer);
  const read = cas.map((c) => authorityIn(snapshot, layout.signing.certDir, c.name, c.file));
  return new Map(read.filter((a): a is Authority => a !== undefined).map((a) => [a.name, a]));
}

function selectNames(layout: Layout, options: RenewOptions): string[] {
  const entries = renewableEntries(layout).map((e) => e.name);
  const names = options.names ?? [];
  if (options.all && names.length) throw badFlag('--all', 'renews everything: give either names or --all');
  if (!options.all && !names.length && !layout.kubeconfigs.length) throw badFlag('NAME', 'name what to renew, or pass --all', `names: ${entries.join(', ')}`);
  for (const name of names) {
    if (layout.profile.certificates.some((c) => c.name === name && !c.issuer)) {
      throw badFlag('NAME', `${name} is a CA`, `extend it with kpki ca renew ${name}, or replace it with kpki ca rotate begin`);
    }
    if (layout.profile.keyPairs.some((k) => k.name === name)) throw badFlag('NAME', `${name} is the service-account key`, 'replace it with kpki ca rotate begin --ca none --service-account');
    if (!entries.includes(name)) throw badFlag('NAME', `unknown entry "${name}"`, `use names from: ${entries.join(', ')}`);
  }
  // User kubeconfigs given by --kubeconfig are renewed whatever else is named.
  return options.all ? entries : [...names, ...layout.kubeconfigs];
}

/** Which entries `--add-san` extends: the SAN-bearing ones named, else the apiserver. */
function sanTargets(names: string[], options: RenewOptions): { sans: string[]; entries: string[] } {
  const sans = sanList('--add-san', options.addSans);
  if (!sans.length) return { sans, entries: [] };
  const named = options.all ? [] : names.filter((n) => n in SAN_SETTINGS);
  if (!options.all && !named.length) throw badFlag('--add-san', `none of ${names.join(', ')} carries SANs`, `add apiserver (or etcd-server, etcd-peer) to the names`);
  return { sans, entries: named.length ? named : ['apiserver'] };
}

/** The record (cluster) or settings file (single node) with the added SANs remembered. */
async function rememberSans(layout: Layout, sanPlan: { sans: string[]; entries: string[] }): Promise<{ write: FileWrite; sans: RememberedSans } | undefined> {
  if (!sanPlan.sans.length) return undefined;
  const added: RememberedSans = Object.fromEntries(sanPlan.entries.map((e) => [SAN_SETTINGS[e as keyof typeof SAN_SETTINGS], sanPlan.sans]));
  if (layout.record) {
    const { file, data } = layout.record;
    const settings = withRememberedSans(data.settings, added);
    return { write: { path: file, data: recordText(file, { ...data, settings }), mode: 0o644 }, sans: added };
  }
  const file = path.join(layout.signing.kubeconfigDir, SETTINGS_FILE);
  const sans = withRememberedSans(await readRememberedSans(layout.signing.kubeconfigDir), added);
  return { write: { path: file, data: `${JSON.stringify(sans, null, 2)}\n`, mode: 0o644 }, sans };
}

function validitySeconds(layout: Layout, options: RenewOptions): number {
  const text = options.validity ?? layout.record?.data.settings.certValidity ?? DEFAULTS.certValidity;
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) throw badFlag('--validity', `"${text}" is not a duration`, 'e.g. 8760h, 365d or 1y');
  return seconds;
}

/** What a renewal signs with and how: shared by `kpki renew` and the rotation phases that re-sign leaves. */
export interface RenewPlan {
  names: string[];
  /** Signing CAs by entry name; kubeconfigs get each one's whole trust file as CA data. */
  cas: Map<string, Authority>;
  sanPlan: { sans: string[]; entries: string[] };
  csrOnly: boolean;
  csrDir: string;
  keepKey: boolean;
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
      return files ? [{ node: location.node, signing: location === layout.signing, name: entry.name, kind: entry.kind, issuer: entry.issuer, files, certDir: location.certDir }] : [];
    }),
  );
}

/** A renewal decided over what exists and rendered (nothing rendered on a dry run): the files to write and what happened to each entry. */
export async function renewWrites(layout: Layout, plan: RenewPlan, snapshot: Observed): Promise<{ writes: FileWrite[]; items: RenewItem[] }> {
  const sites = renewalSites(layout, plan.names);
  // A leaf whose CA is not here at all (no trust file): the wrong directory, not an external CA.
  const orphan = sites.find((s) => snapshot.has(s.files[0]!) && !plan.cas.has(s.issuer));
  if (orphan) {
    const caFile = path.join(layout.signing.certDir, `${layout.profile.certificates.find((c) => c.name === orphan.issuer)!.file}.crt`);
    throw new KpkiError(ErrorCode.MissingFile, `${caFile}: no such file, so nothing can renew ${orphan.files[0]} (signed by ${orphan.issuer})`, {
      subject: caFile,
      hint: 'point --cert-dir at the PKI that holds its CAs (a cluster: its shared directory)',
    });
  }
  const steps = decideRenewal(sites, snapshot, {
    extraSans: new Map(plan.sanPlan.entries.map((name) => [name, plan.sanPlan.sans])),
    keepKey: plan.keepKey,
    validity: plan.validity,
    signable: new Set([...plan.cas].filter(([, ca]) => ca.key).map(([name]) => name)),
    csrOnly: plan.csrOnly,
    csrDir: plan.csrDir,
    policy: layout.profile.policy,
  });
  const item = (step: Step, issued?: x509.X509Certificate): RenewItem => ({
    node: (step as RenewStep).node,
    name: step.name,
    action: step.action as RenewAction,
    files: step.files,
    sans: step.sans?.length ? step.sans : undefined,
    notAfter: issued?.notAfter.toISOString(),
  });
  if (plan.dryRun) return { writes: [], items: steps.map((s) => item(s)) };
  const signers = new Map([...plan.cas].filter(([, ca]) => ca.key).map(([name, ca]) => [name, { certificate: ca.cert, key: ca.key!, trust: ca.bundle }]));
  const rendered = await renderSteps(steps, { now: plan.now, signers });
  return { writes: rendered.flatMap((r) => r.files), items: rendered.map((r) => item(r.step, r.issued)) };
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

/** A named entry missing where it belongs names its file; a run that found nothing at all says so. */
function refuseNothingFound(layout: Layout, options: RenewOptions, names: string[], snapshot: Observed): void {
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
    throw new KpkiError(ErrorCode.MissingFile, `${layout.signing.certDir}: nothing to renew: no certificate or kubeconfig of profile ${layout.profile.name} in ${where}`, {
      subject: layout.signing.certDir,
      hint: 'point --cert-dir (and --kubeconfig-dir) at the PKI, e.g. --cert-dir /etc/kubernetes/pki',
    });
  }
}

/**
 * `kpki renew`: re-signs leaves and kubeconfigs with the current CAs — in the shared set and in
 * every node directory holding them — keeping subjects, SANs (plus --add-san) and usages, and
 * returns which components to restart where. All files change as one journaled set.
 */
export async function renew(options: RenewOptions): Promise<RenewResult> {
  const layout = await observeLayout(options);
  const names = selectNames(layout, options);
  const sanPlan = sanTargets(names, options);
  const validity = validitySeconds(layout, options);
  const now = options.now ?? new Date();
  const resumed = (completed: string[], layout: Layout): RenewResult => ({ dryRun: false, items: [], restart: restartPlan(layout, completed), remembered: undefined, resumed: completed });
  return underLock(layout, options.dryRun, resumed, async (layout) => {
    const snapshot = await observeLayoutFiles(layout);
    refuseNothingFound(layout, options, names, snapshot);
    const cas = authoritiesIn(layout, snapshot);
    const remembered = options.dryRun ? undefined : await rememberSans(layout, sanPlan);
    const { writes, items } = await renewWrites(layout, {
      names,
      cas,
      sanPlan,
      csrOnly: options.csrOnly ?? false,
      csrDir: options.csrDir ?? path.join(layout.signing.kubeconfigDir, DEFAULTS.csrDirName),
      keepKey: options.keepKey ?? false,
      validity,
      now,
      dryRun: options.dryRun ?? false,
    }, snapshot);
    if (options.dryRun) {
      return { dryRun: true, items, restart: restartPlan(layout, items.filter((i) => i.action !== 'csr').flatMap((i) => i.files)), remembered: undefined, resumed: undefined };
    }
    if (remembered) writes.push(remembered.write);
    await applyChanges(layout.signing.certDir, writes);
    return {
      dryRun: false,
      items,
      restart: restartPlan(layout, items.filter((i) => i.action !== 'csr').flatMap((i) => i.files)),
      remembered: remembered && { file: remembered.write.path, sans: remembered.sans },
      resumed: undefined,
    };
  });
}

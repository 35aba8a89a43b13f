import { createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { badFlag, badInput, ErrorCode, KpkiError } from '../errors.js';
import { parseKubeconfig } from '../kubeconfig/kubeconfig.js';
import { recordText } from '../store/cluster-record.js';
import { certificateFacts, certificatePem, issueCertificate, publicKeyObject } from '../pki/certificate.js';
import { createCsrPem } from '../pki/csr.js';
import { generateKeyPair, keyTypeOf, privateKeyPem, sameKeyPair, type KeyPair } from '../pki/keys.js';
import { parseCertificate, parseKey } from '../pki/pem.js';
import { parseDuration } from '../model/duration.js';
import { resolveCertificate, type CertSpec } from '../model/plan.js';
import { EXT_KEY_USAGES, type ExtKeyUsageName, type Profile } from '../model/profile.js';
import { DEFAULTS, sanList } from '../model/settings.js';
import { readOptional } from '../store/files.js';
import { applyChanges } from '../store/apply.js';
import type { FileWrite } from '../plan/steps.js';
import { underLock } from './session.js';
import { observeLayout, type Layout, type LayoutOptions, type Location } from './layout.js';
import { readRememberedSans, SAN_SETTINGS, SETTINGS_FILE, withRememberedSans, type RememberedSans } from './remembered.js';
import { restartPlan, type Restart } from './restart.js';
import { bundlePem, readAuthority, setKubeconfigData, type Authority } from './trust.js';

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

/** A leaf or kubeconfig of one location that the run renews. */
export interface Target {
  location: Location;
  name: string;
  kind: 'certificate' | 'kubeconfig';
  /** Name of the signing CA's entry. */
  issuer: string;
  /** `[crt, key]` for certificates, `[conf]` for kubeconfigs. */
  files: string[];
  action: RenewAction;
  /** For a node's byte-for-byte copy of a shared certificate: the shared target it follows. */
  source?: Target;
  extraSans: string[];
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

/** The CAs of a profile, read from the signing location, by entry name. */
export async function readAuthorities(layout: Layout, certDir = layout.signing.certDir): Promise<Map<string, Authority>> {
  const cas = layout.profile.certificates.filter((c) => !c.issuer);
  const read = await Promise.all(cas.map((c) => readAuthority(certDir, c.name, c.file)));
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

/** Decides what the run renews where: new certificates, node copies of shared ones, CSRs for external CAs. */
async function planTargets(layout: Layout, names: string[], cas: Map<string, Authority>, sanPlan: { sans: string[]; entries: string[] }, csrOnly: boolean): Promise<Target[]> {
  const targets: Target[] = [];
  const entries = renewableEntries(layout).filter((e) => names.includes(e.name));
  const bySigning = new Map<string, Target>();
  for (const location of layout.locations) {
    for (const entry of entries) {
      const files = entry.files(location);
      const current = files && (await readOptional(files[0]!));
      if (!files || !current) continue;
      const external = !cas.get(entry.issuer)?.key;
      const target: Target = {
        location,
        name: entry.name,
        kind: entry.kind,
        issuer: entry.issuer,
        files,
        action: external ? 'csr' : 'renew',
        extraSans: sanPlan.entries.includes(entry.name) ? sanPlan.sans : [],
      };
      const shared = bySigning.get(entry.name);
      // A node's copy of a shared certificate (the front-proxy client) follows the shared one.
      if (shared && shared.action === 'renew' && (await readOptional(shared.files[0]!))?.equals(current)) {
        Object.assign(target, { action: 'copy', source: shared });
      }
      if (location === layout.signing) bySigning.set(entry.name, target);
      targets.push(target);
    }
  }
  const refused = targets.filter((t) => t.action === 'csr');
  if (refused.length && !csrOnly) {
    throw new KpkiError(ErrorCode.ExternalCaMissing, `cannot renew what an external CA signed: ${refused.map((t) => t.files[0]).join(', ')}`, {
      subject: refused[0]!.files[0],
      hint: 'nothing was written; rerun with --csr-only to write a key and CSR for each, have the external CA sign them, and put the certificates in place',
    });
  }
  return targets;
}

/** The certificate a renewal issues: the existing one's subject, SANs and usages, under the profile's policy. */
function renewedSpec(profile: Profile, target: Target, existing: ReturnType<typeof certificateFacts>, validity: number, keyType: CertSpec['keyType']): CertSpec {
  const usages = existing.extKeyUsages.filter((u): u is ExtKeyUsageName => (EXT_KEY_USAGES as readonly string[]).includes(u));
  const sans = [...existing.dnsNames, ...existing.ipAddresses, ...target.extraSans];
  return resolveCertificate(
    profile.policy,
    { name: target.name, file: '', issuer: target.issuer, commonName: existing.commonName, organizations: existing.organizations, usages, sans },
    (t) => [t],
    { caValidity: validity, certValidity: validity, keyType },
    undefined,
  );
}

/** The existing certificate and key of a target (for a kubeconfig, its embedded client credentials). */
async function readCredentials(target: Target): Promise<{ certPem: Buffer; keyPem: Buffer | undefined; origin: string; keyOrigin: string; text?: string }> {
  const data = (await readOptional(target.files[0]!))!;
  if (target.kind === 'certificate') {
    return { certPem: data, keyPem: await readOptional(target.files[1]!), origin: target.files[0]!, keyOrigin: target.files[1]! };
  }
  const text = data.toString('utf8');
  const creds = parseKubeconfig(text, target.files[0]!);
  if (!creds.clientCertificate?.data) throw badInput(target.files[0]!, 'has no embedded client certificate', 'kpki renews embedded kubeconfigs; reissue this one with kpki kubeconfig');
  return { certPem: creds.clientCertificate.data, keyPem: creds.clientKey?.data, origin: creds.clientCertificate.origin, keyOrigin: creds.clientKey?.origin ?? target.files[0]!, text };
}

interface RenderContext {
  profile: Profile;
  cas: Map<string, Authority>;
  validity: number;
  keepKey: boolean;
  now: Date;
}

interface Rendered {
  writes: FileWrite[];
  notAfter: string;
  sans: string[];
  certPem: string;
  keyPem: string | undefined;
}

/** New key (or the kept one) and certificate for one target, as the files to write. */
async function renderTarget(target: Target, ctx: RenderContext): Promise<Rendered> {
  const existing = await readCredentials(target);
  const cert = parseCertificate(existing.certPem, existing.origin);
  const keyType = keyTypeOf(publicKeyObject(cert)) ?? DEFAULTS.keyType;
  let kept: KeyObject | undefined;
  if (ctx.keepKey) {
    if (!existing.keyPem) throw badInput(existing.keyOrigin, 'is missing, so --keep-key has no key to keep', 'renew without --keep-key');
    kept = parseKey(existing.keyPem, existing.keyOrigin);
    if (!sameKeyPair(kept, publicKeyObject(cert))) throw badInput(existing.keyOrigin, `does not match ${existing.origin}`, 'renew without --keep-key to get a new key');
  }
  const pair: KeyPair = kept ? { keyType, privateKey: kept, publicKey: createPublicKey(kept) } : await generateKeyPair(keyType);
  const spec = renewedSpec(ctx.profile, target, certificateFacts(cert), ctx.validity, keyType);
  const sans = [...spec.dnsNames, ...spec.ipAddresses];
  if (target.action === 'csr') {
    const csrPem = await createCsrPem(pair, spec.commonName, spec.organizations, spec);
    return { writes: [], notAfter: '', sans, certPem: csrPem, keyPem: privateKeyPem(pair.privateKey) };
  }
  const ca = ctx.cas.get(target.issuer)!;
  const issued = await issueCertificate({ spec, publicKey: pair.publicKey, issuer: { key: ca.key!, certificate: ca.cert }, now: ctx.now });
  const certPem = certificatePem(issued);
  const keyPem = kept ? undefined : privateKeyPem(pair.privateKey);
  const writes: FileWrite[] =
    target.kind === 'certificate'
      ? [...(keyPem ? [{ path: target.files[1]!, data: keyPem, mode: 0o600 }] : []), { path: target.files[0]!, data: certPem, mode: 0o644 }]
      : [{ path: target.files[0]!, data: setKubeconfigCredentials(existing.text!, target.files[0]!, ca, certPem, keyPem), mode: 0o600 }];
  return { writes, notAfter: issued.notAfter.toISOString(), sans, certPem, keyPem };
}

/** A renewed kubeconfig carries the CA's current trust file, not whatever CA data it had. */
function setKubeconfigCredentials(text: string, file: string, ca: Authority, certPem: string, keyPem: string | undefined): string {
  return setKubeconfigData(text, file, { ca: bundlePem(ca.bundle), cert: certPem, key: keyPem });
}

/** Where --csr-only puts a target's key and request: `<csr dir>[/<node>]/<file>`. */
function csrPrefix(csrDir: string, target: Target): string {
  const base = target.kind === 'certificate' ? path.relative(target.location.certDir, target.files[0]!).replace(/\.crt$/, '') : path.basename(target.files[0]!);
  return path.join(csrDir, target.location.node && target.location.role !== 'local' ? target.location.node : '', base.startsWith('..') ? path.basename(base) : base);
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

/** Decides and renders a renewal: the files to write and what happened to each entry (nothing rendered on a dry run). */
export async function renewWrites(layout: Layout, plan: RenewPlan): Promise<{ writes: FileWrite[]; items: RenewItem[]; targets: Target[] }> {
  const targets = await planTargets(layout, plan.names, plan.cas, plan.sanPlan, plan.csrOnly);
  const item = (t: Target, files: string[], rendered?: Pick<Rendered, 'notAfter' | 'sans'>): RenewItem => ({
    node: t.location.node,
    name: t.name,
    action: t.action,
    files,
    sans: rendered?.sans.length ? rendered.sans : undefined,
    notAfter: rendered?.notAfter || undefined,
  });
  if (plan.dryRun) return { writes: [], items: targets.map((t) => item(t, t.files)), targets };
  const ctx: RenderContext = { profile: layout.profile, cas: plan.cas, validity: plan.validity, keepKey: plan.keepKey, now: plan.now };
  const rendered = new Map<Target, Rendered>();
  // Shared targets first: node copies take their bytes.
  await Promise.all(targets.filter((t) => t.action !== 'copy').map(async (t) => rendered.set(t, await renderTarget(t, ctx))));
  const writes: FileWrite[] = [];
  const items: RenewItem[] = [];
  for (const target of targets) {
    if (target.action === 'copy') {
      const source = rendered.get(target.source!)!;
      const keyPath = target.files[1]!;
      const copies: FileWrite[] = [{ path: target.files[0]!, data: source.certPem, mode: 0o644 }];
      if (source.keyPem && (await readOptional(keyPath))) copies.unshift({ path: keyPath, data: source.keyPem, mode: 0o600 });
      writes.push(...copies);
      items.push(item(target, copies.map((c) => c.path), source));
      continue;
    }
    const result = rendered.get(target)!;
    if (target.action === 'csr') {
      const prefix = csrPrefix(plan.csrDir, target);
      const files: FileWrite[] = [
        { path: `${prefix}.key`, data: result.keyPem!, mode: 0o600 },
        { path: `${prefix}.csr`, data: result.certPem, mode: 0o644 },
      ];
      writes.push(...files);
      items.push(item(target, files.map((f) => f.path), { notAfter: '', sans: result.sans }));
      continue;
    }
    writes.push(...result.writes);
    items.push(item(target, result.writes.map((w) => w.path), result));
  }
  return { writes, items, targets };
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
  const resumed = (completed: string[]): RenewResult => ({ dryRun: false, items: [], restart: restartPlan(layout, completed), remembered: undefined, resumed: completed });
  return underLock(layout, options.dryRun, resumed, async () => {
    const cas = await readAuthorities(layout);
    const remembered = options.dryRun ? undefined : await rememberSans(layout, sanPlan);
    const { writes, items, targets } = await renewWrites(layout, {
      names,
      cas,
      sanPlan,
      csrOnly: options.csrOnly ?? false,
      csrDir: options.csrDir ?? path.join(layout.signing.kubeconfigDir, 'csr'),
      keepKey: options.keepKey ?? false,
      validity,
      now,
      dryRun: options.dryRun ?? false,
    });
    if (options.dryRun) {
      return { dryRun: true, items, restart: restartPlan(layout, targets.filter((t) => t.action !== 'csr').flatMap((t) => t.files)), remembered: undefined, resumed: undefined };
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

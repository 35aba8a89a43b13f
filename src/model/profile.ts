import { parse as parseYaml } from 'yaml';
import { badFlag, badInput } from '../errors.js';
import { parseDuration } from './duration.js';
import { readYamlStream } from './yaml.js';

export const KEY_USAGES = ['digitalSignature', 'keyEncipherment', 'keyCertSign', 'cRLSign', 'keyAgreement'] as const;
export type KeyUsageName = (typeof KEY_USAGES)[number];
export const EXT_KEY_USAGES = ['serverAuth', 'clientAuth'] as const;
export type ExtKeyUsageName = (typeof EXT_KEY_USAGES)[number];
/** Certificate roles as `kpki cert issue --profile` names them (here, not in issue/: the flag table lists them). */
export const LEAF_ROLES: Record<string, ExtKeyUsageName[]> = {
  server: ['serverAuth'],
  client: ['clientAuth'],
  peer: ['serverAuth', 'clientAuth'],
};
/**
 * Where a kubeconfig's `server` points: the HA endpoint (or local when unset), this node's
 * apiserver, or — `localEndpointOnControlPlane`, kubeadm ≥ 1.33's ControlPlaneKubeletLocalMode —
 * this node's apiserver on a control plane and the endpoint on every other node.
 */
export const SERVER_TARGETS = ['controlPlaneEndpoint', 'localEndpoint', 'localEndpointOnControlPlane'] as const;
export type ServerTarget = (typeof SERVER_TARGETS)[number];
/** The components whose flags name PKI files (kubeadm's static pods). */
export const COMPONENTS = ['apiserver', 'etcd', 'controller-manager', 'scheduler'] as const;
export type FlagComponent = (typeof COMPONENTS)[number];
/**
 * What of an entry a flag names: its certificate (`.crt`), private key (`.key`), public key
 * (`.pub`), the kubeconfig file itself, or — as a literal — the certificate's common name.
 */
export const WIRED_PARTS = ['cert', 'key', 'pub', 'kubeconfig', 'commonName'] as const;
export type WiredPart = (typeof WIRED_PARTS)[number];
/** Who uses an entry: the flags of each component that name a part of it. */
export type EntryWiring = { component: FlagComponent; flag: string; part: WiredPart }[];
/**
 * The identity a standard kubeconfig carries, which decides what Kubernetes' default RBAC and
 * NodeRestriction expect of its client certificate.
 */
export const KUBECONFIG_IDENTITIES = ['admin', 'super-admin', 'controller-manager', 'scheduler', 'kubelet'] as const;
export type KubeconfigIdentity = (typeof KUBECONFIG_IDENTITIES)[number];
/**
 * Where a certificate lives: the cert dir (/etc/kubernetes/pki), or the kubelet's own pki dir
 * (/var/lib/kubelet/pki) on every node, where it names only the node.
 */
export const ENTRY_DIRS = ['certDir', 'kubeletPki'] as const;
export type EntryDir = (typeof ENTRY_DIRS)[number];
/**
 * Conditions an entry may depend on, and whether each holds when nothing says otherwise:
 * `localEtcd` unless etcd is external; `componentServingCerts` only when asked for
 * (kpki init --component-serving-certs).
 */
export const CONDITION_DEFAULTS = { localEtcd: true, componentServingCerts: false } as const;
export type Condition = keyof typeof CONDITION_DEFAULTS;
export const CONDITIONS = Object.keys(CONDITION_DEFAULTS) as Condition[];

/** Signing policy shared by every certificate in a profile (cfssl-style policy as data). */
export interface ProfilePolicy {
  caKeyUsages: KeyUsageName[];
  leafKeyUsages: KeyUsageName[];
  /** Self-signed CAs carry `DNS:<CN>` (kubeadm ≥ 1.22). */
  caCommonNameSan: boolean;
  /** Leaves carry BasicConstraints CA:FALSE (kubeadm ≥ 1.21). */
  leafBasicConstraints: boolean;
  /** Seconds NotBefore is set before the signing time. */
  backdate: number;
}

/** One certificate of the set. Without `issuer` it is a self-signed CA. */
export interface CertificateEntry {
  name: string;
  /** Path under the cert dir without extension: `etcd/server` → etcd/server.crt + .key. */
  file: string;
  issuer?: string;
  commonName: string;
  organizations: string[];
  usages: ExtKeyUsageName[];
  /** SAN templates; IPs and DNS names are told apart after expansion. */
  sans: string[];
  when?: Condition;
  location: EntryDir;
  /** For a CA: the short name users give it on the command line (`cluster`, `etcd`). */
  alias?: string;
  wiring: EntryWiring;
}

export interface KeyPairEntry {
  name: string;
  file: string;
  wiring: EntryWiring;
}

export interface KubeconfigEntry {
  name: string;
  /** Path under the kubeconfig dir. */
  file: string;
  issuer: string;
  commonName: string;
  organizations: string[];
  server: ServerTarget;
  identity?: KubeconfigIdentity;
  /** Absent on most nodes without that being a problem (super-admin.conf lives on the first control plane only). */
  optional: boolean;
  wiring: EntryWiring;
}

export interface ManifestEntry {
  name: string;
  /** Path under the kubeconfig dir. */
  file: string;
  content: string;
}

/** Node roles of a whole-cluster layout: which entries each holds. */
export const ROLES = ['shared', 'control-plane', 'worker', 'etcd'] as const;
export type Role = (typeof ROLES)[number];

export interface Profile {
  name: string;
  /** Entry names per role; empty when the profile does not describe multi-node layouts. */
  roles: Partial<Record<Role, string[]>>;
  description: string;
  policy: ProfilePolicy;
  certificates: CertificateEntry[];
  keyPairs: KeyPairEntry[];
  kubeconfigs: KubeconfigEntry[];
  manifests: ManifestEntry[];
}

/** Placeholders a profile may use, and whether each stands for a list. */
export const TEMPLATE_VARIABLES = {
  nodeName: 'scalar',
  advertiseAddress: 'scalar',
  dnsDomain: 'scalar',
  clusterName: 'scalar',
  serviceIPs: 'list',
  controlPlaneEndpointHost: 'list',
  apiserverExtraSans: 'list',
  etcdServerExtraSans: 'list',
  etcdPeerExtraSans: 'list',
  /** Every address of the node (kubelet pki entries). */
  nodeAddresses: 'list',
} as const;
export type TemplateVariable = keyof typeof TEMPLATE_VARIABLES;

const PLACEHOLDER = /\$\{([A-Za-z]+)\}/g;

/** Reads fields out of parsed YAML, naming the exact field in every error. */
class FieldReader {
  constructor(
    private readonly file: string,
    private readonly path: string,
    private readonly value: Record<string, unknown>,
  ) {}

  static object(file: string, path: string, value: unknown): FieldReader {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw badInput(file, `${path || 'document'} must be a mapping`);
    }
    return new FieldReader(file, path, value as Record<string, unknown>);
  }

  private where(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  fail(key: string, message: string): never {
    throw badInput(this.file, `${this.where(key)} ${message}`);
  }

  string(key: string): string;
  string(key: string, optional: true): string | undefined;
  string(key: string, optional?: true): string | undefined {
    const v = this.value[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v === '') this.fail(key, 'must be a non-empty string');
    return v;
  }

  boolean(key: string, fallback?: boolean): boolean {
    const v = this.value[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, 'must be true or false');
    return v;
  }

  strings(key: string): string[] {
    const v = this.value[key] ?? [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(key, 'must be a list of strings');
    return v as string[];
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], optional: true): T | undefined;
  oneOf<T extends string>(key: string, allowed: readonly T[]): T;
  oneOf<T extends string>(key: string, allowed: readonly T[], optional?: true): T | undefined {
    const v = this.string(key, true);
    if (v === undefined && optional) return undefined;
    if (!allowed.includes(v as T)) this.fail(key, `must be one of ${allowed.join(', ')}`);
    return v as T;
  }

  someOf<T extends string>(key: string, allowed: readonly T[]): T[] {
    const values = this.strings(key);
    const bad = values.find((v) => !allowed.includes(v as T));
    if (bad !== undefined) this.fail(key, `has "${bad}"; allowed: ${allowed.join(', ')}`);
    return values as T[];
  }

  /** `component: { part: flag | [flags] }`: which flags of which component name which part of the entry. */
  wiring(parts: readonly WiredPart[]): EntryWiring {
    const v = this.value.wiring;
    if (v === undefined) return [];
    const components = FieldReader.object(this.file, this.where('wiring'), v);
    return Object.keys(components.value).flatMap((component) => {
      if (!COMPONENTS.includes(component as FlagComponent))
        components.fail(component, `is no component; allowed: ${COMPONENTS.join(', ')}`);
      const named = FieldReader.object(this.file, components.where(component), components.value[component]);
      return Object.keys(named.value).flatMap((part) => {
        if (!parts.includes(part as WiredPart)) named.fail(part, `is not a part this entry has; allowed: ${parts.join(', ')}`);
        const flags = typeof named.value[part] === 'string' ? [named.string(part)] : named.strings(part);
        const bad = flags.find((f) => !/^[a-z0-9][a-z0-9-]*$/.test(f));
        if (bad !== undefined || !flags.length) named.fail(part, `must name flags without dashes, such as tls-cert-file`);
        return flags.map((flag) => ({ component: component as FlagComponent, flag, part: part as WiredPart }));
      });
    });
  }

  list(key: string): FieldReader[] {
    const v = this.value[key] ?? [];
    if (!Array.isArray(v)) this.fail(key, 'must be a list');
    return v.map((item, i) => FieldReader.object(this.file, `${this.where(key)}[${i}]`, item));
  }

  /** A string field whose `${…}` placeholders must all be known variables. */
  template(key: string, value: string, allowLists: boolean): string {
    for (const [, variable] of value.matchAll(PLACEHOLDER)) {
      const kind = TEMPLATE_VARIABLES[variable as TemplateVariable];
      if (!kind) this.fail(key, `uses unknown placeholder \${${variable}}`);
      if (kind === 'list' && (!allowLists || value !== `\${${variable}}`)) {
        this.fail(key, `may use the list placeholder \${${variable}} only as a whole SAN entry`);
      }
    }
    return value;
  }
}

function parsePolicy(r: FieldReader): ProfilePolicy {
  const backdateText = r.string('backdate');
  const backdate = backdateText === 'none' ? 0 : parseDuration(backdateText);
  if (backdate === undefined) r.fail('backdate', 'must be a duration such as 5m, or none');
  return {
    caKeyUsages: r.someOf('caKeyUsages', KEY_USAGES),
    leafKeyUsages: r.someOf('leafKeyUsages', KEY_USAGES),
    caCommonNameSan: r.boolean('caCommonNameSan'),
    leafBasicConstraints: r.boolean('leafBasicConstraints'),
    backdate,
  };
}

function parseCertificate(r: FieldReader): CertificateEntry {
  const entry: CertificateEntry = {
    name: r.string('name'),
    file: r.string('file'),
    issuer: r.string('issuer', true),
    commonName: r.template('commonName', r.string('commonName'), false),
    organizations: r.strings('organizations').map((o) => r.template('organizations', o, false)),
    usages: r.someOf('usages', EXT_KEY_USAGES),
    sans: r.strings('sans').map((s) => r.template('sans', s, true)),
    when: r.oneOf('when', CONDITIONS, true),
    alias: r.string('alias', true),
    location: r.oneOf('location', ENTRY_DIRS, true) ?? 'certDir',
    wiring: r.wiring(r.string('issuer', true) ? ['cert', 'key', 'commonName'] : ['cert', 'key']),
  };
  if (entry.location === 'kubeletPki') {
    if (!entry.issuer) r.fail('location', 'kubeletPki is for certificates a CA signs, not for CAs');
    if (entry.wiring.length) r.fail('wiring', "names cert dir files; a kubeletPki entry is the kubelet's own, named in its configuration");
    const fields = [entry.commonName, ...entry.organizations, ...entry.sans].join(' ');
    const other = [...fields.matchAll(PLACEHOLDER)].find(([, v]) => v !== 'nodeName' && v !== 'nodeAddresses');
    if (other) r.fail('location', `kubeletPki entries name only the node: \${nodeName} and \${nodeAddresses}, not \${${other[1]}}`);
  }
  if (entry.issuer && entry.alias) r.fail('alias', 'is for CAs only (entries without issuer)');
  if (!entry.issuer && (entry.usages.length || entry.sans.length)) {
    r.fail('issuer', 'is missing: a self-signed CA entry takes no usages or sans');
  }
  return entry;
}

function parseKubeconfig(r: FieldReader): KubeconfigEntry {
  return {
    name: r.string('name'),
    file: r.string('file'),
    issuer: r.string('issuer'),
    commonName: r.template('commonName', r.string('commonName'), false),
    organizations: r.strings('organizations').map((o) => r.template('organizations', o, false)),
    server: r.oneOf('server', SERVER_TARGETS),
    identity: r.oneOf('identity', KUBECONFIG_IDENTITIES, true),
    optional: r.boolean('optional', false),
    wiring: r.wiring(['kubeconfig']),
  };
}

function parseRoles(file: string, value: unknown): Partial<Record<Role, string[]>> {
  if (value === undefined) return {};
  const r = FieldReader.object(file, 'roles', value);
  return Object.fromEntries(ROLES.map((role) => [role, r.strings(role)]).filter(([, names]) => names!.length));
}

/** Cross-entry rules: unique names and files, issuers that are CAs defined earlier. */
function checkConsistency(file: string, profile: Profile): void {
  const names = new Set<string>();
  const files = new Set<string>();
  const cas = new Map<string, CertificateEntry>();
  const all = [...profile.certificates, ...profile.keyPairs, ...profile.kubeconfigs, ...profile.manifests];
  for (const entry of all) {
    if (names.has(entry.name)) throw badInput(file, `name "${entry.name}" is used twice`);
    names.add(entry.name);
  }
  const pathOf = (f: string) => f.replace(/\\/g, '/');
  for (const f of [...profile.certificates.map((c) => c.file), ...profile.keyPairs.map((k) => k.file)]) {
    if (files.has(f)) throw badInput(file, `file "${f}" is used twice`);
    if (f.startsWith('/') || pathOf(f).split('/').includes('..')) {
      throw badInput(file, `file "${f}" must be a relative path inside the directory`);
    }
    files.add(f);
  }
  for (const entry of profile.certificates) {
    if (entry.issuer) {
      const ca = cas.get(entry.issuer);
      if (!ca) throw badInput(file, `${entry.name}: issuer "${entry.issuer}" is not a CA defined before it`);
      if (ca.when && ca.when !== entry.when) {
        throw badInput(file, `${entry.name}: must carry "when: ${ca.when}" like its issuer ${ca.name}`);
      }
    } else {
      cas.set(entry.name, entry);
    }
  }
  for (const entry of profile.kubeconfigs) {
    if (!cas.has(entry.issuer)) throw badInput(file, `${entry.name}: issuer "${entry.issuer}" is not a CA`);
  }
  const aliases = profile.certificates.flatMap((c) => (c.alias ? [c.alias] : []));
  const twice = aliases.find((a, i) => aliases.indexOf(a) !== i);
  if (twice) throw badInput(file, `alias "${twice}" is used twice`);
  const wired = new Map<string, string>();
  for (const entry of all) {
    for (const w of 'wiring' in entry ? entry.wiring : []) {
      const flag = `${w.component} --${w.flag}`;
      if (wired.has(flag)) throw badInput(file, `${entry.name}: ${flag} is already wired to ${wired.get(flag)}`);
      wired.set(flag, entry.name);
    }
  }
  for (const [role, entries] of Object.entries(profile.roles)) {
    const unknown = entries.find((e) => !names.has(e));
    if (unknown) throw badInput(file, `roles.${role} names "${unknown}", which is no entry of the profile`);
  }
}

/**
 * The built-in profiles as the CLI bundle's build parsed them (scripts/bundle.mjs defines it), by
 * their exact text: parsing their YAML again would cost a short command ~20 ms. Not defined
 * outside the bundle, or for a profile file whose text differs.
 */
declare const KPKI_PARSED_PROFILES: Record<string, unknown> | undefined;

function profileYaml(text: string): unknown {
  const parsed = typeof KPKI_PARSED_PROFILES === 'undefined' ? undefined : KPKI_PARSED_PROFILES[text];
  return parsed ?? parseYaml(text);
}

/** Parses and validates a profile; every error names the file and the field. */
export function parseProfile(text: string, file: string): Profile {
  let doc: unknown;
  try {
    doc = profileYaml(text);
  } catch (error) {
    throw badInput(file, `not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const r = FieldReader.object(file, '', doc);
  if (r.string('kind') !== 'CertificateProfile') r.fail('kind', 'must be CertificateProfile');
  const profile: Profile = {
    name: r.string('name'),
    description: r.string('description', true) ?? '',
    policy: parsePolicy(FieldReader.object(file, 'policy', (doc as Record<string, unknown>).policy)),
    certificates: r.list('certificates').map(parseCertificate),
    keyPairs: r.list('keyPairs').map((k) => ({ name: k.string('name'), file: k.string('file'), wiring: k.wiring(['key', 'pub']) })),
    kubeconfigs: r.list('kubeconfigs').map(parseKubeconfig),
    manifests: r.list('manifests').map((m) => ({ name: m.string('name'), file: m.string('file'), content: m.string('content') })),
    roles: parseRoles(file, (doc as Record<string, unknown>).roles),
  };
  checkConsistency(file, profile);
  return profile;
}

/** The CAs users may name by alias (`cluster`, `front-proxy`, `etcd`): alias → file under the cert dir, without extension. */
export function caAliases(profile: Profile): Map<string, string> {
  return new Map(profile.certificates.flatMap((c) => (c.alias ? [[c.alias, c.file] as const] : [])));
}

/** A CA entry of the profile by any of its names: its entry name or its alias (`kpki cert --ca`'s names). */
export function caEntryName(profile: Profile, flag: string, name: string): string {
  const cas = profile.certificates.filter((c) => !c.issuer);
  const entry = cas.find((c) => c.alias === name)?.name ?? name;
  if (!cas.some((c) => c.name === entry)) {
    const aliases = cas.flatMap((c) => (c.alias ? [c.alias] : []));
    throw badFlag(
      flag,
      `"${name}" is not a CA of profile ${profile.name}`,
      `use one of ${cas.map((c) => c.name).join(', ')} (or ${aliases.join(', ')})`,
    );
  }
  return entry;
}

/** The certificates that live in each node's kubelet pki dir. */
export function kubeletPkiEntries(profile: Profile): CertificateEntry[] {
  return profile.certificates.filter((c) => c.location === 'kubeletPki');
}

/** Whether a subject is the one a node's kubelet carries, for any node name (NodeRestriction's view). */
export function isNodeIdentity(profile: Profile, commonName: string, organizations: string[]): boolean {
  const entry = profile.kubeconfigs.find((k) => k.identity === 'kubelet');
  if (!entry) return false;
  const [before, after] = entry.commonName.split('${nodeName}') as [string, string | undefined];
  const cnFits =
    after === undefined
      ? commonName === before
      : commonName.length > before.length + after.length && commonName.startsWith(before) && commonName.endsWith(after);
  return cnFits && entry.organizations.every((o) => organizations.includes(o));
}

/** The groups the profile's manifests bind to cluster-admin (kubeadm's kubeadm:cluster-admins): what an admin identity may carry besides system:masters. */
export function clusterAdminGroups(profile: Profile): string[] {
  return profile.manifests.flatMap((m) =>
    readYamlStream(m.content).documents.flatMap((doc) => {
      const binding = doc as {
        kind?: unknown;
        roleRef?: { kind?: unknown; name?: unknown };
        subjects?: { kind?: unknown; name?: unknown }[];
      } | null;
      if (binding?.kind !== 'ClusterRoleBinding' || binding.roleRef?.kind !== 'ClusterRole' || binding.roleRef.name !== 'cluster-admin')
        return [];
      return (binding.subjects ?? []).flatMap((s) => (s.kind === 'Group' && typeof s.name === 'string' ? [s.name] : []));
    }),
  );
}

/** The file names of the profile's kubeconfigs that carry one of these identities. */
export function kubeconfigFilesOf(profile: Profile, ...identities: NonNullable<KubeconfigEntry['identity']>[]): string[] {
  return profile.kubeconfigs.filter((k) => k.identity && identities.includes(k.identity)).map((k) => k.file);
}

/** The identity a node's kubelet authenticates with, from the profile's kubelet kubeconfig. */
export function nodeIdentity(profile: Profile, nodeName: string): { commonName: string; organizations: string[] } | undefined {
  const entry = profile.kubeconfigs.find((k) => k.identity === 'kubelet');
  const fill = (t: string) => t.replaceAll('${nodeName}', nodeName);
  return entry && { commonName: fill(entry.commonName), organizations: entry.organizations.map(fill) };
}

/** Fills `${…}` placeholders; list placeholders expand to zero or more entries. */
export function expandTemplate(template: string, vars: Record<TemplateVariable, string | string[]>): string[] {
  const whole = /^\$\{([A-Za-z]+)\}$/.exec(template);
  if (whole) {
    const value = vars[whole[1] as TemplateVariable];
    return Array.isArray(value) ? value : [value];
  }
  return [template.replace(PLACEHOLDER, (_, v: string) => String(vars[v as TemplateVariable]))];
}

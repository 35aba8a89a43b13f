import path from 'node:path';
import { promises as fs } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { badInput } from '../errors.js';
import { isBinaryText, readRequired } from '../store/files.js';
import type { ApiServiceInput } from './model.js';

export type Component = 'apiserver' | 'etcd' | 'controller-manager' | 'scheduler' | 'kubelet';

/** Flags as a component sees them; keys without leading dashes, every occurrence kept. */
export interface ComponentArgs {
  component: Component;
  /** Where the flags came from: a file, `stdin`, or kpki's own kubeadm defaults. */
  origin: string;
  flags: Map<string, string[]>;
}

/** The binary (and static pod container) name of each component. */
const BINARIES: Record<Component, string> = {
  apiserver: 'kube-apiserver',
  etcd: 'etcd',
  'controller-manager': 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  kubelet: 'kubelet',
};

/** The value a component uses: the last occurrence wins, as with Go's flag package. */
export function flag(args: ComponentArgs, name: string): string | undefined {
  return args.flags.get(name)?.at(-1);
}

/** A list flag: every occurrence, comma-split. */
export function flagList(args: ComponentArgs, name: string): string[] {
  return (args.flags.get(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** Splits a command line as a shell would: quotes, backslash escapes, NUL separators (/proc/PID/cmdline). */
export function splitCommandLine(text: string): string[] {
  const tokens: string[] = [];
  let current: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      current ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      current = (current ?? '') + text[++i];
    } else if (/[\s\0]/.test(c)) {
      if (current !== undefined) tokens.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + c;
    }
  }
  if (current !== undefined) tokens.push(current);
  return tokens;
}

/** Reads `--a=b`, `--a b` and boolean `--a` from tokens; other words (the binary) are skipped. */
export function parseFlagTokens(tokens: string[]): Map<string, string[]> {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!/^--?[A-Za-z]/.test(token)) continue;
    const body = token.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let name = body;
    let value = 'true';
    if (eq >= 0) {
      name = body.slice(0, eq);
      value = body.slice(eq + 1);
    } else if (i + 1 < tokens.length && !tokens[i + 1]!.startsWith('-')) {
      value = tokens[++i]!;
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return flags;
}

type Doc = Record<string, unknown>;

// NUL separates the arguments of /proc/PID/cmdline: text, not binary.
const isBinary = (text: string) => isBinaryText(text.replace(/\0/g, ' '));

function yamlDocuments(text: string): Doc[] | undefined {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.some((d) => d.errors.length)) return undefined;
  const values = list.map((d) => d.toJS() as unknown).filter((v) => v !== null && v !== undefined);
  return values.length && values.every((v) => typeof v === 'object' && !Array.isArray(v)) ? (values as Doc[]) : undefined;
}

/** The container of a static pod that runs the component: by name, else by its command. */
function podContainerArgs(doc: Doc, component: Component): string[] | undefined {
  const containers = ((doc.spec as Doc | undefined)?.containers ?? []) as Doc[];
  const binary = BINARIES[component];
  const container = containers.find(
    (c) => c.name === binary || path.basename(String((c.command as string[] | undefined)?.[0] ?? '')) === binary,
  );
  if (!container) return undefined;
  return [...((container.command as string[] | undefined) ?? []), ...((container.args as string[] | undefined) ?? [])].map(String);
}

/** BOSH-style jobs: `processes: [{name, args: [...]}]`. */
function boshArgs(doc: Doc, component: Component): string[] | undefined {
  const processes = doc.processes as Doc[] | undefined;
  if (!Array.isArray(processes)) return undefined;
  const binary = BINARIES[component];
  const process = processes.find((p) => p.name === binary) ?? (processes.length === 1 ? processes[0] : undefined);
  return process && Array.isArray(process.args) ? process.args.map(String) : undefined;
}

/**
 * Flags from any of the forms users have: a static pod manifest, BOSH-style YAML, a flags file
 * (one per line, or a whole command line) or a NUL-separated /proc/PID/cmdline.
 */
export function parseComponentArgs(text: string, component: Component, origin: string): ComponentArgs {
  if (isBinary(text)) throw badInput(origin, 'is binary data, not flags or a manifest', `give a static pod manifest, a flags file or the ${BINARIES[component]} command line`);
  const trimmed = text.trim();
  if (!trimmed) throw badInput(origin, 'is empty', `give ${BINARIES[component]}'s flags`);
  if (!trimmed.startsWith('-') && !trimmed.startsWith(BINARIES[component]) && !trimmed.startsWith('/')) {
    const docs = yamlDocuments(text);
    if (docs) {
      for (const doc of docs) {
        const args = doc.kind === 'Pod' ? podContainerArgs(doc, component) : boshArgs(doc, component);
        if (args) return { component, origin, flags: parseFlagTokens(args) };
      }
      const kinds = docs.map((d) => d.kind ?? (d.processes ? 'BOSH job' : 'YAML mapping')).join(', ');
      throw badInput(origin, `is a ${kinds} without a ${BINARIES[component]} container or process`, `give ${BINARIES[component]}'s static pod manifest or flags`);
    }
  }
  const flags = parseFlagTokens(splitCommandLine(text));
  if (flags.size === 0) throw badInput(origin, 'holds no --flags', `give a static pod manifest, a flags file or the ${BINARIES[component]} command line`);
  return { component, origin, flags };
}

/** Reads flags from a file, or from standard input for `-`. */
export async function readComponentArgs(source: string, component: Component, stdin?: () => Promise<string>): Promise<ComponentArgs> {
  if (source === '-') {
    if (!stdin) throw badInput('-', 'standard input is not available here');
    return parseComponentArgs(await stdin(), component, 'stdin');
  }
  const data = await readRequired(source, `${BINARIES[component]}'s manifest or flags file`);
  return parseComponentArgs(data.toString('utf8'), component, source);
}

/** Every control-plane static pod manifest in a directory, recognised by container. */
export async function readManifestsDir(dir: string): Promise<ComponentArgs[]> {
  const names = await fs.readdir(dir).catch(() => {
    throw badInput(dir, 'is not a readable directory', 'point --manifests-dir at /etc/kubernetes/manifests or a copy');
  });
  const found: ComponentArgs[] = [];
  for (const name of names.filter((n) => /\.(ya?ml|json)$/.test(n)).sort()) {
    const file = path.join(dir, name);
    const docs = yamlDocuments((await fs.readFile(file)).toString('utf8'));
    const pod = docs?.find((d) => d.kind === 'Pod');
    if (!pod) continue;
    for (const component of ['apiserver', 'etcd', 'controller-manager', 'scheduler'] as const) {
      const args = podContainerArgs(pod, component);
      if (args && !found.some((f) => f.component === component)) found.push({ component, origin: file, flags: parseFlagTokens(args) });
    }
  }
  if (!found.length) throw badInput(dir, 'holds no control-plane static pod manifests', 'point --manifests-dir at /etc/kubernetes/manifests or a copy');
  return found;
}

/** What kpki needs from the kubelet's configuration. */
export interface KubeletSettings {
  origin: string;
  clientCAFile?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  kubeconfig?: string;
  clusterDomain?: string;
}

/** A KubeletConfiguration YAML, or the kubelet's flags. */
export function parseKubeletConfig(text: string, origin: string): KubeletSettings {
  const docs = text.trim().startsWith('-') ? undefined : yamlDocuments(text);
  const config = docs?.find((d) => d.kind === 'KubeletConfiguration');
  if (config) {
    const x509 = ((config.authentication as Doc | undefined)?.x509 ?? {}) as Doc;
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    return {
      origin,
      clientCAFile: str(x509.clientCAFile),
      tlsCertFile: str(config.tlsCertFile),
      tlsPrivateKeyFile: str(config.tlsPrivateKeyFile),
      clusterDomain: str(config.clusterDomain),
    };
  }
  if (docs) throw badInput(origin, 'is YAML but not a KubeletConfiguration', 'give /var/lib/kubelet/config.yaml or the kubelet flags');
  const args = parseComponentArgs(text, 'kubelet', origin);
  return {
    origin,
    clientCAFile: flag(args, 'client-ca-file'),
    tlsCertFile: flag(args, 'tls-cert-file'),
    tlsPrivateKeyFile: flag(args, 'tls-private-key-file'),
    kubeconfig: flag(args, 'kubeconfig'),
    clusterDomain: flag(args, 'cluster-domain'),
  };
}

export async function readKubeletSettings(source: string, stdin?: () => Promise<string>): Promise<KubeletSettings> {
  const text = source === '-' && stdin ? await stdin() : (await readRequired(source, "the kubelet's config file")).toString('utf8');
  return parseKubeletConfig(text, source === '-' ? 'stdin' : source);
}

/** Files of a path: itself, or the YAML/certificate files directly inside a folder. */
async function filesOf(target: string, pattern: RegExp): Promise<string[]> {
  const stat = await fs.stat(target).catch(() => undefined);
  if (!stat) throw badInput(target, 'no such file or directory');
  if (!stat.isDirectory()) return [target];
  return (await fs.readdir(target)).filter((n) => pattern.test(n)).sort().map((n) => path.join(target, n));
}

/** APIService objects from YAML files or a folder of them (`kind: List` and multi-document files too). */
export async function readApiServices(target: string): Promise<ApiServiceInput[]> {
  const found: ApiServiceInput[] = [];
  for (const file of await filesOf(target, /\.(ya?ml|json)$/)) {
    const docs = yamlDocuments((await fs.readFile(file)).toString('utf8'));
    if (!docs) throw badInput(file, 'is not YAML', 'give APIService manifests (kubectl get apiservice NAME -o yaml)');
    const objects = docs.flatMap((d) => (d.kind === 'List' || d.kind === 'APIServiceList' ? ((d.items as Doc[]) ?? []) : [d]));
    for (const o of objects.filter((o) => o.kind === 'APIService')) {
      const spec = (o.spec ?? {}) as Doc;
      const service = spec.service as Doc | undefined;
      found.push({
        file,
        name: String((o.metadata as Doc | undefined)?.name ?? `${spec.version}.${spec.group}`),
        service: service ? { name: String(service.name), namespace: String(service.namespace) } : undefined,
        caBundle: typeof spec.caBundle === 'string' && spec.caBundle ? spec.caBundle : undefined,
        insecureSkipTLSVerify: spec.insecureSkipTLSVerify === true,
        group: String(spec.group ?? ''),
        version: String(spec.version ?? ''),
      });
    }
  }
  if (!found.length) throw badInput(target, 'holds no APIService', 'give APIService manifests (kubectl get apiservice NAME -o yaml)');
  return found;
}

/** Serving certificate files: a file, or the certificate files in a folder. */
export function servingCertFiles(target: string): Promise<string[]> {
  return filesOf(target, /\.(crt|pem|cer)$/);
}

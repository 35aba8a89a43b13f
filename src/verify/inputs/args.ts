import path from 'node:path';
import { badInput } from '../../errors.js';
import { COMPONENTS, type FlagComponent } from '../../model/flags.js';
import { isBinaryText } from '../../model/text.js';
import { readYamlStream } from '../../model/yaml.js';
import { KNOWN_FLAGS } from '../known-flags.js';

export type Component = FlagComponent | 'kubelet';

/** Flags as a component sees them; keys without leading dashes, every occurrence kept. */
export interface ComponentArgs {
  component: Component;
  /** Where the flags came from: a file, `stdin`, or kpki's own kubeadm defaults. */
  origin: string;
  flags: Map<string, string[]>;
  /** The Kubernetes version it runs, where the input says: a static pod's image tag (`v1.20.2`). */
  version?: string;
}

/** The binary (and static pod container) name of each component. */
export const BINARIES: Record<Component, string> = {
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
  return (args.flags.get(name) ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/**
 * Whether kube-controller-manager runs controller `name` (one on by default) under its --controllers
 * list, as 1.20's IsControllerEnabled decides: the first of `name` or `-name` wins, else `*` (the
 * flag's default) enables it.
 */
export function controllerEnabled(args: ComponentArgs, name: string): boolean {
  const list = args.flags.has('controllers') ? flagList(args, 'controllers') : ['*'];
  for (const entry of list) {
    if (entry === name) return true;
    if (entry === `-${name}`) return false;
  }
  return list.includes('*');
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
function parseFlagTokens(tokens: string[]): Map<string, string[]> {
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

export type Doc = Record<string, unknown>;

// NUL separates the arguments of /proc/PID/cmdline: text, not binary.
const isBinary = (text: string) => isBinaryText(text.replace(/\0/g, ' '));

export function yamlDocuments(text: string): Doc[] | undefined {
  const { documents, error } = readYamlStream(text);
  if (error !== undefined) return undefined;
  const values = documents.filter((v) => v !== null && v !== undefined);
  return values.length && values.every((v) => typeof v === 'object' && !Array.isArray(v)) ? (values as Doc[]) : undefined;
}

/** The container of a static pod that runs the component: by name, else by its command. */
function podContainer(doc: Doc, component: Component): Doc | undefined {
  const containers = ((doc.spec as Doc | undefined)?.containers ?? []) as Doc[];
  const binary = BINARIES[component];
  return containers.find((c) => c.name === binary || path.basename(String((c.command as string[] | undefined)?.[0] ?? '')) === binary);
}

/** That container's command line: command, then args. */
function podContainerArgs(doc: Doc, component: Component): string[] | undefined {
  const container = podContainer(doc, component);
  if (!container) return undefined;
  return [...((container.command as string[] | undefined) ?? []), ...((container.args as string[] | undefined) ?? [])].map(String);
}

/** The version tag of a static pod's image (`registry.k8s.io/kube-apiserver:v1.20.2` → `v1.20.2`). */
function podImageVersion(doc: Doc, component: Component): string | undefined {
  const image = podContainer(doc, component)?.image;
  return typeof image === 'string' ? /:(v\d+\.\d+[^@/:]*)(?:@|$)/.exec(image)?.[1] : undefined;
}

/**
 * The control-plane components of a directory of static pod manifests, recognised by container;
 * the first manifest that runs a component gives its flags. Files that are not a Pod are skipped.
 */
export function parseManifests(files: readonly { origin: string; text: string }[]): ComponentArgs[] {
  const found: ComponentArgs[] = [];
  for (const { origin, text } of files) {
    const pod = yamlDocuments(text)?.find((d) => d.kind === 'Pod');
    if (!pod) continue;
    for (const component of COMPONENTS) {
      const args = podContainerArgs(pod, component);
      if (args && !found.some((f) => f.component === component))
        found.push({ component, origin, flags: parseFlagTokens(args), version: podImageVersion(pod, component) });
    }
  }
  return found;
}

/** BOSH-style jobs: `processes: [{name, args: [...]}]`. */
function boshArgs(doc: Doc, component: Component, origin: string): string[] | undefined {
  const processes = doc.processes as Doc[] | undefined;
  if (!Array.isArray(processes)) return undefined;
  const binary = BINARIES[component];
  const process = processes.find((p) => p.name === binary) ?? (processes.length === 1 ? processes[0] : undefined);
  if (process && process.name !== binary) wrongComponent(String(process.name), component, origin, `a BOSH job of ${String(process.name)}`);
  return process && Array.isArray(process.args) ? process.args.map(String) : undefined;
}

/** Flags only the kubelet has (v1.20): a kubelet command line given as another component's. */
const KUBELET_ONLY_FLAGS = new Set([
  'bootstrap-kubeconfig',
  'container-runtime',
  'container-runtime-endpoint',
  'pod-infra-container-image',
  'node-ip',
  'hostname-override',
  'cgroup-driver',
  'network-plugin',
  'register-node',
  'rotate-certificates',
  'pod-manifest-path',
  'cluster-dns',
  'fail-swap-on',
  'node-labels',
]);

const COMPONENT_OF_BINARY = new Map(Object.entries(BINARIES).map(([component, binary]) => [binary, component as Component]));

/** The verify option that takes each component's flags. */
const OPTION: Record<Component, string> = {
  apiserver: '--apiserver-args',
  etcd: '--etcd-args',
  'controller-manager': '--controller-manager-args',
  scheduler: '--scheduler-args',
  kubelet: '--kubelet-config',
};

/** Refuses the flags of another component, naming what they look like. */
function wrongComponent(binary: string, component: Component, origin: string, what: string): void {
  const other = COMPONENT_OF_BINARY.get(path.basename(binary));
  if (!other || other === component) return;
  throw badInput(
    origin,
    `is ${what}, not ${BINARIES[component]}'s (given as ${OPTION[component]})`,
    `pass it with ${OPTION[other]}, and give ${OPTION[component]} ${BINARIES[component]}'s own flags`,
  );
}

/** The component whose flags these are, when they are clearly not `component`'s. */
function lookalike(flags: Map<string, string[]>, component: Component): Component | undefined {
  const names = [...flags.keys()];
  if (names.filter((n) => KUBELET_ONLY_FLAGS.has(n)).length >= 2) return 'kubelet';
  if (component === 'kubelet' || names.length < 3) return undefined;
  const share = (c: keyof typeof KNOWN_FLAGS) => names.filter((n) => KNOWN_FLAGS[c].has(n)).length / names.length;
  if (share(component) >= 0.5) return undefined;
  return (Object.keys(KNOWN_FLAGS) as (keyof typeof KNOWN_FLAGS)[]).find((c) => c !== component && share(c) >= 0.9);
}

/** Flags parsed from tokens, refused when the command line or the flags are another component's. */
function componentFlags(tokens: string[], component: Component, origin: string): Map<string, string[]> {
  const binary = tokens.find((t) => !t.startsWith('-'));
  if (binary && tokens[0] === binary) wrongComponent(binary, component, origin, `the command line of ${path.basename(binary)}`);
  const flags = parseFlagTokens(tokens);
  const other = lookalike(flags, component);
  if (other)
    wrongComponent(
      BINARIES[other],
      component,
      origin,
      `${BINARIES[other]}'s flags (${[...flags.keys()]
        .slice(0, 3)
        .map((n) => `--${n}`)
        .join(', ')}, …)`,
    );
  return flags;
}

/**
 * Flags from any of the forms users have: a static pod manifest, BOSH-style YAML, a flags file
 * (one per line, or a whole command line) or a NUL-separated /proc/PID/cmdline.
 */
export function parseComponentArgs(text: string, component: Component, origin: string): ComponentArgs {
  if (isBinary(text))
    throw badInput(
      origin,
      'is binary data, not flags or a manifest',
      `give a static pod manifest, a flags file or the ${BINARIES[component]} command line`,
    );
  const trimmed = text.trim();
  if (!trimmed) throw badInput(origin, 'is empty', `give ${BINARIES[component]}'s flags`);
  if (!trimmed.startsWith('-') && !trimmed.startsWith(BINARIES[component]) && !trimmed.startsWith('/')) {
    const docs = yamlDocuments(text);
    if (docs) {
      for (const doc of docs) {
        const args = doc.kind === 'Pod' ? podContainerArgs(doc, component) : boshArgs(doc, component, origin);
        if (args)
          return {
            component,
            origin,
            flags: componentFlags(args, component, origin),
            version: doc.kind === 'Pod' ? podImageVersion(doc, component) : undefined,
          };
        const other = doc.kind === 'Pod' && (Object.keys(BINARIES) as Component[]).find((c) => podContainerArgs(doc, c));
        if (other) wrongComponent(BINARIES[other], component, origin, `the static pod of ${BINARIES[other]}`);
      }
      const kinds = docs.map((d) => d.kind ?? (d.processes ? 'BOSH job' : 'YAML mapping')).join(', ');
      throw badInput(
        origin,
        `is a ${kinds} without a ${BINARIES[component]} container or process`,
        `give ${BINARIES[component]}'s static pod manifest or flags`,
      );
    }
  }
  const flags = componentFlags(splitCommandLine(text), component, origin);
  if (flags.size === 0)
    throw badInput(origin, 'holds no --flags', `give a static pod manifest, a flags file or the ${BINARIES[component]} command line`);
  return { component, origin, flags };
}

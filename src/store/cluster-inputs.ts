import { promises as fs } from 'node:fs';
import path from 'node:path';
import { badInput } from '../errors.js';
import { COMPONENTS } from '../model/flags.js';
import { NO_API_SERVICE_HINT, parseApiServices, type ApiServiceInput } from '../verify/inputs/apiservice.js';
import { BINARIES, parseComponentArgs, parseFlagTokens, podContainerArgs, yamlDocuments, type Component, type ComponentArgs } from '../verify/inputs/args.js';
import { parseKubeletConfig, type KubeletSettings } from '../verify/inputs/kubelet.js';
import { readInput } from './bounded-read.js';
import { listDirectory } from './tree.js';

/**
 * Reading what the user named on the command line for verify (flags files, manifests, the
 * kubelet's config, APIServices), parsed by verify's input parsers: errors here are the user's to
 * fix, so they throw.
 */

type Stdin = (() => Promise<string>) | undefined;

async function text(source: string, what: string, stdin: Stdin): Promise<[string, string]> {
  if (source !== '-') return [(await readInput(source, what)).toString('utf8'), source];
  if (!stdin) throw badInput('-', 'standard input is not available here');
  return [await stdin(), 'stdin'];
}

/** Flags from a file, or from standard input for `-`. */
export async function readComponentArgs(source: string, component: Component, stdin: Stdin): Promise<ComponentArgs> {
  const [content, origin] = await text(source, `${BINARIES[component]}'s manifest or flags file`, stdin);
  return parseComponentArgs(content, component, origin);
}

export async function readKubeletSettings(source: string, stdin: Stdin): Promise<KubeletSettings> {
  const [content, origin] = await text(source, "the kubelet's config file", stdin);
  return parseKubeletConfig(content, origin);
}

const MANIFESTS_HINT = 'point --manifests-dir at /etc/kubernetes/manifests or a copy';

/**
 * Every control-plane static pod manifest in a directory, recognised by container. With
 * `emptyIsNormal` (a node copy's /etc/kubernetes/manifests: empty on every kubeadm worker) a
 * directory without any is no error.
 */
export async function readManifestsDir(dir: string, emptyIsNormal = false): Promise<ComponentArgs[]> {
  const found: ComponentArgs[] = [];
  for (const name of (await listDirectory(dir, '--manifests-dir', MANIFESTS_HINT)).filter((n) => /\.(ya?ml|json)$/.test(n))) {
    const file = path.join(dir, name);
    const docs = yamlDocuments((await readInput(file, 'a static pod manifest')).toString('utf8'));
    const pod = docs?.find((d) => d.kind === 'Pod');
    if (!pod) continue;
    for (const component of COMPONENTS) {
      const args = podContainerArgs(pod, component);
      if (args && !found.some((f) => f.component === component)) found.push({ component, origin: file, flags: parseFlagTokens(args) });
    }
  }
  if (!found.length && !emptyIsNormal) throw badInput(dir, 'holds no control-plane static pod manifests', MANIFESTS_HINT);
  return found;
}

/** Files of a path: itself, or the files matching `pattern` directly inside a folder. */
async function filesOf(target: string, pattern: RegExp, flag: string): Promise<string[]> {
  const stat = await fs.stat(target).catch(() => undefined);
  if (!stat) throw badInput(target, `no such file or directory (${flag})`);
  if (!stat.isDirectory()) return [target];
  return (await listDirectory(target, flag, `give ${flag} a file or a folder of them`)).filter((n) => pattern.test(n)).map((n) => path.join(target, n));
}

/** APIService objects from YAML files or a folder of them. */
export async function readApiServices(target: string): Promise<ApiServiceInput[]> {
  const found: ApiServiceInput[] = [];
  for (const file of await filesOf(target, /\.(ya?ml|json)$/, '--apiservice')) {
    found.push(...parseApiServices((await readInput(file, 'an APIService manifest')).toString('utf8'), file));
  }
  if (!found.length) throw badInput(target, 'holds no APIService', NO_API_SERVICE_HINT);
  return found;
}

/** Serving certificate files: a file, or the certificate files in a folder. */
export function servingCertFiles(target: string): Promise<string[]> {
  return filesOf(target, /\.(crt|pem|cer)$/, '--serving-cert');
}

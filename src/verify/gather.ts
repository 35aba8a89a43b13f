import { promises as fs } from 'node:fs';
import path from 'node:path';
import { badInput } from '../errors.js';
import { COMPONENTS } from '../model/flags.js';
import { NO_API_SERVICE_HINT, parseApiServices, type ApiServiceInput } from './inputs/apiservice.js';
import { BINARIES, parseComponentArgs, parseFlagTokens, podContainerArgs, yamlDocuments, type Component, type ComponentArgs } from './inputs/args.js';
import { parseKubeletConfig, type KubeletSettings } from './inputs/kubelet.js';
import { readInput } from './read.js';

/** Reading what the user named on the command line: errors here are the user's to fix, so they throw. */

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

/** A directory's entries, or a one-line error naming it. */
export async function listDirectory(dir: string, flag: string, hint: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOTDIR' ? 'is a file, not a directory' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symlink loop' : `cannot be read: ${(error as Error).message}`;
    throw badInput(dir, `${problem} (${flag})`, hint);
  }
}

const MANIFESTS_HINT = 'point --manifests-dir at /etc/kubernetes/manifests or a copy';

/** Every control-plane static pod manifest in a directory, recognised by container. */
export async function readManifestsDir(dir: string): Promise<ComponentArgs[]> {
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
  if (!found.length) throw badInput(dir, 'holds no control-plane static pod manifests', MANIFESTS_HINT);
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

const PKI_FILE = /\.(crt|key|pub|pem)$/;
/** A kubeadm tree has a dozen files; a directory with thousands is not a PKI directory. */
const MAX_PKI_FILES = 2000;
const MAX_PKI_DEPTH = 4;

/** Every certificate, key and public key file below a PKI directory (symlinked folders not followed). */
export async function pkiFiles(certDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory() && depth < MAX_PKI_DEPTH) await walk(file, depth + 1);
      else if ((entry.isFile() || entry.isSymbolicLink()) && PKI_FILE.test(entry.name)) found.push(file);
      if (found.length > MAX_PKI_FILES) throw badInput(certDir, `holds more than ${MAX_PKI_FILES} certificate and key files: not a PKI directory`, 'point --cert-dir at a PKI directory such as /etc/kubernetes/pki');
    }
  };
  const top = await listDirectory(certDir, '--cert-dir', 'point --cert-dir at a PKI directory such as /etc/kubernetes/pki');
  if (!top.length) return found;
  await walk(certDir, 0);
  return found;
}

/** True when something is at `file` (an unreadable one too: reading it then says why). */
export const exists = (file: string) => fs.stat(file).then(() => true, (error: NodeJS.ErrnoException) => error.code !== 'ENOENT');

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { badInput } from '../errors.js';
import { readInput } from './bounded-read.js';
import { listDirectory } from './tree.js';

/**
 * Reading what the user named on the command line for verify (flags files, manifests, the
 * kubelet's config, APIServices): bytes as text, bounded, each with the name it is reported by.
 * Parsing is verify/inputs/'s; errors here are the user's to fix, so they throw.
 */

/** A text input and the name findings and errors give it (`stdin` for `-`). */
export interface InputText {
  origin: string;
  text: string;
}

export type Stdin = (() => Promise<string>) | undefined;

/** A file, or standard input for `-`; `what` says what it should be, for errors. */
export async function readInputText(source: string, what: string, stdin: Stdin): Promise<InputText> {
  if (source !== '-') return { origin: source, text: (await readInput(source, what)).toString('utf8') };
  if (!stdin) throw badInput('-', 'standard input is not available here');
  return { origin: 'stdin', text: await stdin() };
}

/** Every YAML or JSON file directly inside a manifests directory (--manifests-dir), with its text. */
export async function readManifestFiles(dir: string, hint: string): Promise<InputText[]> {
  const names = (await listDirectory(dir, '--manifests-dir', hint)).filter((n) => /\.(ya?ml|json)$/.test(n));
  return Promise.all(names.map(async (name) => readInputText(path.join(dir, name), 'a static pod manifest', undefined)));
}

/** Files of a path: itself, or the files matching `pattern` directly inside a folder. */
async function filesOf(target: string, pattern: RegExp, flag: string): Promise<string[]> {
  const stat = await fs.stat(target).catch(() => undefined);
  if (!stat) throw badInput(target, `no such file or directory (${flag})`);
  if (!stat.isDirectory()) return [target];
  return (await listDirectory(target, flag, `give ${flag} a file or a folder of them`))
    .filter((n) => pattern.test(n))
    .map((n) => path.join(target, n));
}

/** The YAML or JSON files --apiservice names (a file or a folder of them), with their text. */
export async function readApiServiceFiles(target: string): Promise<InputText[]> {
  return Promise.all(
    (await filesOf(target, /\.(ya?ml|json)$/, '--apiservice')).map((file) => readInputText(file, 'an APIService manifest', undefined)),
  );
}

/** Serving certificate files: a file, or the certificate files in a folder. */
export function servingCertFiles(target: string): Promise<string[]> {
  return filesOf(target, /\.(crt|pem|cer)$/, '--serving-cert');
}

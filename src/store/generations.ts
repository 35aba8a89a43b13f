import { randomHex } from '../pki/random.js';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, KpkiError } from '../errors.js';
import { createSynced, linkTarget, listOrNothing, readOptional, syncDirectories } from './files.js';

/**
 * A directory switched as a whole, for writes that change a private key (see journal.ts for why):
 * kubeadm's names become symlinks `NAME -> ..data/NAME`, and `..data -> ..<generation>` is a
 * directory holding one complete set. Replacing `..data` (one rename) changes every linked name at
 * once, so after a crash at any instant the names resolve to the old set or to the new one. The
 * layout is Kubernetes' AtomicWriter's (secret and configMap volumes). Every reader that opens
 * files by name (kubeadm, kube-apiserver, etcd, Go's tls.LoadX509KeyPair, openssl, kpki) follows
 * the links; modes are the files' own (keys 0600).
 */

export const DATA_LINK = '..data';
/** `..2026_12_07_02_51_13.<hex>`: when it was made (for whoever looks), as AtomicWriter names them. */
const GENERATION = /^\.\.\d{4}(?:_\d\d){5}\.[0-9a-f]+$/;

interface Content {
  data: Buffer;
  mode: number;
}

/** Whether `name` in `dir` is one of the switched names (a symlink into `..data`). */
function isLinked(dir: string, name: string): boolean {
  return linkTarget(path.join(dir, name)) === path.join(DATA_LINK, name);
}

/** Where a write of `file` goes: through `..data` when the name is switched, so the link stays. */
export function resolveTarget(file: string): string {
  const dir = path.dirname(file);
  return isLinked(dir, path.basename(file)) ? path.join(dir, DATA_LINK, path.basename(file)) : file;
}

function currentGeneration(dir: string): string | undefined {
  return linkTarget(path.join(dir, DATA_LINK));
}

/** The files of the current generation, by name. */
function generationContents(dir: string): Map<string, Content> {
  const contents = new Map<string, Content>();
  const current = currentGeneration(dir);
  if (!current) return contents;
  // kubeadm's names only: never a temp file a killed run left.
  for (const name of listOrNothing(path.join(dir, current)).filter((n) => !n.startsWith('.'))) {
    const file = path.join(dir, current, name);
    contents.set(name, { data: readFileSync(file), mode: statSync(file).mode & 0o777 });
  }
  return contents;
}

function switchError(dir: string, error: unknown): KpkiError {
  return new KpkiError(ErrorCode.WriteFailed, `${dir}: cannot switch its files: ${(error as Error).message}`, {
    subject: dir,
    hint: 'check that the directory is writable and the disk is not full',
  });
}

/** A new generation directory holding `contents`, every file and the directory synced; returns its name. */
async function stageGeneration(dir: string, contents: Map<string, Content>): Promise<string> {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-T:]/g, '_');
  const name = `..${stamp}.${randomHex(4)}`;
  const generation = path.join(dir, name);
  try {
    mkdirSync(generation, { mode: 0o755 });
    await Promise.all([...contents].map(([file, { data, mode }]) => createSynced(path.join(generation, file), data, mode)));
    await syncDirectories([generation]);
    return name;
  } catch (error) {
    rmSync(generation, { recursive: true, force: true });
    throw switchError(dir, error);
  }
}

/** Replaces `link` in `dir` by a symlink to `target`: made under a temp name, renamed over it. */
function replaceLink(dir: string, link: string, target: string): void {
  const temp = path.join(dir, `.${link.replace(/^\.+/, '')}.kpki-tmp-${process.pid}-${randomHex(4)}`);
  try {
    symlinkSync(target, temp);
    renameSync(temp, path.join(dir, link));
  } catch (error) {
    rmSync(temp, { force: true });
    throw switchError(dir, error);
  }
}

/** Points `..data` at `generation` (the commit of a switch), then drops the generations nothing points at. */
export async function switchGeneration(dir: string, generation: string): Promise<void> {
  // Gone: a recovery already switched to it and a later switch replaced it.
  if (!statSync(path.join(dir, generation), { throwIfNoEntry: false })) return;
  if (currentGeneration(dir) !== generation) replaceLink(dir, DATA_LINK, generation);
  await syncDirectories([dir]);
  removeStaleGenerations(dir);
}

/**
 * Makes `names` switched names without changing what any of them reads: the current contents
 * (plain files and the current generation) are copied into a new generation, `..data` is pointed
 * at it, then each plain name is replaced by its link. A crash at any point leaves every name
 * reading its old bytes. A name that does not exist yet gets a link that resolves to nothing,
 * which reads as absent.
 */
async function linkNames(dir: string, names: string[]): Promise<void> {
  const plain: string[] = [];
  for (const name of names) if (!isLinked(dir, name)) plain.push(name);
  if (!plain.length) return;
  const contents = generationContents(dir);
  for (const name of plain) {
    const file = path.join(dir, name);
    const data = await readOptional(file);
    if (data) contents.set(name, { data, mode: statSync(file).mode & 0o777 });
  }
  await switchGeneration(dir, await stageGeneration(dir, contents));
  for (const name of plain) replaceLink(dir, name, path.join(DATA_LINK, name));
  await syncDirectories([dir]);
}

/**
 * Prepares the switch of `dir` to a set where `writes` (files in `dir`) have their new bytes and
 * every other switched name keeps its own; nothing a reader sees changes until switchGeneration.
 * Returns the generation to switch to.
 */
export async function prepareSwitch(dir: string, writes: { name: string; data: string | Buffer; mode: number }[]): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await linkNames(
    dir,
    writes.map((w) => w.name),
  );
  const contents = generationContents(dir);
  for (const write of writes) contents.set(write.name, { data: Buffer.from(write.data), mode: write.mode });
  return stageGeneration(dir, contents);
}

/**
 * Generation directories nothing points at: replaced ones, and those a killed run staged and never
 * switched to. Called only by a switch, under the lock that keeps every other writer out of the
 * directory and after the killed runs' journals were completed, so no other one is still wanted.
 */
function removeStaleGenerations(dir: string): void {
  const current = currentGeneration(dir);
  for (const name of listOrNothing(dir)) {
    if (GENERATION.test(name) && name !== current) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Whether `name` in a directory listing is the switch's own (`..data`, a generation): never one of kubeadm's files. */
export const isSwitchEntry = (name: string): boolean => name.startsWith('..');

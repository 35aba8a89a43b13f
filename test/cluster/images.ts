/**
 * The container images a test worker runs, built here without a registry:
 *
 *   PAUSE_IMAGE    the sandbox image: build/pause/linux/pause.c of the Kubernetes source that
 *                  scripts/k8s-binaries.sh unpacked, compiled with `gcc -static` (cached beside the
 *                  binaries, like them)
 *   BUSYBOX_IMAGE  /bin/busybox (Debian's busybox-static) with an `sh` link, for static test pods
 *
 * Each is a docker-archive tarball (manifest.json, an image config and one layer.tar) that
 * `ctr images import` reads; importImages() loads both into one containerd's k8s.io namespace.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runOk } from '../interop/helpers.js';
import { K8S_BIN } from './harness.js';

export const PAUSE_IMAGE = 'kpki.test/pause:3.2';
export const BUSYBOX_IMAGE = 'kpki.test/busybox:1';

/** Beside the Kubernetes binaries (read at call time: harness.ts imports this module through node.ts). */
const k8sCache = (...parts: string[]) => path.join(path.dirname(K8S_BIN), ...parts);
const BUSYBOX = '/bin/busybox';
const GCC = '/usr/bin/gcc';
const TAR = '/bin/tar';

/** A file the worker needs; missing, it fails the suite with what provides it (never a skip). */
export function requireFile(file: string, hint: string, mode = fsConstants.R_OK): string {
  try {
    accessSync(file, mode);
    return file;
  } catch {
    throw new Error(`the cluster suite's worker needs ${file}, which is missing: ${hint}`);
  }
}

/** The static pause binary, compiled once and cached. */
async function pauseBinary(): Promise<string> {
  const binary = k8sCache('pause', 'pause');
  try {
    accessSync(binary, fsConstants.X_OK);
    return binary;
  } catch {
    // not built yet
  }
  const source = requireFile(
    k8sCache('work/gopath/src/k8s.io/kubernetes/build/pause/linux/pause.c'),
    'run scripts/k8s-binaries.sh (it unpacks the Kubernetes source)',
  );
  requireFile(GCC, 'apt-get install gcc libc6-dev (bash .ci/run does)', fsConstants.X_OK);
  await mkdir(path.dirname(binary), { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  // VERSION is what the Makefile passes; pause -v prints it.
  await runOk(GCC, ['-Os', '-Wall', '-Werror', '-static', '-DVERSION=v3.4.1-kpki', '-o', tmp, source]);
  await rename(tmp, binary);
  return binary;
}

interface ImageSpec {
  ref: string;
  /** Files of the root file system: path in the image → source file on the host. */
  files: Record<string, string>;
  links?: Record<string, string>;
  entrypoint: string[];
}

/** Writes the docker-archive tarball of one single-layer image into dir. */
async function dockerArchive(dir: string, spec: ImageSpec): Promise<string> {
  const rootfs = path.join(dir, 'rootfs');
  for (const [inImage, source] of Object.entries(spec.files)) {
    const target = path.join(rootfs, inImage);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(source, target);
  }
  for (const [link, target] of Object.entries(spec.links ?? {})) await symlink(target, path.join(rootfs, link));
  const archive = path.join(dir, 'archive');
  await mkdir(archive);
  // Fixed owner and times: the same files make the same layer.
  await runOk(TAR, [
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '--sort=name',
    '-cf',
    path.join(archive, 'layer.tar'),
    '-C',
    rootfs,
    '.',
  ]);
  const diffId = `sha256:${createHash('sha256')
    .update(await readFile(path.join(archive, 'layer.tar')))
    .digest('hex')}`;
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Entrypoint: spec.entrypoint },
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  await writeFile(path.join(archive, 'config.json'), JSON.stringify(config));
  await writeFile(
    path.join(archive, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: [spec.ref], Layers: ['layer.tar'] }]),
  );
  const tarball = path.join(dir, 'image.tar');
  await runOk(TAR, ['-cf', tarball, '-C', archive, 'manifest.json', 'config.json', 'layer.tar']);
  return tarball;
}

/** Builds both images under dir; returns their tarballs. */
export async function buildImages(dir: string): Promise<string[]> {
  requireFile(BUSYBOX, 'apt-get install busybox-static (bash .ci/run does)', fsConstants.X_OK);
  const pause = await pauseBinary();
  const specs: ImageSpec[] = [
    { ref: PAUSE_IMAGE, files: { pause }, entrypoint: ['/pause'] },
    { ref: BUSYBOX_IMAGE, files: { 'bin/busybox': BUSYBOX }, links: { 'bin/sh': 'busybox' }, entrypoint: ['/bin/sh'] },
  ];
  return Promise.all(
    specs.map(async (spec) => {
      const imageDir = path.join(dir, spec.ref.replace(/[/:]/g, '_'));
      await mkdir(imageDir, { recursive: true });
      return dockerArchive(imageDir, spec);
    }),
  );
}

/** Loads image tarballs into the k8s.io namespace of the containerd at socket (the one CRI uses). */
export async function importImages(ctr: string, socket: string, tarballs: string[]): Promise<void> {
  for (const tarball of tarballs) await runOk(ctr, ['-n', 'k8s.io', '-a', socket, 'images', 'import', tarball], { timeoutMs: 120_000 });
}

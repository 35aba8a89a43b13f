import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

/**
 * The package as users get it: `npm pack`, then `npm install` of the tarball into empty
 * directories, once without the Kubernetes client (what a bootstrap script's `npx kpki init`
 * downloads) and once with it. `--prefer-offline` takes packages from npm's cache when it has them.
 */

const KUBERNETES_CLIENT = '@kubernetes/client-node';
const OFFLINE_INSTALL_LIMIT = 15 * 1024 * 1024;

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 170_000 });
  if (result.error) throw result.error;
  return result;
}

function npm(args: string[], cwd: string): string {
  const result = run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], cwd);
  expect(result.status, `npm ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** An empty project with the packed kpki (and `extra` packages) installed: its directory. */
function install(tarball: string, extra: string[] = []): string {
  const dir = tempDir('kpki-install-');
  writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
  npm(['install', tarball, ...extra], dir);
  return dir;
}

/** Bytes under dir as `du -sb` counts them: every file, directory and link by its own size. */
function treeBytes(dir: string): number {
  let total = lstatSync(dir).size;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    total += entry.isDirectory() ? treeBytes(file) : lstatSync(file).size;
  }
  return total;
}

/** The installed CLI, run as `npx kpki` runs it: through the project's node_modules/.bin link. */
const installedKpki = (dir: string, args: string[]) => run(process.execPath, [path.join(dir, 'node_modules/.bin/kpki'), ...args], dir);

/** A loopback port nothing listens on: one the kernel gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A kubeconfig for an apiserver at 127.0.0.1:port, trusting the CA of pki/ beside it. */
function unreachableKubeconfig(dir: string, port: number): string {
  const file = path.join(dir, 'unreachable.conf');
  const cluster = `{ server: "https://127.0.0.1:${port}", certificate-authority: pki/ca.crt }`;
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters: [{ name: c, cluster: ${cluster} }]\ncontexts: [{ name: c, context: { cluster: c, user: u } }]\ncurrent-context: c\nusers: [{ name: u, user: { token: unused } }]\n`,
  );
  return file;
}

const INIT = [
  'init',
  '--cert-dir',
  'pki',
  '--kubeconfig-dir',
  '.',
  '--node-name',
  'cp1',
  '--advertise-address',
  '10.0.0.11',
  '--key-type',
  'ecdsa-p256',
];

describe('the packed package', () => {
  let tarball: string;
  let offline: string;
  let withClient: string;

  beforeAll(() => {
    const packed = tempDir('kpki-pack-');
    const name = npm(['pack', '--pack-destination', packed], REPO_ROOT).trim().split('\n').at(-1)!;
    tarball = path.join(packed, name);
    offline = install(tarball);
    const { peerDependencies } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    withClient = install(tarball, [`${KUBERNETES_CLIENT}@${peerDependencies[KUBERNETES_CLIENT]}`]);
  }, 360_000);

  it(`installs without ${KUBERNETES_CLIENT} at or below 15 MB, and init and verify run from it`, () => {
    expect(existsSync(path.join(offline, 'node_modules', KUBERNETES_CLIENT))).toBe(false);
    expect(treeBytes(path.join(offline, 'node_modules'))).toBeLessThanOrEqual(OFFLINE_INSTALL_LIMIT);
    const init = installedKpki(offline, INIT);
    expect(init.status, init.stderr).toBe(0);
    expect(existsSync(path.join(offline, 'pki/ca.key'))).toBe(true);
    const verify = installedKpki(offline, ['verify', '--cert-dir', 'pki', '--kubeconfig-dir', '.']);
    expect(verify.stderr).toBe('');
    expect(verify.stdout).toMatch(/^No problems found/m);
    expect(verify.status).toBe(0);
  });

  it(`an API command without ${KUBERNETES_CLIENT} fails with one line naming the install command, exit 2`, async () => {
    const kubeconfig = unreachableKubeconfig(offline, await closedPort());
    for (const args of [
      ['approve', 'kubelet-serving', '--kubeconfig', kubeconfig],
      ['kubeconfig', 'user', '--via-api', '--client-name', 'bob', '--kubeconfig', kubeconfig],
    ]) {
      const result = installedKpki(offline, args);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(`^kpki: .*${KUBERNETES_CLIENT}, which is not installed; .*npm install ${KUBERNETES_CLIENT}@1 .*\\n$`),
      );
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.status).toBe(2);
    }
  });

  it('a CA key in a PKCS#11 token without node-webcrypto-p11 (an optional peer) fails with one line naming the install command, exit 2, nothing written', () => {
    expect(existsSync(path.join(offline, 'node_modules', 'node-webcrypto-p11'))).toBe(false);
    const result = installedKpki(offline, [
      'init',
      '--cert-dir',
      'token-pki',
      '--kubeconfig-dir',
      'token',
      '--node-name',
      'cp1',
      '--advertise-address',
      '10.0.0.11',
      '--ca-key-uri',
      'ca=pkcs11:token=k8s;object=ca',
    ]);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^kpki: CA keys in a PKCS#11 token need node-webcrypto-p11, which is not installed; install it beside kpki .*npm install node-webcrypto-p11@2\n$/,
    );
    expect(result.status).toBe(2);
    expect(existsSync(path.join(offline, 'token-pki'))).toBe(false);
  });

  it('verify --live needs no Kubernetes client: it dials the endpoints itself', async () => {
    const port = await closedPort();
    const kubeconfig = unreachableKubeconfig(offline, port);
    // An empty --kubeconfig-dir: the standard kubeconfigs name the non-loopback 10.0.0.11.
    const result = installedKpki(offline, [
      'verify',
      '--cert-dir',
      'pki',
      '--kubeconfig-dir',
      tempDir(),
      '--kubeconfig',
      kubeconfig,
      '--live',
      '--live-timeout',
      '5s',
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`symptom:   connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it(`with ${KUBERNETES_CLIENT} installed beside it, an API command loads the client and reaches the network`, async () => {
    expect(installedKpki(withClient, INIT).status).toBe(0);
    const result = installedKpki(withClient, [
      'approve',
      'kubelet-serving',
      '--kubeconfig',
      unreachableKubeconfig(withClient, await closedPort()),
    ]);
    expect(result.stderr).not.toMatch(KUBERNETES_CLIENT);
    expect(result.stderr).toMatch(/^kpki: listing CSRs with .*ECONNREFUSED 127\.0\.0\.1:\d+; is the apiserver reachable from here\?\n$/);
    expect(result.status).toBe(1);
  });
});

/**
 * What every day-2 test checks after each step, independently of kpki's own code: walking the
 * tree, every leaf (and every kubeconfig's client certificate) must verify against the trust file
 * its components read — with openssl and with Go's crypto/x509 (goverify) — every key must match
 * its certificate, and every kubeconfig must carry the current CA file's certificates.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { initCluster, type ClusterOptions } from '../../src/commands/cluster.js';
import { parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { certificateFacts, publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificate, parseCertificates, parseKey } from '../../src/pki/pem.js';
import type { Check, Result } from '../interop/goverify.js';
import { requireTool, run } from '../interop/helpers.js';
import { kpki, kpkiInterrupted } from '../support/cli.js';

export const now = () => new Date();

/** A two-control-plane cluster with a worker and kubelet serving certificates (ECDSA: fast). */
export async function makeCluster(dir: string, extra: Partial<ClusterOptions> = {}) {
  return initCluster({
    certDir: path.join(dir, 'pki'),
    kubeconfigDir: dir,
    keyType: 'ecdsa-p256',
    controlPlaneEndpoint: '10.0.0.100:6443',
    controlPlaneNodes: 'cp1=10.0.0.11,cp2=10.0.0.12',
    workers: 'w1=10.0.0.21',
    kubeletServingCerts: true,
    ...extra,
  });
}

/** The files components read by name: a switched directory's `..data` and generations are skipped (the same files again). */
function walk(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('..'))
    .flatMap((name) => {
      const file = path.join(dir, name);
      return statSync(file).isDirectory() ? walk(file) : [file];
    });
}

/** The pki directory a file's components read their CAs from. */
function pkiDirOf(file: string): string {
  const kubelet = file.split(`${path.sep}var${path.sep}lib${path.sep}kubelet${path.sep}`);
  if (kubelet.length > 1) return path.join(kubelet[0]!, 'etc/kubernetes/pki');
  const pki = file.lastIndexOf(`${path.sep}pki${path.sep}`);
  return file.slice(0, pki + 4);
}

/** The CA file a leaf verifies against, by kubeadm's layout. */
function caFileOf(file: string): string {
  const dir = pkiDirOf(file);
  if (file.includes(`${path.sep}etcd${path.sep}`) || path.basename(file) === 'apiserver-etcd-client.crt')
    return path.join(dir, 'etcd/ca.crt');
  if (path.basename(file) === 'front-proxy-client.crt') return path.join(dir, 'front-proxy-ca.crt');
  return path.join(dir, 'ca.crt');
}

export interface LeafCheck {
  /** What is checked, for messages. */
  label: string;
  cert: string;
  key: string;
  roots: string;
}

/** Every leaf of the tree with its key and trust file; kubeconfig credentials extracted to `scratch`. */
export function leavesOf(root: string, scratch: string): LeafCheck[] {
  const checks: LeafCheck[] = [];
  for (const file of walk(root)) {
    if (file.includes('.kpki-') || file.includes(`${path.sep}rotation`) || file.includes(`${path.sep}csr${path.sep}`)) continue;
    if (file.endsWith('.crt')) {
      const cert = parseCertificate(readFileSync(file), file);
      if (certificateFacts(cert).isCA) continue;
      checks.push({ label: path.relative(root, file), cert: file, key: file.replace(/\.crt$/, '.key'), roots: caFileOf(file) });
    } else if (file.endsWith('.conf')) {
      const creds = parseKubeconfig(readFileSync(file, 'utf8'), file);
      const stem = path.join(scratch, path.relative(root, file).replace(/[/\\]/g, '_'));
      writeFileSync(`${stem}.crt`, creds.clientCertificate!.data!);
      writeFileSync(`${stem}.key`, creds.clientKey!.data!);
      writeFileSync(`${stem}.ca`, creds.certificateAuthority!.data!);
      checks.push({ label: path.relative(root, file), cert: `${stem}.crt`, key: `${stem}.key`, roots: `${stem}.ca` });
      // The kubeconfig's CA data must be exactly what its node (or the shared set) trusts now.
      const caFile = path.join(path.dirname(file), 'pki/ca.crt');
      expect(creds.certificateAuthority!.data!.toString(), `${file}: certificate-authority-data is not the current ${caFile}`).toBe(
        readFileSync(caFile, 'utf8'),
      );
    }
  }
  return checks;
}

/**
 * Checks every leaf of the tree with openssl verify, Go's x509 (goverify) and key/cert pairing;
 * returns the failures as readable lines (empty when all is well).
 */
export async function trustFailures(root: string, scratch: string, goCheck: (checks: Check[]) => Promise<Result[]>): Promise<string[]> {
  const leaves = leavesOf(root, scratch);
  expect(leaves.length).toBeGreaterThan(0);
  const openssl = requireTool('openssl');
  const failures: string[] = [];
  for (const leaf of leaves) {
    const r = await run(openssl, ['verify', '-CAfile', leaf.roots, leaf.cert]);
    if (r.code !== 0) failures.push(`openssl: ${leaf.label}: ${r.stdout}${r.stderr}`.trim());
    const key = parseKey(readFileSync(leaf.key), leaf.key);
    if (!sameKeyPair(key, publicKeyObject(parseCertificate(readFileSync(leaf.cert), leaf.cert))))
      failures.push(`${leaf.label}: key does not match`);
  }
  const go = await goCheck(
    leaves.flatMap((l): Check[] => [
      { kind: 'verify', cert: l.cert, roots: l.roots, usage: 'any' },
      { kind: 'keypair', cert: l.cert, key: l.key },
    ]),
  );
  go.forEach((result, i) => {
    if (!result.ok) failures.push(`go: ${leaves[Math.floor(i / 2)]!.label}: ${result.error}`);
  });
  return failures;
}

/** Serial numbers of every leaf in the tree, by label: what "renewed" is checked against. */
export function serials(root: string, scratch: string): Map<string, string> {
  return new Map(leavesOf(root, scratch).map((l) => [l.label, parseCertificate(readFileSync(l.cert), l.cert).serialNumber]));
}

/** Every certificate of a trust file. */
export const trustFile = (file: string) => parseCertificates(readFileSync(file), file);

/**
 * Runs a kpki command and kills it (SIGKILL) once its set of files is committed (a journal exists in
 * the shared cert dir), i.e. mid-replacement — a few tries at most; then reruns it and returns the
 * rerun's JSON, which must report the completed change as `resumed`.
 */
export async function killMidReplacementAndRerun(args: string[], pki: string): Promise<Record<string, unknown>> {
  const journaled = () => readdirSync(pki).some((name) => name.startsWith('.kpki.journal-'));
  let caught = false;
  for (let attempt = 0; attempt < 8 && !caught; attempt++) {
    const killed = await kpkiInterrupted(args, 'SIGKILL', journaled);
    caught = killed.signal === 'SIGKILL' && journaled();
  }
  expect(caught).toBe(true);
  const rerun = kpki([...args, '--json']);
  expect(rerun.status, rerun.stderr).toBe(0);
  const result = JSON.parse(rerun.stdout) as Record<string, unknown>;
  expect((result.resumed as string[]).length).toBeGreaterThan(0);
  expect(journaled()).toBe(false);
  return result;
}

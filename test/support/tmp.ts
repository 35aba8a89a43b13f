import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** A fresh temp directory removed after the file's tests. */
export function tempDir(prefix = 'kpki-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
// A copy of ../shared/fixtures/kubeadm-v1.20.2 (made by kubeadm), so a clean clone tests alone.
export const FIXTURE_ROOT = path.resolve(REPO_ROOT, 'test/fixtures/kubeadm-v1.20.2/node-root');
export const FIXTURE_KUBERNETES = path.join(FIXTURE_ROOT, 'etc/kubernetes');
export const FIXTURE_PKI = path.join(FIXTURE_KUBERNETES, 'pki');
export const FIXTURE_CONFIG = path.resolve(REPO_ROOT, 'test/fixtures/kubeadm-v1.20.2/kubeadm-config.yaml');

/** The settings kubeadm v1.20.2 used for the shared fixture (its kubeadm-config.yaml). */
export const FIXTURE_SETTINGS = {
  nodeName: 'cp1',
  advertiseAddress: '198.51.100.11',
  controlPlaneEndpoint: 'k8s-api.example.internal:6443',
  apiserverCertExtraSans: ['198.51.100.100'],
  serviceCidr: '10.96.0.0/12',
  dnsDomain: 'cluster.local',
};

/** Every file under dir with its bytes and mode: what "changes nothing" is checked against. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      const stat = statSync(file);
      if (stat.isDirectory()) walk(file);
      else out.set(path.relative(dir, file), `${(stat.mode & 0o777).toString(8)} ${readFileSync(file, 'base64')}`);
    }
  };
  walk(dir);
  return out;
}

/** A 50 MB file of junk where a certificate belongs (sparse: no disk cost). */
export function junk(file: string): void {
  const fd = openSync(file, 'w');
  ftruncateSync(fd, 50 * 1024 * 1024);
  closeSync(fd);
}

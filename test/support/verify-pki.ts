import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import { buildKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { flagsFor, wiringFromProfile, type FlagComponent } from '../../src/model/flags.js';
import { buildPkiSpec, type CertSpec } from '../../src/model/spec.js';
import { resolveSettings } from '../../src/model/settings.js';
import { certificatePem, issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair, privateKeyPem } from '../../src/pki/keys.js';
import { parseCertificate, parseKey } from '../../src/pki/pem.js';
import { loadProfile } from '../../src/store/profiles.js';
import { verify } from '../../src/commands/verify.js';
import { type VerifyOptions } from '../../src/verify/index.js';
import { tempDir } from './tmp.js';

/** A kpki-made PKI (ECDSA, node cp1 at 10.0.0.11) for verify tests to copy and break one thing in. */

export const SETTINGS = { nodeName: 'cp1', advertiseAddress: '10.0.0.11', keyType: 'ecdsa-p256' };
let pristineDir: string;
let specs: CertSpec[];

beforeAll(async () => {
  pristineDir = tempDir();
  await initPki({ ...SETTINGS, certDir: path.join(pristineDir, 'pki'), kubeconfigDir: pristineDir });
  const spec = buildPkiSpec(await loadProfile(), resolveSettings(SETTINGS, { nodeName: 'x', advertiseAddress: undefined }));
  specs = [...spec.certificates, ...spec.kubeconfigs.map((k) => k.client)];
});

/** A fresh copy of the generated tree to break one thing in. */
export function copy(): string {
  const dir = tempDir();
  cpSync(pristineDir, dir, { recursive: true });
  return dir;
}

export const spec = (name: string) => specs.find((s) => s.name === name)!;

/** Reissues `name` (a cert file base or a kubeconfig) with a changed spec and/or another CA. */
export async function reissue(dir: string, name: string, change: Partial<CertSpec> = {}, issuerFile?: string) {
  const s = { ...spec(name), ...change };
  const caBase = path.join(dir, 'pki', issuerFile ?? (s.issuer === 'etcd-ca' ? 'etcd/ca' : s.issuer!));
  const caCert = parseCertificate(readFileSync(`${caBase}.crt`), 'ca');
  const caKey = parseKey(readFileSync(`${caBase}.key`), 'ca');
  const pair = await generateKeyPair('ecdsa-p256');
  const cert = await issueCertificate({ spec: s, publicKey: pair.publicKey, issuer: { key: caKey, certificate: caCert }, now: new Date() });
  if (s.file) {
    writeFileSync(path.join(dir, 'pki', `${s.file}.crt`), certificatePem(cert));
    writeFileSync(path.join(dir, 'pki', `${s.file}.key`), privateKeyPem(pair.privateKey), { mode: 0o600 });
  } else {
    writeFileSync(
      path.join(dir, name),
      buildKubeconfig({
        clusterName: 'kubernetes',
        server: 'https://10.0.0.11:6443',
        userName: s.commonName,
        contextName: `${s.commonName}@kubernetes`,
        ca: { pem: readFileSync(path.join(dir, 'pki/ca.crt'), 'utf8') },
        cert: { pem: certificatePem(cert) },
        key: { pem: privateKeyPem(pair.privateKey) },
      }),
      { mode: 0o600 },
    );
  }
}

const KUBEADM_WIRING = wiringFromProfile(await loadProfile());

/** kubeadm's certificate flags for a component, as the default profile wires them. */
export const kubeadmFlags = (component: FlagComponent, certDir: string, kubeconfigDir?: string) =>
  flagsFor(KUBEADM_WIRING, component, certDir, kubeconfigDir);

/** Writes a component's flags file: kubeadm's flags for the tree, changed as given. */
export function flagsFile(dir: string, component: FlagComponent, change: Record<string, string | null> = {}): string {
  const flags = new Map(kubeadmFlags(component, path.join(dir, 'pki'), dir));
  for (const [name, value] of Object.entries(change)) {
    if (value === null) flags.delete(name);
    else flags.set(name, value);
  }
  const file = path.join(dir, `${component}.flags`);
  writeFileSync(file, [...flags].map(([n, v]) => `--${n}=${v}`).join('\n'));
  return file;
}

/** kubeadm never sets --kubelet-certificate-authority, so its real flags always draw this CIS 1.2.6 warning. */
export const KUBEADM_BASELINE = 'KUBELET_CA_UNSET';

/** verify, without the baseline warning kubeadm's own flags draw: what remains is what the test broke. */
export async function verifyBroken(options: VerifyOptions) {
  const result = await verify(options);
  return { ...result, findings: result.findings.filter((f) => f.code !== KUBEADM_BASELINE) };
}

export async function codes(options: VerifyOptions): Promise<string[]> {
  const result = await verifyBroken(options);
  return [...new Set(result.findings.map((f) => f.code))].sort();
}

export const base = (dir: string): VerifyOptions => ({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir });

/** The untouched tree (read-only by convention). */
export const pristine = () => pristineDir;

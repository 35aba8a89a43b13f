import { badFlag } from '../errors.js';
import { certificatePem } from '../pki/certificate.js';
import { privateKeyPem } from '../pki/keys.js';
import { renderSelfSignedCa } from '../plan/render.js';
import { isDnsName } from '../model/net.js';
import { resolveCertificate } from '../model/spec.js';
import { LEAF_ROLES } from '../model/profile.js';
import { DEFAULTS } from '../model/defaults.js';
import { parseDuration } from '../model/duration.js';
import { parseKeyType } from '../model/settings.js';
import { loadProfile } from '../store/profiles.js';
import type { TokenChoice } from '../store/token-settings.js';
import { issueLeaf, leafWrites, loadCa, refuseOverwrite, writeNewFiles, type CaOnDisk } from './leaf.js';
import { yamlText } from '../model/yaml.js';

export interface IssueCertOptions {
  role: string;
  commonName: string;
  organizations?: string[];
  sans?: string[];
  /** `cluster`, `front-proxy`, `etcd` (from certDir) or a CA certificate file with its key beside it. */
  ca: string;
  caKey?: string;
  /** The PIN and module of a token that holds the CA's key (kpki-pkcs11.json). */
  token?: Pick<TokenChoice, 'pin' | 'pkcs11Module'>;
  certDir?: string;
  out: string;
  validity?: string;
  keyType?: string;
  force?: boolean;
  now?: Date;
}

/** `kpki cert issue`: any leaf from the same signing policy, written as OUT.crt and OUT.key. */
export async function issueCertificateFiles(options: IssueCertOptions): Promise<{ files: string[]; notAfter: string; warnings: string[] }> {
  const usages = LEAF_ROLES[options.role];
  if (!usages) throw badFlag('--profile', `"${options.role}" is not one of ${Object.keys(LEAF_ROLES).join(', ')}`);
  if (!options.commonName) throw badFlag('--cn', 'is required');
  const ca = await loadCa(options.ca, options.certDir ?? DEFAULTS.certDir, { keyFile: options.caKey, needKey: true, token: options.token });
  const leaf = await issueLeaf(
    ca,
    {
      name: options.out,
      commonName: options.commonName,
      organizations: options.organizations ?? [],
      sans: options.sans ?? [],
      usages,
      validity: options.validity,
      keyType: options.keyType,
    },
    options.now,
  );
  return {
    files: await writeNewFiles(leafWrites(options.out, leaf), options.force),
    notAfter: leaf.cert.notAfter.toISOString(),
    warnings: leaf.warnings,
  };
}

export interface ExtensionApiserverOptions {
  service: string;
  namespace: string;
  /** `new`: a dedicated self-signed CA (PREFIX-ca.crt/.key); `cluster`: the cluster CA. */
  ca: 'new' | 'cluster';
  out: string;
  certDir?: string;
  /** The PIN and module of a token that holds the cluster CA's key (kpki-pkcs11.json). */
  token?: Pick<TokenChoice, 'pin' | 'pkcs11Module'>;
  dnsDomain?: string;
  apiGroup?: string;
  apiVersion?: string;
  validity?: string;
  keyType?: string;
  force?: boolean;
  now?: Date;
}

export interface ExtensionApiserverResult {
  /** The names clients verify: `<service>.<namespace>.svc` is what the aggregator dials. */
  dnsNames: string[];
  caBundle: string;
  apiService: string;
  files: string[];
}

/** A dedicated CA for one extension apiserver, so its trust is not the whole cluster's. */
async function newServiceCa(options: ExtensionApiserverOptions): Promise<CaOnDisk & { keyPem: string }> {
  const { policy } = await loadProfile();
  const keyType = parseKeyType(options.keyType ?? DEFAULTS.keyType);
  const commonName = `${options.service}.${options.namespace}-ca`;
  const spec = resolveCertificate(
    policy,
    { name: 'ca', file: '', commonName, organizations: [], usages: [], sans: [] },
    (t) => [t],
    { caValidity: parseDuration(DEFAULTS.caValidity)!, certValidity: 0, keyType },
    undefined,
  );
  const ca = await renderSelfSignedCa(spec, options.now ?? new Date());
  return { certFile: `${options.out}-ca.crt`, cert: ca.certificate, key: ca.key, keyPem: privateKeyPem(ca.key) };
}

/**
 * `kpki cert extension-apiserver`: a serving certificate for `<service>.<namespace>.svc`, the CA
 * that signed it, and an APIService whose caBundle verifies it, so no one needs
 * insecureSkipTLSVerify.
 */
export async function issueExtensionApiserver(options: ExtensionApiserverOptions): Promise<ExtensionApiserverResult> {
  for (const [flag, value] of [
    ['--service', options.service],
    ['--namespace', options.namespace],
  ] as const) {
    if (!value || !isDnsName(value) || value.includes('.'))
      throw badFlag(flag, `"${value ?? ''}" is not a valid Kubernetes name (RFC 1123 label)`);
  }
  const domain = options.dnsDomain ?? DEFAULTS.dnsDomain;
  const svc = `${options.service}.${options.namespace}.svc`;
  const dnsNames = [svc, `${svc}.${domain}`, options.service, `${options.service}.${options.namespace}`];
  const files = [`${options.out}.crt`, `${options.out}.key`, `${options.out}-ca.crt`, `${options.out}-apiservice.yaml`];
  if (options.ca === 'new') files.push(`${options.out}-ca.key`);
  await refuseOverwrite(files, options.force);
  const fresh = options.ca === 'new' ? await newServiceCa(options) : undefined;
  const ca = fresh ?? (await loadCa('cluster', options.certDir ?? DEFAULTS.certDir, { needKey: true, token: options.token }));
  const leaf = await issueLeaf(
    ca,
    {
      name: options.service,
      commonName: svc,
      organizations: [],
      sans: dnsNames,
      usages: ['serverAuth'],
      validity: options.validity,
      keyType: options.keyType,
    },
    options.now,
  );
  const caPem = certificatePem(ca.cert);
  const caBundle = Buffer.from(caPem).toString('base64');
  const group = options.apiGroup ?? DEFAULTS.apiGroup;
  const version = options.apiVersion ?? DEFAULTS.apiVersion;
  const apiService = yamlText({
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: `${version}.${group}` },
    spec: {
      group,
      version,
      groupPriorityMinimum: 1000,
      versionPriority: 15,
      service: { name: options.service, namespace: options.namespace, port: 443 },
      caBundle,
    },
  });
  await writeNewFiles(
    [
      ...leafWrites(options.out, leaf),
      { path: `${options.out}-ca.crt`, data: caPem, mode: 0o644 },
      ...(fresh ? [{ path: `${options.out}-ca.key`, data: fresh.keyPem, mode: 0o600 }] : []),
      { path: `${options.out}-apiservice.yaml`, data: apiService, mode: 0o644 },
    ],
    true,
  );
  return { dnsNames, caBundle, apiService, files };
}

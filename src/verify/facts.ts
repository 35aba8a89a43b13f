import type { KeyObject } from '../pki/keys.js';
import type { Benchmark } from './benchmarks.js';
import path from 'node:path';
import type { KubeconfigContext, KubeconfigCredentials } from '../kubeconfig/kubeconfig.js';
import type { FileRole, Wiring } from '../model/flags.js';
import type { CertificateData } from '../pki/parse.js';
import type { Finding } from './findings.js';
import { BINARIES, flag, type ComponentArgs } from './inputs/args.js';
import type { ClusterInputs } from './model.js';
import type { RotationFacts } from './rotation.js';
import { KUBELET_SELF_SIGNED } from '../model/kubeadm-files.js';
import type { TokenKeyFacts } from './token-keys.js';

/** How a file is read: a flag's role, or a kubeconfig's CA (Go's CertPool, which has its own message). */
export type ReadAs = FileRole | 'root-certificates';

/** A file some input names, and how the component that names it reads it. */
export interface FileReference {
  /** The path as the input names it. */
  file: string;
  readAs: ReadAs;
  /** Who names it: `kube-apiserver --tls-cert-file`, `admin.conf`. */
  subject: string;
  /** A relative path is relative to this directory (the kubeconfig's). */
  relativeTo?: string;
  /** The error line the component prints around a parse error. */
  wrap?: (message: string) => string;
  /** A file that may be absent without that being a finding (a default location). */
  optional?: boolean;
}

/** What was learnt about one file on disk. */
export interface FileFact {
  /** Its key in the facts: the path as named, resolved against `relativeTo`. */
  name: string;
  /** Where it was read (below --root for node copies). */
  real: string;
  readAs: Set<ReadAs>;
  subjects: string[];
  mode?: number;
  uid?: number;
  gid?: number;
  /** Undefined when it is missing or could not be read. */
  data?: Buffer;
  /** It exists but could not be read (a finding says why). */
  unreadable?: boolean;
}

export interface LoadedKubeconfig {
  /** Path as the component names it. */
  file: string;
  credentials: KubeconfigCredentials;
  authorities: CertificateData[] | undefined;
  clientCertificates: CertificateData[] | undefined;
  clientKey: KeyObject | undefined;
}

/** One context of a kubeconfig checked on its own (`verify --kubeconfig` without a PKI): its credentials as client-go reads them. */
export interface LoadedContext {
  /** The kubeconfig, as the user named it. */
  file: string;
  context: KubeconfigContext;
  /** `~/.kube/config context prod (user alice)`: how findings name it. */
  label: string;
  authorities: CertificateData[] | undefined;
  /** Where the CA came from: the file it names, or the kubeconfig's embedded data. */
  authorityOrigin: string | undefined;
  clientCertificates: CertificateData[] | undefined;
  clientCertificateOrigin: string | undefined;
  clientKey: KeyObject | undefined;
  clientKeyOrigin: string | undefined;
  /** The kubeconfig file's mode bits, when read: it holds whatever credential is embedded. */
  fileMode?: number;
}

/** Certificates found anywhere (files, kubeconfig data), for the checks that apply to all of them. */
export interface CertificateSource {
  file: string;
  subject: string;
  certificates: CertificateData[];
  /** How to get a new one, when not by reissuing it from a CA in the PKI directory (a user's kubeconfig). */
  renew?: string;
}

/** Everything rules look at: the inputs and what the files they name hold, read once. */
export interface Facts {
  inputs: ClusterInputs;
  now: Date;
  /** Certificates expiring sooner than this are reported. */
  warnWithinSeconds: number;
  root: string | undefined;
  /** The PKI directory, when known: fixes name files in it. */
  certDir: string | undefined;
  /** True when the component flags are kpki's assumption (kubeadm's), not read from the cluster. */
  assumedFlags: boolean;
  files: Map<string, FileFact>;
  certificates: Map<string, CertificateData[]>;
  keys: Map<string, KeyObject>;
  publicKeys: Map<string, KeyObject[]>;
  kubeconfigs: Map<string, LoadedKubeconfig>;
  certificateSources: CertificateSource[];
  /** Missing and unreadable files, found while loading. */
  loadFindings: Finding[];
  /** Kubeconfig contexts checked on their own, without a PKI. */
  contexts?: LoadedContext[];
  /** The `kpki ca rotate` under way in the PKI directory, if any. */
  rotation?: RotationFacts;
  /** The benchmark the run reports against, where a rule's threshold depends on it (certificate file modes). */
  benchmark?: Benchmark;
  /** CA keys a PKCS#11 token holds, as kpki-pkcs11.json names them. */
  tokenKeys?: TokenKeyFacts;
}

/** Facts before any file is read: the inputs and the run's settings. */
export function emptyFacts(
  inputs: ClusterInputs,
  settings: Pick<Facts, 'now' | 'warnWithinSeconds' | 'root' | 'certDir' | 'assumedFlags'>,
): Facts {
  return {
    inputs,
    ...settings,
    files: new Map(),
    certificates: new Map(),
    keys: new Map(),
    publicKeys: new Map(),
    kubeconfigs: new Map(),
    certificateSources: [],
    loadFindings: [],
  };
}

/** The key a file has in the facts. */
export const factName = (file: string, relativeTo?: string) => (relativeTo && !path.isAbsolute(file) ? path.join(relativeTo, file) : file);

export const flagSubject = (args: ComponentArgs, name: string) => `${BINARIES[args.component]} --${name}`;

/** apiserver CA bundles are loaded by named dynamic providers, whose names show in the error. */
const CA_BUNDLE_PROVIDERS: Record<string, string> = {
  'apiserver client-ca-file': 'client-ca-bundle',
  'apiserver requestheader-client-ca-file': 'request-header',
};

function wrapFor(args: ComponentArgs, name: string, readAs: FileRole, file: string): ((m: string) => string) | undefined {
  const provider = CA_BUNDLE_PROVIDERS[`${args.component} ${name}`];
  if (provider) return (m) => `error loading CA bundle for "${provider}::${file}": ${m}`;
  if (readAs === 'public-keys') return (m) => `error reading public key file ${file}: ${m}`;
  if (readAs === 'private-key') return (m) => `error reading private key file ${file}: ${m}`;
  return undefined;
}

/** The files a component's flags name, as the wiring table says each is read. */
export function componentReferences(args: ComponentArgs, wiring: Wiring): FileReference[] {
  if (args.component === 'kubelet') return [];
  return wiring[args.component].flatMap((wired) => {
    const file = wired.file && flag(args, wired.name);
    if (!wired.file || !file) return [];
    return [{ file, readAs: wired.file, subject: flagSubject(args, wired.name), wrap: wrapFor(args, wired.name, wired.file, file) }];
  });
}

/** Where the kubelet's serving certificate really is, and how it got there. */
export interface KubeletServing {
  cert: string;
  key: string;
  /** `configured`: tlsCertFile; `bootstrap`: serverTLSBootstrap's CSR; `self-signed`: the kubelet's own default. */
  origin: 'configured' | 'bootstrap' | 'self-signed';
}

export function kubeletServing(inputs: Pick<ClusterInputs, 'kubelet'>): KubeletServing | undefined {
  const kubelet = inputs.kubelet;
  if (!kubelet) return undefined;
  if (kubelet.tlsCertFile) return { cert: kubelet.tlsCertFile, key: kubelet.tlsPrivateKeyFile ?? '', origin: 'configured' };
  if (kubelet.serverTLSBootstrap) {
    const current = path.posix.join(kubelet.certDirectory, 'kubelet-server-current.pem');
    return { cert: current, key: current, origin: 'bootstrap' };
  }
  return {
    cert: path.posix.join(kubelet.certDirectory, KUBELET_SELF_SIGNED.cert),
    key: path.posix.join(kubelet.certDirectory, KUBELET_SELF_SIGNED.key),
    origin: 'self-signed',
  };
}

/** Every file the inputs name, in the order findings should name them. */
export function inputReferences(inputs: ClusterInputs): FileReference[] {
  const refs: FileReference[] = [];
  for (const args of [inputs.apiserver, inputs.etcd, inputs.controllerManager, inputs.scheduler]) {
    if (args) refs.push(...componentReferences(args, inputs.wiring));
  }
  const kubelet = inputs.kubelet;
  if (kubelet?.clientCAFile) refs.push({ file: kubelet.clientCAFile, readAs: 'ca-bundle', subject: 'kubelet clientCAFile' });
  const serving = kubeletServing(inputs);
  if (serving) {
    const subject = serving.origin === 'configured' ? 'kubelet tlsCertFile' : `kubelet serving certificate (${serving.cert})`;
    const optional = serving.origin !== 'configured';
    refs.push({ file: serving.cert, readAs: 'tls-cert', subject, optional });
    if (serving.key)
      refs.push({
        file: serving.key,
        readAs: 'tls-key',
        subject: serving.origin === 'configured' ? 'kubelet tlsPrivateKeyFile' : subject,
        optional,
      });
  }
  for (const held of inputs.held ?? []) {
    const subject = `shared set: ${held.entry}`;
    if (held.cert) refs.push({ file: held.cert, readAs: held.issuerCert ? 'tls-cert' : 'ca-bundle', subject });
    if (held.key) refs.push({ file: held.key, readAs: held.pub ? 'private-key' : 'tls-key', subject });
    if (held.pub) refs.push({ file: held.pub, readAs: 'public-keys', subject });
  }
  for (const { source } of inputs.node?.sharedCas ?? []) refs.push({ file: source, readAs: 'ca-bundle', subject: 'the shared set' });
  for (const kc of inputs.kubeconfigs) refs.push({ file: kc.file, readAs: 'kubeconfig', subject: kc.label });
  for (const file of inputs.extensionServingCerts) refs.push({ file, readAs: 'tls-cert', subject: '--serving-cert' });
  return refs;
}

import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { parseKubeconfig, type Source } from '../kubeconfig/kubeconfig.js';
import { flagsFor, wiringFromProfile } from '../model/flags.js';
import { loadProfile } from '../store/profiles.js';
import { httpsUrl, parseHostPort } from '../model/net.js';
import { publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { sameKeyPair } from '../pki/keys.js';
import { parseCertificates, parseKey } from '../pki/pem.js';
import { verifyCertificate } from '../pki/verify.js';
import { readOptional } from '../store/files.js';
import { sortFindings, FindingCode, type Finding, type Severity } from '../verify/findings.js';
import type { VerifyOptions, VerifyResult } from '../verify/index.js';
import { readComponentArgs, readManifestsDir } from '../store/cluster-inputs.js';
import { flag, flagList, type Component, type ComponentArgs } from '../verify/inputs/args.js';
import { pathResolver, type PathResolver } from '../store/node-root.js';
import { apiServiceFindings, clientAnswerFindings, servedChainFindings, staleServingFinding, unreachable, type ApiServiceCondition, type Dialer } from './findings.js';
import { probe, type ProbeResult } from './probe.js';
import { timeoutMs } from './timeout.js';

export interface LiveVerifyOptions extends VerifyOptions {
  /** Bound on each connection, a duration such as `5s` (the default). */
  timeout?: string;
}

const ADMIN_KUBECONFIGS = ['admin.conf', 'super-admin.conf'];

/** Reads files the inputs name (below --root as verify reads them); unreadable ones are undefined. */
class Files {
  constructor(private readonly resolve: PathResolver) {}

  async read(file: string | undefined, relativeTo?: string): Promise<Buffer | undefined> {
    return file ? this.resolve(file, relativeTo).then(readOptional).catch(() => undefined) : undefined;
  }

  async certificates(file: string | undefined, relativeTo?: string): Promise<x509.X509Certificate[] | undefined> {
    const data = await this.read(file, relativeTo);
    try {
      return data && parseCertificates(data, file!);
    } catch {
      // Unusable files are the offline checks' findings already.
      return undefined;
    }
  }

  async key(file: string | undefined): Promise<KeyObject | undefined> {
    const data = await this.read(file);
    try {
      return data && parseKey(data, file!);
    } catch {
      return undefined;
    }
  }

  /** A kubeconfig credential: embedded bytes, or the file it names relative to the kubeconfig. */
  async source(source: Source | undefined, kubeconfig: string): Promise<Buffer | undefined> {
    if (!source) return undefined;
    return source.data ?? this.read(source.path, path.dirname(await this.resolve(kubeconfig)));
  }
}

/** The component flags `verify` would use; kubeadm's defaults for the cert dir when none are given. */
async function componentArgs(options: LiveVerifyOptions): Promise<Map<Component, ComponentArgs>> {
  const found = new Map<Component, ComponentArgs>();
  const root = options.root && path.resolve(options.root);
  const manifestsDir = options.manifestsDir ?? (root ? path.join(root, 'etc/kubernetes/manifests') : undefined);
  if (manifestsDir) for (const args of await readManifestsDir(manifestsDir).catch(() => [])) found.set(args.component, args);
  const sources: [Component, string | undefined][] = [
    ['apiserver', options.apiserverArgs],
    ['etcd', options.etcdArgs],
    ['controller-manager', options.controllerManagerArgs],
  ];
  for (const [component, source] of sources) if (source) found.set(component, await readComponentArgs(source, component, options.stdin));
  if (!found.size && options.certDir) {
    const wiring = wiringFromProfile(await loadProfile(options.profile));
    for (const component of ['apiserver', 'controller-manager'] as const) {
      found.set(component, { component, origin: 'kubeadm', flags: new Map(flagsFor(wiring, component, options.certDir, options.kubeconfigDir).map(([n, v]) => [n, [v]])) });
    }
  }
  return found;
}

interface Endpoint {
  host: string;
  port: number;
  url: string;
}

function endpoint(url: string): Endpoint | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:') return undefined;
    const hostPort = parseHostPort(parsed.host);
    return hostPort && { host: hostPort.host, port: hostPort.port ?? 443, url };
  } catch {
    return undefined;
  }
}

type Check = Promise<Finding[]>;

/** A client certificate and key to present; `label` names where they come from. */
interface ClientCredentials {
  cert?: Buffer;
  key?: Buffer;
  leaf?: x509.X509Certificate;
  label: string;
  /** The CA the server checks client certificates with, when known. */
  trustedBy?: { roots: x509.X509Certificate[]; file: string };
}

class LiveChecks {
  readonly now = new Date();
  constructor(
    readonly files: Files,
    readonly timeoutMs: number,
  ) {}

  /** Dials, verifies the served chain as `dialer` would, then hands the exchange on. */
  async dial(dialer: Dialer, target: Endpoint, requestPath: string, client: Pick<ClientCredentials, 'cert' | 'key'>, then: (result: ProbeResult, served: x509.X509Certificate[]) => Check | Finding[]): Check {
    const result = await probe({ host: target.host, port: target.port, path: requestPath, clientCertificate: client.cert?.toString(), clientKey: client.key?.toString(), timeoutMs: this.timeoutMs });
    if (!result.served) return [unreachable(dialer, result, `${target.url}: the served certificate`)];
    return [...(await servedChainFindings(dialer, result.served, this.now)), ...(await then(result, result.served))];
  }

  /**
   * A component serving `certFile`: the chain its clients verify, whether it still serves the
   * file, and whether it accepts the client certificate of `client` (a flag naming a file).
   */
  async servingComponent(component: string, target: Endpoint, certFlag: string, certFile: string | undefined, keyFile: string | undefined, roots: x509.X509Certificate[] | undefined, rootsFile: string, client: ClientCredentials): Check {
    const subject = `${component} at ${target.url}`;
    if (!roots) return [notChecked(subject, `the served chain not checked: ${rootsFile} cannot be read`)];
    const onDisk = (await this.files.certificates(certFile))?.[0];
    const key = await this.files.key(keyFile);
    const pairLoadable = !onDisk || !key || sameKeyPair(publicKeyObject(onDisk), key);
    const dialer = { subject, host: target.host, roots, rootsFile, files: certFile ? [certFile] : [] };
    return this.dial(dialer, target, '/healthz', client, async (result, served) => [
      ...(onDisk ? staleServingFinding(component, target.url, `${component} ${certFlag}`, certFile!, served[0]!, onDisk, pairLoadable) : []),
      ...(client.cert ? clientAnswerFindings(subject, client.label, client.leaf, result, await this.offlineClientError(client)) : []),
    ]);
  }

  /** Why the server's client CA would refuse a client certificate, as kpki checks it offline. */
  async offlineClientError(client: ClientCredentials): Promise<string | undefined> {
    if (!client.leaf || !client.trustedBy) return undefined;
    const result = await verifyCertificate(client.leaf, { roots: client.trustedBy.roots, usage: 'clientAuth', now: this.now });
    return result.ok ? undefined : `against ${client.trustedBy.file}, ${result.error}`;
  }
}

const notChecked = (subject: string, diagnosis: string, severity: Severity = 'warning'): Finding => ({
  code: FindingCode.Unchecked,
  severity,
  subject,
  symptom: '',
  diagnosis,
  fix: 'give kpki the file or credentials it names',
  files: [],
});

/** The apiserver at its advertise address, as in-cluster clients reach it through the kubernetes service. */
function apiserverChecks(checks: LiveChecks, apiserver: ComponentArgs | undefined, rootCaFile: string | undefined): Check[] {
  const address = apiserver && flag(apiserver, 'advertise-address');
  if (!apiserver || !address) return [];
  const target = endpoint(httpsUrl(address, Number(flag(apiserver, 'secure-port') ?? 6443)));
  if (!target) return [];
  const caFile = rootCaFile ?? flag(apiserver, 'client-ca-file');
  return [
    (async () =>
      checks.servingComponent('kube-apiserver', target, '--tls-cert-file', flag(apiserver, 'tls-cert-file'), flag(apiserver, 'tls-private-key-file'), await checks.files.certificates(caFile), caFile ?? '(no CA flag)', { label: 'no client certificate' }))(),
  ];
}

/** etcd as the apiserver reaches it (--etcd-servers with --etcd-cafile) and at its own client URLs. */
function etcdChecks(checks: LiveChecks, apiserver: ComponentArgs | undefined, etcd: ComponentArgs | undefined): Check[] {
  const etcdUrls = etcd ? [...flagList(etcd, 'advertise-client-urls'), ...flagList(etcd, 'listen-client-urls')] : [];
  const targets = new Map<string, Endpoint>();
  for (const url of [...(apiserver ? flagList(apiserver, 'etcd-servers') : []), ...etcdUrls]) {
    const target = endpoint(url);
    if (target) targets.set(`${target.host}:${target.port}`, target);
  }
  return [...targets.values()].map(async (target) => {
    const servedByThisEtcd = etcdUrls.some((u) => endpoint(u)?.host === target.host && endpoint(u)?.port === target.port);
    const caFile = (apiserver && flag(apiserver, 'etcd-cafile')) ?? (etcd && flag(etcd, 'trusted-ca-file'));
    const certFlag = apiserver && flag(apiserver, 'etcd-certfile');
    const client = {
      cert: await checks.files.read(certFlag),
      key: await checks.files.read(apiserver && flag(apiserver, 'etcd-keyfile')),
      leaf: (await checks.files.certificates(certFlag))?.[0],
      label: `kube-apiserver --etcd-certfile (${certFlag})`,
      trustedBy: etcd && flag(etcd, 'trusted-ca-file') ? await trustedBy(checks, 'etcd --trusted-ca-file', flag(etcd, 'trusted-ca-file')) : await trustedBy(checks, 'kube-apiserver --etcd-cafile', caFile),
    };
    const ownFlag = (name: string) => (servedByThisEtcd && etcd ? flag(etcd, name) : undefined);
    return checks.servingComponent('etcd', target, '--cert-file', ownFlag('cert-file'), ownFlag('key-file'), await checks.files.certificates(caFile), caFile ?? '(no CA flag)', client);
  });
}

async function trustedBy(checks: LiveChecks, flagName: string, file: string | undefined) {
  const roots = await checks.files.certificates(file);
  return roots && { roots, file: `${flagName} (${file})` };
}

interface KubeconfigProbe {
  file: string;
  findings: Finding[];
  /** Credentials that authenticated, for the admin reads. */
  usable?: { target: Endpoint; cert: Buffer; key: Buffer; roots: x509.X509Certificate[]; caFile: string };
}

/** Each kubeconfig: the served chain as that client verifies it, and how its client certificate is received. */
async function kubeconfigCheck(checks: LiveChecks, file: string, clientCa: x509.X509Certificate[] | undefined): Promise<KubeconfigProbe> {
  const data = await checks.files.read(file);
  let credentials;
  try {
    credentials = data && parseKubeconfig(data.toString('utf8'), file);
  } catch {
    credentials = undefined;
  }
  const target = credentials && endpoint(credentials.server);
  if (!credentials || !target) return { file, findings: [notChecked(file, `not dialed: ${credentials ? `server "${credentials.server}" is not an https URL` : 'the file cannot be read as a kubeconfig'}`)] };
  const subject = `${path.basename(file)} → ${credentials.server}`;
  const caData = await checks.files.source(credentials.certificateAuthority, file);
  const cert = await checks.files.source(credentials.clientCertificate, file);
  const key = await checks.files.source(credentials.clientKey, file);
  let roots: x509.X509Certificate[] | undefined;
  let client: x509.X509Certificate | undefined;
  try {
    roots = caData && parseCertificates(caData, file);
    client = cert && parseCertificates(cert, file)[0];
  } catch {
    // Broken credentials are the offline checks' findings.
  }
  if (!roots) return { file, findings: [notChecked(subject, 'not dialed: the kubeconfig has no usable certificate-authority (client-go would use the system roots)')] };
  const caFile = credentials.certificateAuthority?.path ?? `${path.basename(file)}'s certificate-authority-data`;
  const dialer: Dialer = { subject, host: target.host, roots, rootsFile: caFile, files: [file] };
  let usable: KubeconfigProbe['usable'];
  const findings = await checks.dial(dialer, target, '/api', { cert, key }, async (result) => {
    if (result.status === undefined && !result.error) return [];
    if (result.status === 200 && cert && key) usable = { target, cert, key, roots: roots!, caFile };
    const offline = await checks.offlineClientError({ leaf: client, label: file, trustedBy: clientCa && { roots: clientCa, file: 'kube-apiserver --client-ca-file' } });
    return clientAnswerFindings(subject, file, client, result, offline);
  });
  return { file, findings, usable };
}

interface ApiServiceList {
  items?: { metadata?: { name?: string }; spec?: { service?: { name?: string; namespace?: string } }; status?: { conditions?: ApiServiceCondition[] } }[];
}

/** APIService conditions, read with the first admin kubeconfig that authenticated. */
async function apiServiceChecks(checks: LiveChecks, probes: KubeconfigProbe[]): Check {
  const admin = probes.find((p) => p.usable && ADMIN_KUBECONFIGS.includes(path.basename(p.file)))?.usable;
  if (!admin) return [notChecked('APIServices', 'conditions not read: no admin.conf or super-admin.conf among the kubeconfigs authenticated', 'info')];
  const result = await probe({ host: admin.target.host, port: admin.target.port, path: '/apis/apiregistration.k8s.io/v1/apiservices', clientCertificate: admin.cert.toString(), clientKey: admin.key.toString(), timeoutMs: checks.timeoutMs });
  if (result.status !== 200) return [unreachable({ subject: 'APIServices', files: [] }, result, 'APIService conditions')];
  let list: ApiServiceList;
  try {
    list = JSON.parse(result.body ?? '') as ApiServiceList;
  } catch {
    return [notChecked('APIServices', 'conditions not read: the apiserver answered something other than JSON')];
  }
  return (list.items ?? []).flatMap((item) => {
    const service = item.spec?.service?.name ? `${item.spec.service.name}.${item.spec.service.namespace ?? 'default'}.svc` : undefined;
    return apiServiceFindings(item.metadata?.name ?? '?', service, item.status?.conditions ?? []);
  });
}

/**
 * Read-only checks against the running components the inputs name, added to `base` (the result
 * of `verify` with the same options). Every connection is bounded; what could not be reached is a
 * finding, never silence.
 */
export async function verifyLive(options: LiveVerifyOptions, base: VerifyResult): Promise<VerifyResult> {
  const given = [options.certDir, options.kubeconfigDir, ...(options.kubeconfigs ?? [])].filter((p): p is string => Boolean(p)).map((p) => path.resolve(p));
  const checks = new LiveChecks(new Files(pathResolver(options.root && path.resolve(options.root), given)), timeoutMs('--live-timeout', options.timeout ?? '5s'));
  const components = await componentArgs(options);
  const apiserver = components.get('apiserver');
  const cm = components.get('controller-manager');
  const clientCa = await checks.files.certificates(apiserver && flag(apiserver, 'client-ca-file'));
  const kubeconfigProbes = Promise.all(base.checked.kubeconfigs.map((file) => kubeconfigCheck(checks, file, clientCa)));
  const groups = await Promise.all([
    ...apiserverChecks(checks, apiserver, cm && flag(cm, 'root-ca-file')),
    ...etcdChecks(checks, apiserver, components.get('etcd')),
    kubeconfigProbes.then((probes) => probes.flatMap((p) => p.findings)),
    kubeconfigProbes.then((probes) => apiServiceChecks(checks, probes)),
  ]);
  const findings = sortFindings([...base.findings, ...groups.flat()]);
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { ...base, findings, counts };
}

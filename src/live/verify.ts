import type { KeyObject } from '../pki/keys.js';
import path from 'node:path';
import { parseKubeconfig, type Source } from '../kubeconfig/kubeconfig.js';
import { caAliases, kubeconfigFilesOf } from '../model/profile.js';
import { httpsUrl, parseHostPort } from '../model/net.js';
import { certificateFacts, publicKeyObject } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { sameKeyPair } from '../pki/keys.js';
import { parseCertificates, parseKey } from '../pki/pem.js';
import { verifyCertificate } from '../pki/verify.js';
import { readOptional } from '../store/files.js';
import { tallyFindings, FindingCode, type Finding, type Severity } from '../verify/findings.js';
import type { VerifyResult } from '../verify/index.js';
import type { AssembledInputs } from '../verify/model.js';
import { kubeletServing } from '../verify/facts.js';
import { dialedNodeAddress, KUBELET_PORT } from '../verify/inputs/kubelet.js';
import { rootCertificates } from '../verify/go-readers.js';
import { BINARIES, flag, flagList, type ComponentArgs } from '../verify/inputs/args.js';
import { dialedHosts, SECURE_PORTS } from '../verify/rules/component-serving.js';
import type { PathResolver } from '../store/node-root.js';
import { aggregatorRoute, type EndpointsObject, type ServiceObject } from './aggregator-route.js';
import {
  apiServiceFindings,
  backendAnswerFindings,
  clientAnswerFindings,
  servedChainFindings,
  selfSignedServingFinding,
  staleServingFinding,
  unreachable,
  type ApiServiceCondition,
  type Dialer,
} from './findings.js';
import { servedSigner, type KnownCa } from './kubeconfig.js';
import { probe, type ProbeResult } from './probe.js';

/** Reads files the inputs name (below --root as verify reads them); unreadable ones are undefined. */
class Files {
  constructor(readonly resolve: PathResolver) {}

  async read(file: string | undefined, relativeTo?: string): Promise<Buffer | undefined> {
    return file
      ? this.resolve(file, relativeTo)
          .then(readOptional)
          .catch(() => undefined)
      : undefined;
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

interface Endpoint {
  host: string;
  port: number;
  url: string;
  /** The name the client verifies and sends as SNI, when it is not `host`. */
  servername?: string;
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

/** How a component's clients put its failures, when not as kubectl talking to an apiserver. */
interface Wording {
  /** Go's verification error as the client shows it. */
  says?: (goError: string) => string;
  /** What the client shows when the server refuses its client certificate (401). */
  rejected?: { server: string; symptom: string; fix: string };
}

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
  async dial(
    dialer: Dialer,
    target: Endpoint,
    requestPath: string,
    client: Pick<ClientCredentials, 'cert' | 'key'> & { headers?: Record<string, string> },
    then: (result: ProbeResult, served: x509.X509Certificate[]) => Check | Finding[],
  ): Check {
    const result = await probe({
      host: target.host,
      port: target.port,
      servername: target.servername,
      path: requestPath,
      clientCertificate: client.cert?.toString(),
      clientKey: client.key?.toString(),
      headers: client.headers,
      timeoutMs: this.timeoutMs,
    });
    if (!result.served) return [unreachable(dialer, result, `${target.url}: the served certificate`)];
    return [...(await servedChainFindings(dialer, result.served, this.now)), ...(await then(result, result.served))];
  }

  /**
   * A component serving `certFile`: the chain its clients verify, whether it still serves the
   * file, and whether it accepts the client certificate of `client` (a flag naming a file).
   */
  async servingComponent(
    component: string,
    target: Endpoint,
    certFlag: string,
    certFile: string | undefined,
    keyFile: string | undefined,
    roots: x509.X509Certificate[] | undefined,
    rootsFile: string,
    client: ClientCredentials,
    wording: Wording = {},
  ): Check {
    const subject = `${component} at ${target.url}`;
    if (!roots) return [notChecked(subject, `the served chain not checked: ${rootsFile} cannot be read`)];
    const onDisk = (await this.files.certificates(certFile))?.[0];
    const key = await this.files.key(keyFile);
    const pairLoadable = !onDisk || !key || sameKeyPair(publicKeyObject(onDisk), key);
    const dialer = { subject, host: target.host, roots, rootsFile, files: certFile ? [certFile] : [], says: wording.says };
    return this.dial(dialer, target, '/healthz', client, async (result, served) => [
      ...(onDisk
        ? staleServingFinding(component, target.url, `${component} ${certFlag}`, certFile!, served[0]!, onDisk, pairLoadable)
        : []),
      ...(client.cert
        ? clientAnswerFindings(subject, client.label, client.leaf, result, await this.offlineClientError(client), wording.rejected)
        : []),
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
      checks.servingComponent(
        'kube-apiserver',
        target,
        '--tls-cert-file',
        flag(apiserver, 'tls-cert-file'),
        flag(apiserver, 'tls-private-key-file'),
        await checks.files.certificates(caFile),
        caFile ?? '(no CA flag)',
        { label: 'no client certificate' },
      ))(),
  ];
}

/**
 * kube-controller-manager and kube-scheduler on their secure ports, dialed where their
 * --bind-address says (loopback when they bind every address) and verified as a scraper trusting
 * the cluster CA would. Only components whose flags were read: kubeadm's assumed flags say nothing
 * of where they listen.
 */
function componentServingChecks(checks: LiveChecks, { inputs, assumedFlags }: AssembledInputs, rootCaFile: string | undefined): Check[] {
  if (assumedFlags) return [];
  return (
    [
      ['controller-manager', inputs.controllerManager],
      ['scheduler', inputs.scheduler],
    ] as const
  ).flatMap(([name, args]) => {
    const port = args && Number(flag(args, 'secure-port') ?? SECURE_PORTS[name]);
    if (!args || !port) return [];
    const target = endpoint(httpsUrl(dialedHosts(args)[0]!, port))!;
    const binary = BINARIES[name];
    const subject = `${binary} at ${target.url}`;
    return [
      (async () => {
        const roots = await checks.files.certificates(rootCaFile);
        const rootsFile = rootCaFile ?? '(no CA flag)';
        const certFile = flag(args, 'tls-cert-file');
        if (certFile)
          return checks.servingComponent(
            binary,
            target,
            '--tls-cert-file',
            certFile,
            flag(args, 'tls-private-key-file'),
            roots,
            rootsFile,
            { label: 'no client certificate' },
          );
        if (!roots) return [notChecked(subject, `the served certificate not checked: ${rootsFile} cannot be read`)];
        const says = (goError: string) => `Get "${target.url}/metrics": ${goError}`;
        const found = await checks.dial(
          { subject, host: target.host, roots, rootsFile, files: [args.origin], says },
          target,
          '/healthz',
          {},
          () => [],
        );
        return found.map((f) => (f.code === FindingCode.Unchecked ? f : selfSignedServingFinding(binary, name, args.origin, f)));
      })(),
    ];
  });
}

/** The cluster CA in the cert dir (the profile's `cluster` CA), when no component's flags name it. */
function clusterCaFile({ inputs, certDir }: AssembledInputs): string | undefined {
  const file = certDir && caAliases(inputs.profile).get('cluster');
  return file ? path.join(certDir!, `${file}.crt`) : undefined;
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
      trustedBy:
        etcd && flag(etcd, 'trusted-ca-file')
          ? await trustedBy(checks, 'etcd --trusted-ca-file', flag(etcd, 'trusted-ca-file'))
          : await trustedBy(checks, 'kube-apiserver --etcd-cafile', caFile),
    };
    const ownFlag = (name: string) => (servedByThisEtcd && etcd ? flag(etcd, name) : undefined);
    return checks.servingComponent(
      'etcd',
      target,
      '--cert-file',
      ownFlag('cert-file'),
      ownFlag('key-file'),
      await checks.files.certificates(caFile),
      caFile ?? '(no CA flag)',
      client,
    );
  });
}

/**
 * The kubelet as kube-apiserver reaches it for kubectl logs, exec and port-forward: at the node's
 * address of the first --kubelet-preferred-address-types type, its serving certificate verified
 * with --kubelet-certificate-authority, presenting --kubelet-client-certificate.
 */
async function kubeletChecks(checks: LiveChecks, { apiserver, kubelet, nodeAddresses }: AssembledInputs['inputs']): Check {
  if (!apiserver || !kubelet) return [];
  const dialed = dialedNodeAddress(flagList(apiserver, 'kubelet-preferred-address-types'), [...nodeAddresses, ...kubelet.nodeAddresses]);
  if (!dialed)
    return [
      notChecked('kubelet', "not dialed: the node's addresses are unknown, so kpki cannot tell where kube-apiserver dials it", 'info'),
    ];
  const target = endpoint(httpsUrl(dialed.address, kubelet.port ?? KUBELET_PORT))!;
  const caFile = flag(apiserver, 'kubelet-certificate-authority');
  if (!caFile)
    return [
      notChecked(
        `kubelet at ${target.url}`,
        'the served certificate not checked: kube-apiserver has no --kubelet-certificate-authority, so it does not verify kubelets either',
        'info',
      ),
    ];
  const serving = kubeletServing({ kubelet })!;
  const certFlag = flag(apiserver, 'kubelet-client-certificate');
  const client: ClientCredentials = {
    cert: await checks.files.read(certFlag),
    key: await checks.files.read(flag(apiserver, 'kubelet-client-key')),
    leaf: (await checks.files.certificates(certFlag))?.[0],
    label: `kube-apiserver --kubelet-client-certificate (${certFlag})`,
    trustedBy: kubelet.clientCAFile
      ? await trustedBy(checks, 'kubelet clientCAFile', kubelet.clientCAFile)
      : await trustedBy(checks, 'kube-apiserver --client-ca-file', flag(apiserver, 'client-ca-file')),
  };
  const logs = `kubectl logs/exec: Error from server: Get "${target.url}/containerLogs/…"`;
  const findings = await checks.servingComponent(
    'kubelet',
    target,
    serving.origin === 'configured' ? 'tlsCertFile' : 'serving certificate',
    serving.cert,
    serving.key,
    await checks.files.certificates(caFile),
    `kube-apiserver --kubelet-certificate-authority (${caFile})`,
    client,
    {
      says: (goError) => `${logs}: ${goError}`,
      rejected: {
        server: 'the kubelet',
        symptom:
          'kubectl logs/exec: error: You must be logged in to the server (the server has asked for the client to provide credentials)',
        fix: `put the CA that signed ${certFlag} into the kubelet's clientCAFile (kubeadm: /etc/kubernetes/pki/ca.crt) and restart the kubelet, or reissue the apiserver's kubelet client certificate from that file's CA`,
      },
    },
  );
  if (serving.origin !== 'self-signed') return findings;
  // Whether Go stops at the names or the chain, the cause is the kubelet's own default certificate.
  const refused = new Set<string>([FindingCode.SanMissing, FindingCode.ChainUntrusted]);
  return findings.map((f) =>
    f.subject === `kubelet at ${target.url}` && refused.has(f.code)
      ? {
          ...f,
          code: FindingCode.KubeletServingSelfSigned,
          diagnosis: `${f.diagnosis}: the kubelet's self-signed default certificate (no tlsCertFile, no serverTLSBootstrap), which --kubelet-certificate-authority cannot verify`,
          fix: 'set serverTLSBootstrap: true and approve its kubelet-serving CSR (kpki approve kubelet-serving), or give it a certificate of that CA (kpki init --kubelet-serving-certs, tlsCertFile/tlsPrivateKeyFile), and restart the kubelet',
        }
      : f,
  );
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
async function kubeconfigCheck(
  checks: LiveChecks,
  file: string,
  clientCa: x509.X509Certificate[] | undefined,
  knownCas: KnownCa[],
): Promise<KubeconfigProbe> {
  const data = await checks.files.read(file);
  let credentials;
  try {
    credentials = data && parseKubeconfig(data.toString('utf8'), file);
  } catch {
    credentials = undefined;
  }
  const target = credentials && endpoint(credentials.server);
  if (!credentials || !target)
    return {
      file,
      findings: [
        notChecked(
          file,
          `not dialed: ${credentials ? `server "${credentials.server}" is not an https URL` : 'the file cannot be read as a kubeconfig'}`,
        ),
      ],
    };
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
  if (!roots)
    return {
      file,
      findings: [
        notChecked(subject, 'not dialed: the kubeconfig has no usable certificate-authority (client-go would use the system roots)'),
      ],
    };
  const caFile = credentials.certificateAuthority?.path ?? `${path.basename(file)}'s certificate-authority-data`;
  const dialer: Dialer = { subject, host: target.host, roots, rootsFile: caFile, files: [file] };
  let usable: KubeconfigProbe['usable'];
  let servedChain: x509.X509Certificate[] = [];
  const findings = await checks.dial(dialer, target, '/api', { cert, key }, async (result, served) => {
    servedChain = served;
    if (result.status === undefined && !result.error) return [];
    if (result.status === 200 && cert && key) usable = { target, cert, key, roots: roots!, caFile };
    const offline = await checks.offlineClientError({
      leaf: client,
      label: file,
      trustedBy: clientCa && { roots: clientCa, file: 'kube-apiserver --client-ca-file' },
    });
    return clientAnswerFindings(subject, file, client, result, offline);
  });
  // An untrusted chain: name the CA that did sign it, and whether it is one of the PKI's.
  const named = findings.map((f) =>
    f.code === FindingCode.ChainUntrusted && f.subject === subject
      ? {
          ...f,
          diagnosis: `${f.diagnosis}: ${servedSigner(servedChain, { authorities: roots, clientCertificates: client && [client] }, knownCas)}`,
        }
      : f,
  );
  return { file, findings: named, usable };
}

interface ApiServiceItem {
  metadata?: { name?: string };
  spec?: {
    group?: string;
    version?: string;
    service?: { name?: string; namespace?: string; port?: number };
    caBundle?: string;
    insecureSkipTLSVerify?: boolean;
  };
  status?: { conditions?: ApiServiceCondition[] };
}

type AdminCredentials = NonNullable<KubeconfigProbe['usable']>;

/** One GET with admin credentials: the JSON answer, or the finding that says why there is none. */
async function adminGet<T>(
  checks: LiveChecks,
  admin: AdminCredentials,
  what: string,
  requestPath: string,
): Promise<{ value: T } | { finding: Finding }> {
  const result = await probe({
    host: admin.target.host,
    port: admin.target.port,
    path: requestPath,
    clientCertificate: admin.cert.toString(),
    clientKey: admin.key.toString(),
    timeoutMs: checks.timeoutMs,
  });
  if (result.status !== 200) {
    return {
      finding:
        result.status === undefined
          ? unreachable({ subject: what, files: [] }, result, requestPath)
          : notChecked(
              what,
              `${requestPath} not read: the apiserver answered ${result.status}${result.status === 403 ? ' (the admin kubeconfig may not read it)' : ''}`,
            ),
    };
  }
  try {
    return { value: JSON.parse(result.body ?? '') as T };
  } catch {
    return { finding: notChecked(what, `${requestPath} not read: the apiserver answered something other than JSON`) };
  }
}

/** What the APIService checks take from the other inputs. */
interface ApiServiceContext {
  admin: AdminCredentials;
  /** --enable-aggregator-routing: the aggregator dials the Service's endpoints, not its ClusterIP. */
  endpointRouting: boolean;
  /** kube-apiserver's front-proxy client certificate, presented to backends as the aggregator does. */
  proxyClient?: { cert: Buffer; key: Buffer; label: string };
  /** --serving-cert files: what the backends should be serving. */
  servingCerts: string[];
  /** Findings the offline checks made already (an --apiservice manifest of the same object). */
  known: Finding[];
}

/** The identity headers the 1.20 availability check sends with the front-proxy certificate. */
const AVAILABILITY_CHECK_HEADERS = { 'X-Remote-User': 'system:kube-aggregator', 'X-Remote-Group': 'system:masters' };

/** The --serving-cert file a backend for `host` should serve, and whether it pairs with the .key beside it. */
async function expectedServingCert(
  checks: LiveChecks,
  files: string[],
  host: string,
): Promise<{ file: string; cert: x509.X509Certificate; pairLoadable: boolean } | undefined> {
  const given = (await Promise.all(files.map(async (file) => ({ file, cert: (await checks.files.certificates(file))?.[0] })))).filter(
    (g): g is { file: string; cert: x509.X509Certificate } => Boolean(g.cert),
  );
  const match = given.find((g) => certificateFacts(g.cert).dnsNames.includes(host)) ?? (given.length === 1 ? given[0] : undefined);
  if (!match) return undefined;
  const key = /\.crt$/.test(match.file) ? await checks.files.key(match.file.replace(/\.crt$/, '.key')) : undefined;
  return { ...match, pairLoadable: !key || sameKeyPair(publicKeyObject(match.cert), key) };
}

/**
 * An APIService's backend dialed where the aggregator dials it, verified as the aggregator
 * verifies it (caBundle, `<service>.<namespace>.svc`), with the front-proxy certificate presented.
 */
async function backendChecks(checks: LiveChecks, ctx: ApiServiceContext, item: ApiServiceItem): Check {
  const name = item.metadata?.name ?? '?';
  const spec = item.spec ?? {};
  const ref = { name: spec.service?.name ?? '', namespace: spec.service?.namespace || 'default', port: spec.service?.port ?? 443 };
  // Served by kube-apiserver itself, or the kubernetes service the aggregator routes to its own loopback.
  if (!ref.name || (ref.namespace === 'default' && ref.name === 'kubernetes' && ref.port === 443)) return [];
  const subject = `APIService ${name}`;
  const host = `${ref.name}.${ref.namespace}.svc`;
  const unlessKnown = (f: Finding) => (ctx.known.some((k) => k.code === f.code && k.subject === f.subject) ? [] : [f]);
  const fix = `kpki cert extension-apiserver --service ${ref.name} --namespace ${ref.namespace} --api-group ${spec.group} --api-version ${spec.version} issues a serving certificate and the APIService with its caBundle`;
  if (spec.insecureSkipTLSVerify) {
    return unlessKnown({
      code: FindingCode.ApiServiceInsecure,
      severity: 'error',
      subject,
      symptom: '',
      diagnosis: `insecureSkipTLSVerify: true in the cluster: kube-apiserver sends every ${spec.group} request, with the user's identity headers, to whoever answers as ${host}, unverified`,
      fix,
      files: [],
    });
  }
  const bundle = spec.caBundle ? rootCertificates(Buffer.from(spec.caBundle, 'base64')) : undefined;
  if (!bundle?.ok) {
    return unlessKnown(
      bundle
        ? {
            code: FindingCode.FileInvalid,
            severity: 'error',
            subject,
            symptom: bundle.error,
            diagnosis: `the caBundle of APIService ${name} in the cluster is not base64 of PEM certificates`,
            fix,
            files: [],
          }
        : {
            code: FindingCode.ApiServiceNoCaBundle,
            severity: 'error',
            subject,
            symptom: 'x509: certificate signed by unknown authority',
            diagnosis: `APIService ${name} in the cluster has no caBundle, so nothing can verify ${host}'s serving certificate`,
            fix,
            files: [],
          },
    );
  }
  const service = await adminGet<ServiceObject>(checks, ctx.admin, subject, `/api/v1/namespaces/${ref.namespace}/services/${ref.name}`);
  if ('finding' in service) return [service.finding];
  const endpoints = ctx.endpointRouting
    ? await adminGet<EndpointsObject>(checks, ctx.admin, subject, `/api/v1/namespaces/${ref.namespace}/endpoints/${ref.name}`)
    : undefined;
  if (endpoints && 'finding' in endpoints) return [endpoints.finding];
  const route = aggregatorRoute(ref, service.value, endpoints?.value, ctx.endpointRouting);
  if ('reason' in route)
    return [
      notChecked(subject, `the backend's serving certificate not checked: the aggregator has nowhere to send requests (${route.reason})`),
    ];
  const discoveryPath = name === 'v1.' ? `/api/${spec.version}` : `/apis/${spec.group}/${spec.version}`;
  const expected = await expectedServingCert(checks, ctx.servingCerts, host);
  const groups = route.addresses.map(async (address) => {
    const url = httpsUrl(address.host, address.port);
    const target = { host: address.host, port: address.port, url, servername: host };
    const dialer: Dialer = {
      subject: `${subject} → ${url}`,
      host,
      roots: bundle.value,
      rootsFile: `APIService ${name}'s caBundle`,
      files: [],
      // kubectl shows only the status; the aggregator's 503 body is Go's error.
      says: (goError) =>
        `Error from server (ServiceUnavailable): the server is currently unable to handle the request (kube-apiserver's 503 for ${spec.group}/${spec.version}: error trying to reach service: ${goError})`,
      untrustedFix: `put the CA that signed ${host}'s serving certificate into APIService ${name}'s caBundle, or serve a certificate of the caBundle's CA (${fix})`,
    };
    const findings = await checks.dial(
      dialer,
      target,
      discoveryPath,
      { cert: ctx.proxyClient?.cert, key: ctx.proxyClient?.key, headers: AVAILABILITY_CHECK_HEADERS },
      (result, served) => [
        ...(expected
          ? staleServingFinding(
              `the extension apiserver behind service ${ref.namespace}/${ref.name}`,
              url,
              '--serving-cert',
              expected.file,
              served[0]!,
              expected.cert,
              expected.pairLoadable,
            )
          : []),
        ...(ctx.proxyClient
          ? backendAnswerFindings(
              {
                apiService: name,
                service: host,
                discoveryUrl: `${url}${discoveryPath}`,
                subject: dialer.subject,
                proxyClient: ctx.proxyClient.label,
                files: [],
              },
              result,
            )
          : []),
      ],
    );
    // Not reached: said so, with the route, since pod and service IPs are often unroutable from here.
    return findings.map((f) =>
      f.code === FindingCode.Unchecked
        ? { ...f, diagnosis: `${f.diagnosis} (${address.via}, as the aggregator dials it; kpki may run where that address does not route)` }
        : f,
    );
  });
  return (await Promise.all(groups)).flat();
}

/** APIService conditions and backends, read with the first admin kubeconfig that authenticated. */
async function apiServiceChecks(
  checks: LiveChecks,
  probes: KubeconfigProbe[],
  { apiserver, extensionServingCerts, profile }: AssembledInputs['inputs'],
  known: Finding[],
): Check {
  const adminFiles = kubeconfigFilesOf(profile, 'admin', 'super-admin');
  const admin = probes.find((p) => p.usable && adminFiles.includes(path.basename(p.file)))?.usable;
  if (!admin)
    return [
      notChecked(
        'APIServices',
        `conditions and backends not read: no ${adminFiles.join(' or ')} among the kubeconfigs authenticated`,
        'info',
      ),
    ];
  const list = await adminGet<{ items?: ApiServiceItem[] }>(checks, admin, 'APIServices', '/apis/apiregistration.k8s.io/v1/apiservices');
  if ('finding' in list) return [list.finding];
  const proxyCertFile = apiserver && flag(apiserver, 'proxy-client-cert-file');
  const proxyCert = await checks.files.read(proxyCertFile);
  const proxyKey = await checks.files.read(apiserver && flag(apiserver, 'proxy-client-key-file'));
  const ctx: ApiServiceContext = {
    admin,
    endpointRouting: ['1', 't', 'T', 'true', 'TRUE', 'True'].includes((apiserver && flag(apiserver, 'enable-aggregator-routing')) ?? ''),
    proxyClient:
      proxyCert && proxyKey
        ? { cert: proxyCert, key: proxyKey, label: `kube-apiserver --proxy-client-cert-file (${proxyCertFile})` }
        : undefined,
    servingCerts: extensionServingCerts,
    known,
  };
  const items = list.value.items ?? [];
  const conditions = items.flatMap((item) => {
    const service = item.spec?.service?.name ? `${item.spec.service.name}.${item.spec.service.namespace ?? 'default'}.svc` : undefined;
    return apiServiceFindings(item.metadata?.name ?? '?', service, item.status?.conditions ?? []);
  });
  return [...conditions, ...(await Promise.all(items.map((item) => backendChecks(checks, ctx, item)))).flat()];
}

/** The PKI's CAs: the apiserver's client CA, and with --cert-dir the profile's root CAs there. */
async function pkiCas(checks: LiveChecks, { inputs, certDir }: AssembledInputs, clientCa: KnownCa | undefined): Promise<KnownCa[]> {
  const roots = certDir
    ? inputs.profile.certificates.filter((entry) => !entry.issuer).map((entry) => path.join(certDir, `${entry.file}.crt`))
    : [];
  const found = await Promise.all(
    roots.map(async (file): Promise<KnownCa[]> => {
      const certs = await checks.files.certificates(file);
      return certs?.length ? [{ file, certs }] : [];
    }),
  );
  return [...(clientCa ? [clientCa] : []), ...found.flat()];
}

/**
 * Read-only checks against the running components the inputs name, added to `base` (the offline
 * result for the same assembled inputs: the same components, flags and files). Every connection
 * is bounded by `timeoutMs`; what could not be reached is a finding, never silence.
 */
export async function checkLive(assembled: AssembledInputs, base: VerifyResult, timeoutMs: number): Promise<VerifyResult> {
  const { inputs } = assembled;
  const checks = new LiveChecks(new Files(assembled.resolve), timeoutMs);
  const { apiserver, controllerManager: cm } = inputs;
  const clientCa = await checks.files.certificates(apiserver && flag(apiserver, 'client-ca-file'));
  const knownCas = await pkiCas(
    checks,
    assembled,
    clientCa && { file: `kube-apiserver --client-ca-file (${flag(apiserver!, 'client-ca-file')})`, certs: clientCa },
  );
  const kubeconfigProbes = Promise.all(inputs.kubeconfigs.map(({ file }) => kubeconfigCheck(checks, file, clientCa, knownCas)));
  const groups = await Promise.all([
    ...apiserverChecks(checks, apiserver, cm && flag(cm, 'root-ca-file')),
    ...etcdChecks(checks, apiserver, inputs.etcd),
    ...componentServingChecks(
      checks,
      assembled,
      (cm && flag(cm, 'root-ca-file')) ?? (apiserver && flag(apiserver, 'client-ca-file')) ?? clusterCaFile(assembled),
    ),
    kubeletChecks(checks, inputs),
    kubeconfigProbes.then((probes) => probes.flatMap((p) => p.findings)),
    kubeconfigProbes.then((probes) => apiServiceChecks(checks, probes, inputs, base.findings)),
  ]);
  return { ...base, ...tallyFindings([...base.findings, ...groups.flat()]) };
}

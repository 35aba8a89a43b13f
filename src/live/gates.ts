/**
 * The one place that checks the live cluster before a CA rotation step writes: every apiserver
 * and etcd member (what they serve, what client CAs they accept), kube-controller-manager's
 * signing (a throw-away CSR, deleted afterwards), the cluster CA bundles in the cluster
 * (kube-root-ca.crt, token Secrets, cluster-info), and every Node and kubelet. Read-only apart from
 * that CSR, every connection bounded; what could not be reached is reported, never skipped. The
 * judgement over what is observed here is gate-judgement.ts.
 */
import path from 'node:path';
import { parseKubeconfig, type Source } from '../kubeconfig/kubeconfig.js';
import { readYamlDocument } from '../model/yaml.js';
import { certificatePem, issueCertificate } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { generateKeyPair, privateKeyPem, type KeyObject } from '../pki/keys.js';
import type { SigningKey } from '../pki/signing-key.js';
import { jwtSigner } from '../pki/jwt.js';
import { isSignedBy, sameAuthority } from '../pki/match.js';
import { parseCertificates } from '../pki/pem.js';
import type { CertificateTemplate } from '../pki/template.js';
import { CLUSTER_CA_DATA_KEY } from '../model/kubeadm-files.js';
import { httpsUrl, parseHostPort } from '../model/net.js';
import { readOptional } from '../store/files.js';
import { dialedNodeAddress, KUBEADM_ADDRESS_TYPES, KUBELET_PORT } from '../verify/inputs/kubelet.js';
import { csrObject, type Request } from './csr.js';
import {
  GateCode,
  judgeGates,
  type BundleFacts,
  type CaKind,
  type GateFacts,
  type GateFinding,
  type GatePhase,
  type GateStep,
  type NodeFacts,
  type ServerFacts,
  type Side,
  type Signer,
} from './gate-judgement.js';
import { probe, type ProbeResult } from './probe.js';
import { restartLine } from '../plan/restart.js';

/** How a gate's fix says to restart a server it dialed: the restart plan's line for it. */
export const restartFix = (component: ServerFacts['component'], node: string | undefined): string =>
  node ? `restart ${restartLine({ node, component })}` : `restart ${component}`;

/** A CA's certificate and, when kpki holds it, its key (to sign throw-away client certificates). */
export interface GateCa {
  cert: x509.X509Certificate;
  /** A key file's, or a PKCS#11 token's (the step opened it). */
  key: SigningKey | undefined;
}

/** A server to dial: where, and on which node. */
export interface GateTarget {
  node: string | undefined;
  url: string;
}

export interface GateInputs {
  step: GateStep;
  phase: GatePhase;
  /** Admin kubeconfigs to read the cluster with, tried in order (admin.conf, super-admin.conf). */
  adminKubeconfigs: string[];
  /** Each CA's sides; a CA the rotation does not cover has `new` equal to `old`. */
  cas: Record<CaKind, Record<Side, GateCa>>;
  rotated: GateFacts['rotated'];
  /** The service-account public keys, with a service-account rotation. */
  saKeys: Record<Side, KeyObject> | undefined;
  apiservers: GateTarget[];
  etcd: GateTarget[];
  /** Nodes kpki manages, by name: whether kpki issued the kubelet's serving certificate. */
  kubelets: Map<string, { managedServing: boolean }>;
  /** Each controller manager's restart with the signer file, as the restart plan names it. */
  controllerManagers: GateFacts['controllerManagers'];
  /** Bound on each connection. */
  timeoutMs: number;
  /** How long the throw-away CSR may take to be signed. */
  signTimeoutMs: number;
}

/** What the gates found, and how long each group of checks took (for `npm run bench`). */
export interface GateReport {
  step: GateStep;
  phase: GatePhase;
  findings: GateFinding[];
  /** The admin kubeconfig the cluster was read with. */
  kubeconfig: string | undefined;
  timings: Record<string, number>;
}

/** The admin credentials, as the apiserver at the kubeconfig's server receives them. */
interface Admin {
  file: string;
  host: string;
  port: number;
  cert: string;
  key: string;
}

type Answer = { status: number; json: unknown } | { error: string };

async function sourceText(source: Source | undefined, kubeconfig: string): Promise<string | undefined> {
  if (!source) return undefined;
  const data = source.data ?? (source.path ? await readOptional(path.resolve(path.dirname(kubeconfig), source.path)) : undefined);
  return data?.toString('utf8');
}

const hostPort = (url: string) => {
  const parsed = new URL(url);
  const hp = parseHostPort(parsed.host);
  return { host: hp?.host ?? parsed.hostname, port: hp?.port ?? 443 };
};

/** One API request with the admin's client certificate: the status and JSON body, or why there is none. */
async function api(
  admin: Admin,
  timeoutMs: number,
  requestPath: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' = 'GET',
  body?: unknown,
): Promise<Answer> {
  const result = await probe({
    host: admin.host,
    port: admin.port,
    path: requestPath,
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    clientCertificate: admin.cert,
    clientKey: admin.key,
    timeoutMs,
  });
  if (result.status === undefined) return { error: result.error ?? 'no answer' };
  try {
    return { status: result.status, json: result.body ? JSON.parse(result.body) : undefined };
  } catch {
    return { status: result.status, json: undefined };
  }
}

/** The first admin kubeconfig the cluster accepts: reading Namespaces answers 200 with it. */
async function adminCredentials(files: string[], timeoutMs: number): Promise<{ admin: Admin } | { why: string }> {
  const why: string[] = [];
  for (const file of files) {
    const data = await readOptional(file);
    if (!data) {
      why.push(`${file} does not exist`);
      continue;
    }
    try {
      const credentials = parseKubeconfig(data.toString('utf8'), file);
      const cert = await sourceText(credentials.clientCertificate, file);
      const key = await sourceText(credentials.clientKey, file);
      if (!cert || !key) {
        why.push(`${file} has no client certificate and key`);
        continue;
      }
      const admin = { file, ...hostPort(credentials.server), cert, key };
      const answer = await api(admin, timeoutMs, '/api/v1/namespaces?limit=1');
      if ('status' in answer && answer.status === 200) return { admin };
      why.push(`${file} → ${credentials.server}: ${'error' in answer ? answer.error : `answered ${answer.status}`}`);
    } catch (error) {
      why.push(`${file}: ${(error as Error).message}`);
    }
  }
  return { why: why.join('; ') || 'no admin kubeconfig given' };
}

/** A client certificate for one request, signed by `ca`, valid for minutes. */
async function throwAwayClient(ca: GateCa, commonName: string): Promise<{ cert: string; key: string } | undefined> {
  if (!ca.key) return undefined;
  const pair = await generateKeyPair('ecdsa-p256');
  const spec: CertificateTemplate = {
    issuer: 'gate',
    isCA: false,
    commonName,
    organizations: [],
    dnsNames: [],
    ipAddresses: [],
    keyUsages: ['digitalSignature'],
    extKeyUsages: ['clientAuth'],
    basicConstraints: false,
    validity: 600,
    backdate: 300,
    keyType: 'ecdsa-p256',
  };
  const cert = await issueCertificate({ spec, publicKey: pair.publicKey, issuer: { key: ca.key, certificate: ca.cert }, now: new Date() });
  return { cert: certificatePem(cert), key: privateKeyPem(pair.privateKey) };
}

/** Which side of a CA signed a certificate. */
function signerOf(cert: x509.X509Certificate, sides: Record<Side, GateCa>): Signer {
  if (isSignedBy(cert, sides.old.cert)) return 'old';
  if (isSignedBy(cert, sides.new.cert)) return 'new';
  return 'other';
}

/** The sides of a CA a bundle holds; undefined when it holds none of them. */
function sidesHeld(pem: string | undefined, sides: Record<Side, GateCa>, origin: string): Side[] | undefined {
  if (!pem) return undefined;
  let certs: x509.X509Certificate[];
  try {
    certs = parseCertificates(Buffer.from(pem), origin);
  } catch {
    return undefined;
  }
  const held = (['old', 'new'] as const).filter((side) => certs.some((c) => sameAuthority(c, sides[side].cert)));
  return held.length ? held : undefined;
}

/** The sides to dial with: both when the CA is rotated, the current one otherwise. */
const sidesOf = (inputs: GateInputs, kind: CaKind): Side[] => (inputs.rotated[kind] ? ['old', 'new'] : ['old']);

/** The user the throw-away client certificates name: a 403 naming it means the certificate was accepted. */
const GATE_USER = 'kpki:rotation-gate';

/**
 * Whether the server accepted the client certificate. etcd ends the handshake with an alert when
 * not; an apiserver or kubelet treats an untrusted certificate as anonymous (401 without anonymous
 * auth, 403 naming system:anonymous with it), and answers the certificate's user otherwise.
 */
function accepted(result: ProbeResult, component: ServerFacts['component']): boolean | undefined {
  if (result.status === undefined) return result.served ? false : undefined;
  if (component === 'etcd' || result.status === 200) return true;
  if (result.status === 401) return false;
  if (result.status === 403)
    return Boolean(result.body?.includes(GATE_USER)) || (result.body?.includes('system:anonymous') ? false : undefined);
  return undefined;
}

interface Dial {
  component: ServerFacts['component'];
  ca: CaKind;
  target: GateTarget;
  /** The request path; headers for a front-proxy probe. */
  path: string;
  /** Whether the served certificate is kpki's to check. */
  checkServing: boolean;
  restart: string;
}

/** Dials one server with a throw-away client certificate of each side: what it serves and what it accepts. */
async function dialServer(inputs: GateInputs, dial: Dial): Promise<ServerFacts> {
  const { host, port } = hostPort(dial.target.url);
  const facts: ServerFacts = {
    component: dial.component,
    node: dial.target.node,
    url: dial.target.url,
    ca: dial.ca,
    accepts: {},
    restart: dial.restart,
  };
  for (const side of sidesOf(inputs, dial.ca)) {
    const client = await throwAwayClient(inputs.cas[dial.ca][side], GATE_USER);
    const result = await probe({
      host,
      port,
      path: dial.path,
      clientCertificate: client?.cert,
      clientKey: client?.key,
      timeoutMs: inputs.timeoutMs,
    });
    if (!result.served) {
      facts.unreachable = result.error ?? 'no TLS handshake';
      return facts;
    }
    if (dial.checkServing) facts.serves ??= signerOf(result.served[0]!, inputs.cas[dial.ca]);
    if (client) facts.accepts[side] = accepted(result, dial.component);
  }
  if (dial.component === 'kube-apiserver') {
    facts.acceptsFrontProxy = {};
    for (const side of sidesOf(inputs, 'front-proxy')) {
      // As the aggregator sends a request: the front-proxy client's name, the user in a header.
      const client = await throwAwayClient(inputs.cas['front-proxy'][side], 'front-proxy-client');
      if (!client) continue;
      const result = await probe({
        host,
        port,
        path: dial.path,
        clientCertificate: client.cert,
        clientKey: client.key,
        headers: { 'X-Remote-User': GATE_USER },
        timeoutMs: inputs.timeoutMs,
      });
      facts.acceptsFrontProxy[side] = accepted(result, dial.component);
    }
  }
  return facts;
}

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/**
 * kube-controller-manager's signing, tried: a CSR for a throw-away key, approved, signed (or not
 * within the bound), then deleted. The certificate's issuer tells which CA file it signs with.
 */
async function signerCheck(inputs: GateInputs, admin: Admin): Promise<GateFacts['signer']> {
  const pair = await generateKeyPair('ecdsa-p256');
  const request: Request = {
    commonName: GATE_USER,
    organizations: [],
    signerName: 'kubernetes.io/kube-apiserver-client',
    usages: ['digital signature', 'key encipherment', 'client auth'],
  };
  const created = await api(admin, inputs.timeoutMs, CSR_PATH, 'POST', await csrObject(request, pair, undefined));
  if ('error' in created || created.status !== 201)
    return { unchecked: `creating a CertificateSigningRequest: ${'error' in created ? created.error : `answered ${created.status}`}` };
  const csr = created.json as { metadata: { name: string }; status?: { certificate?: string; conditions?: unknown[] } };
  const name = csr.metadata.name;
  try {
    const condition = {
      type: 'Approved',
      status: 'True',
      reason: 'KpkiRotationGate',
      message: 'throw-away request of a kpki ca rotate gate',
      lastUpdateTime: new Date().toISOString(),
    };
    const approved = await api(admin, inputs.timeoutMs, `${CSR_PATH}/${name}/approval`, 'PUT', {
      ...csr,
      status: { conditions: [condition] },
    });
    if ('error' in approved || approved.status !== 200)
      return { unchecked: `approving CSR ${name}: ${'error' in approved ? approved.error : `answered ${approved.status}`}` };
    const deadline = Date.now() + inputs.signTimeoutMs;
    for (;;) {
      const read = await api(admin, inputs.timeoutMs, `${CSR_PATH}/${name}`);
      const certificate = 'status' in read ? (read.json as typeof csr | undefined)?.status?.certificate : undefined;
      if (certificate)
        return { signedBy: signerOf(parseCertificates(Buffer.from(certificate, 'base64'), `CSR ${name}`)[0]!, inputs.cas.cluster) };
      if (Date.now() >= deadline) return { notSigned: `CSR ${name} approved but not signed within ${inputs.signTimeoutMs / 1000} s` };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await api(admin, inputs.timeoutMs, `${CSR_PATH}/${name}`, 'DELETE');
  }
}

/** Which service-account key signed a JWT; undefined when it is not one. */
export const tokenSigner = (token: string, keys: Record<Side, KeyObject>): Signer | undefined => jwtSigner(token, keys);

interface Item<T> {
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  type?: string;
  status?: T;
}

/** The cluster CA bundles in the cluster and the namespaces without kube-root-ca.crt. */
async function bundleChecks(
  inputs: GateInputs,
  admin: Admin,
  unread: GateFacts['unread'],
): Promise<Pick<GateFacts, 'bundles' | 'namespacesWithoutRootCa'>> {
  const list = async (what: string, requestPath: string): Promise<Item<unknown>[]> => {
    const answer = await api(admin, inputs.timeoutMs, requestPath);
    if ('error' in answer || answer.status !== 200) {
      unread.push({ what, why: `${requestPath}: ${'error' in answer ? answer.error : `answered ${answer.status}`}` });
      return [];
    }
    return (answer.json as { items?: Item<unknown>[] }).items ?? [];
  };
  const [namespaces, rootCas, secrets, clusterInfo] = await Promise.all([
    list('Namespaces', '/api/v1/namespaces'),
    list('kube-root-ca.crt ConfigMaps', '/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt'),
    list('service-account token Secrets', '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token'),
    list('ConfigMap kube-public/cluster-info', '/api/v1/namespaces/kube-public/configmaps?fieldSelector=metadata.name%3Dcluster-info'),
  ]);
  const cluster = inputs.cas.cluster;
  const bundles: BundleFacts[] = [];
  for (const map of rootCas)
    bundles.push({
      kind: 'kube-root-ca.crt',
      namespace: map.metadata.namespace!,
      name: map.metadata.name,
      holds: sidesHeld(map.data?.[CLUSTER_CA_DATA_KEY], cluster, `${map.metadata.namespace}/kube-root-ca.crt`),
    });
  for (const secret of secrets) {
    const data = secret.data ?? {};
    const decoded = (key: string) => (data[key] ? Buffer.from(data[key], 'base64').toString('utf8') : undefined);
    const token = decoded('token');
    bundles.push({
      kind: 'token-secret',
      namespace: secret.metadata.namespace!,
      name: secret.metadata.name,
      holds: sidesHeld(decoded(CLUSTER_CA_DATA_KEY), cluster, `Secret ${secret.metadata.namespace}/${secret.metadata.name}`),
      ...(token && inputs.saKeys ? { tokenKey: tokenSigner(token, inputs.saKeys) } : {}),
    });
  }
  for (const map of clusterInfo) {
    // kubeadm's cluster-info kubeconfig has a cluster and nothing else (no context to resolve).
    const read = readYamlDocument(map.data?.kubeconfig ?? '');
    const doc = (read.ok ? read.value : undefined) as { clusters?: { cluster?: Record<string, unknown> }[] } | null | undefined;
    const data = doc?.clusters?.[0]?.cluster?.['certificate-authority-data'];
    const pem = typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : undefined;
    bundles.push({
      kind: 'cluster-info',
      namespace: 'kube-public',
      name: 'cluster-info',
      holds: sidesHeld(pem, cluster, 'kube-public/cluster-info'),
    });
  }
  const withRootCa = new Set(rootCas.map((m) => m.metadata.namespace));
  // A namespace being deleted gets no new ConfigMaps.
  const live = namespaces.filter((ns) => (ns.status as { phase?: string } | undefined)?.phase !== 'Terminating');
  return {
    bundles,
    namespacesWithoutRootCa:
      rootCas.length || namespaces.length ? live.map((ns) => ns.metadata.name).filter((name) => !withRootCa.has(name)) : [],
  };
}

interface NodeStatus {
  addresses?: { type: string; address: string }[];
  conditions?: { type: string; status: string; lastHeartbeatTime?: string }[];
  daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
}

/** Every Node: Ready, with its kubelet's Lease renewed lately; kubelets kpki manages dialed as the apiserver dials them. */
async function nodeChecks(
  inputs: GateInputs,
  admin: Admin,
  unread: GateFacts['unread'],
): Promise<{ nodes: NodeFacts[]; kubelets: Promise<ServerFacts>[] }> {
  const [nodes, leases] = await Promise.all([
    api(admin, inputs.timeoutMs, '/api/v1/nodes'),
    api(admin, inputs.timeoutMs, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'),
  ]);
  if ('error' in nodes || nodes.status !== 200) {
    unread.push({ what: 'Nodes', why: `/api/v1/nodes: ${'error' in nodes ? nodes.error : `answered ${nodes.status}`}` });
    return { nodes: [], kubelets: [] };
  }
  const renewed = new Map<string, string>();
  if ('status' in leases && leases.status === 200) {
    for (const lease of (leases.json as { items?: { metadata: { name: string }; spec?: { renewTime?: string } }[] }).items ?? [])
      if (lease.spec?.renewTime) renewed.set(lease.metadata.name, lease.spec.renewTime);
  }
  const now = Date.now();
  const facts: NodeFacts[] = [];
  const kubelets: Promise<ServerFacts>[] = [];
  for (const node of (nodes.json as { items?: Item<NodeStatus>[] }).items ?? []) {
    const name = node.metadata.name;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const beat = [renewed.get(name), ready?.lastHeartbeatTime]
      .filter((t): t is string => Boolean(t))
      .map(Date.parse)
      .sort((a, b) => b - a)[0];
    facts.push({
      name,
      ready: ready?.status === 'True',
      heartbeatAge: beat === undefined ? undefined : Math.max(0, Math.round((now - beat) / 1000)),
    });
    const managed = inputs.kubelets.get(name);
    const address = dialedNodeAddress(
      KUBEADM_ADDRESS_TYPES,
      (node.status?.addresses ?? []).map((a) => [a.type, a.address] as [string, string]),
    );
    if (!managed || !address) continue;
    const url = httpsUrl(address.address, node.status?.daemonEndpoints?.kubeletEndpoint?.Port || KUBELET_PORT);
    kubelets.push(
      dialServer(inputs, {
        component: 'kubelet',
        ca: 'cluster',
        target: { node: name, url },
        path: '/healthz',
        checkServing: managed.managedServing,
        restart: restartFix('kubelet', name),
      }),
    );
  }
  return { nodes: facts, kubelets };
}

/** Runs every gate check for a step and judges what it found. */
export async function checkGates(inputs: GateInputs): Promise<GateReport> {
  const started = Date.now();
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await work();
    } finally {
      timings[what] = Date.now() - start;
    }
  };
  const unread: GateFacts['unread'] = [];
  const found = await timed('admin kubeconfig', () => adminCredentials(inputs.adminKubeconfigs, inputs.timeoutMs));
  const report = (findings: GateFinding[], kubeconfig: string | undefined): GateReport => ({
    step: inputs.step,
    phase: inputs.phase,
    findings,
    kubeconfig,
    timings: { ...timings, total: Date.now() - started },
  });
  if ('why' in found) {
    return report(
      [
        {
          code: GateCode.Unchecked,
          subject: 'the cluster',
          diagnosis: `not reached with an admin kubeconfig: ${found.why}; nothing could be checked (apiservers, etcd, the controller manager's signing, kube-root-ca.crt, token Secrets, cluster-info, Nodes)`,
          fix: 'give a reachable admin kubeconfig with --admin-kubeconfig FILE, or run the step with --offline (nothing is checked then)',
        },
      ],
      undefined,
    );
  }
  const { admin } = found;
  const servers = timed('apiservers', () =>
    Promise.all(
      inputs.apiservers.map((target) =>
        dialServer(inputs, {
          component: 'kube-apiserver',
          ca: 'cluster',
          target,
          path: '/api',
          checkServing: true,
          restart: restartFix('kube-apiserver', target.node),
        }),
      ),
    ),
  );
  const etcd = timed('etcd', () =>
    Promise.all(
      inputs.etcd.map((target) =>
        dialServer(inputs, {
          component: 'etcd',
          ca: 'etcd',
          target,
          path: '/health',
          checkServing: true,
          restart: restartFix('etcd', target.node),
        }),
      ),
    ),
  );
  const signer = timed('controller-manager signing', () => signerCheck(inputs, admin));
  const bundles = timed('trust bundles', () => bundleChecks(inputs, admin, unread));
  const nodes = timed('nodes and kubelets', async () => {
    const checked = await nodeChecks(inputs, admin, unread);
    return { nodes: checked.nodes, kubelets: await Promise.all(checked.kubelets) };
  });
  const [apiserverFacts, etcdFacts, signerFacts, bundleFacts, nodeFacts] = await Promise.all([servers, etcd, signer, bundles, nodes]);
  const facts: GateFacts = {
    servers: [...apiserverFacts, ...etcdFacts, ...nodeFacts.kubelets],
    signer: signerFacts,
    ...bundleFacts,
    nodes: nodeFacts.nodes,
    unread,
    rotated: inputs.rotated,
    controllerManagers: inputs.controllerManagers,
  };
  return report(judgeGates(inputs.step, inputs.phase, facts), admin.file);
}

/**
 * A real Kubernetes v1.20.2 control plane on loopback addresses, from a PKI made by `kpki init`
 * (the CLI, dist build) for two control-plane nodes:
 *
 *   etcd (client-cert auth) on cp1 ─┬─ kube-apiserver cp1 ─┐
 *                                   └─ kube-apiserver cp2 ─┴─ haproxy on the VIP (the control-plane endpoint)
 *   kube-controller-manager on cp1 (the cluster CA signs CSRs; it serves kpki's certificate)
 *   sample-apiserver (wardle.example.com) behind an APIService whose caBundle kpki made
 *   with options.kubelet: worker w1, a real kubelet on containerd (node.ts)
 *
 * Other shapes (ClusterOptions): `etcd: 'external'` runs three etcd members etcd1..3 from their own
 * `kpki init --etcd-members` node directories instead of the member on cp1; `serviceCidr` with two
 * ranges (either family first) makes the service network dual-stack.
 *
 * Every component runs from a flags file under its node directory (`flags/<component>.flags`, one
 * `--flag=value` a line), so `kpki verify --apiserver-args FILE` reads exactly what the process
 * got. restart() rewrites a component's flags (overrides relative to the baseline) and restarts it;
 * stop() tears everything down. Children get their own process groups and die with the test
 * worker even when it is killed (setpriv --pdeathsig), on signals and in afterAll.
 */
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { KPKI_BIN } from '../support/cli.js';
import { BackgroundProcess, describeRun, freePorts, requireTool, Resources, run, type RunResult } from '../interop/helpers.js';
import { startWorker, type Worker, type WorkerInputs } from './node.js';

/** Where scripts/k8s-binaries.sh puts kube-apiserver & co. */
export const K8S_BIN = process.env.KPKI_K8S_BIN ?? '/var/cache/kpki/k8s-v1.20.2/bin';
const HAPROXY = '/usr/sbin/haproxy';
const SETPRIV = '/usr/bin/setpriv';

export type K8sBinary = 'kube-apiserver' | 'kube-controller-manager' | 'sample-apiserver';
export type Component = 'etcd' | K8sBinary | 'haproxy';
export type NodeName = 'cp1' | 'cp2';
/** External etcd members, each from its own `kpki init --etcd-members` node directory. */
export type EtcdMemberName = 'etcd1' | 'etcd2' | 'etcd3';
/** Where a process runs: a control plane or an external etcd member. */
export type Host = NodeName | EtcdMemberName;

export const SERVICE_CIDR = '10.96.0.0/12';
export const SERVICE_IP = '10.96.0.1';
export const DNS_DOMAIN = 'cluster.local';
export const SA_ISSUER = `https://kubernetes.default.svc.${DNS_DOMAIN}`;
export const WARDLE = { group: 'wardle.example.com', version: 'v1alpha1', service: 'api', namespace: 'wardle', user: 'wardle-apiserver' };
export const WARDLE_APISERVICE = `${WARDLE.version}.${WARDLE.group}`;

/** A missing binary fails the suite (never a skip) with the command that provides it. */
function requireExecutable(file: string, hint: string): string {
  try {
    accessSync(file, fsConstants.X_OK);
    return file;
  } catch {
    throw new Error(`the cluster suite needs ${file}, which is missing: ${hint}`);
  }
}

export function k8sBinary(name: K8sBinary | 'kubelet'): string {
  return requireExecutable(path.join(K8S_BIN, name), 'run scripts/k8s-binaries.sh (bash .ci/run does)');
}

/** Test-worker signals become a normal exit, so the interop helpers' exit hook kills every group. */
let signalsHooked = false;
function exitOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => process.exit(code));
  }
}

export interface ControlPlaneNode {
  name: NodeName;
  address: string;
  /** The node's /etc/kubernetes as kpki init wrote it. */
  dir: string;
  /** https://ADDRESS:BIND_PORT */
  url: string;
  pki(file: string): string;
  kubeconfig(name: string): string;
}

export interface EtcdMember {
  name: Host;
  address: string;
  clientUrl: string;
  peerUrl: string;
  /** The member's pki/ (cp1's when stacked). */
  pki(file: string): string;
}

export interface TlsCredentials {
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  /** Host name to verify the serving certificate for (default: the URL's host). */
  servername?: string;
}

export interface HttpsAnswer {
  status: number;
  body: string;
}

/** One HTTPS request with explicit trust and credentials; rejects on TLS and connection errors. */
export function httpsRequest(
  url: string,
  creds: TlsCredentials,
  opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpsAnswer> {
  const target = new URL(url);
  const name = creds.servername ?? target.hostname;
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        // Node sends no SNI for IPs and checks the URL's host; check the requested name instead.
        servername: net.isIP(name) ? undefined : name,
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
        headers: {
          ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
          ...(opts.body ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The CA, client certificate and key embedded in a kubeconfig (kpki writes one of each). */
export function kubeconfigCredentials(file: string): Required<Pick<TlsCredentials, 'ca' | 'cert' | 'key'>> & { server: string } {
  const doc = parseYaml(readFileSync(file, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  return {
    server: doc.clusters[0]!.cluster.server,
    ca: unb64(doc.clusters[0]!.cluster['certificate-authority-data']),
    cert: unb64(doc.users[0]!.user['client-certificate-data']),
    key: unb64(doc.users[0]!.user['client-key-data']),
  };
}

/** Polls `probe` every 500 ms until it returns true; on timeout throws `describe()`'s account. */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
  describe: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not within ${timeoutMs / 1000} s${last ? ` (last error: ${last})` : ''}\n${describe()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

type Flags = [name: string, value: string][];
/** Flag overrides for restart(): a value replaces the baseline's, null removes the flag. */
export type FlagOverrides = Record<string, string | null>;

interface Running {
  component: Component;
  node: Host;
  baseline: Flags;
  flagsFile: string;
  proc?: BackgroundProcess;
}

export interface ClusterOptions {
  /** Passed to kpki init (default: kpki's default, rsa-2048). */
  keyType?: string;
  /** Readiness bound per component start (default 90 s: two apiservers share two cores). */
  readyTimeoutMs?: number;
  /** 'stacked' (default): one member on cp1; 'external': etcd1..3 from `kpki init --etcd-members`, on etcd's default ports. */
  etcd?: 'stacked' | 'external';
  /** kpki init's --service-cidr and the apiservers' --service-cluster-ip-range (default SERVICE_CIDR); two ranges turn on IPv6DualStack (alpha in 1.20). */
  serviceCidr?: string;
  /** More addresses for cp1 in kpki init (a dual-stack node: ::1); the apiservers' port is kept free on them. */
  cp1ExtraAddresses?: string[];
  /** Run a real kubelet on worker w1 (node.ts), serving kpki's offline certificate or bootstrapping one. */
  kubelet?: WorkerInputs['serving'];
  /** More `kpki init` arguments (e.g. --ca-key-uri), and the environment of every kpki run the harness makes (a token's SOFTHSM2_CONF and PIN). */
  initArgs?: string[];
  kpkiEnv?: Record<string, string>;
  /** Changes to kube-controller-manager's baseline flags: a value replaces, null removes. */
  controllerManager?: FlagOverrides;
}

export interface Cluster {
  root: string;
  /** Where `kpki init` wrote the shared PKI and the top-level admin.conf/super-admin.conf. */
  certDir: string;
  /** admin.conf and super-admin.conf as kpki init wrote them (server: the control-plane endpoint). */
  admin: string;
  superAdmin: string;
  vip: string;
  /** The control-plane endpoint, https://VIP:PORT (haproxy). */
  endpoint: string;
  bindPort: number;
  nodes: Record<NodeName, ControlPlaneNode>;
  /** The apiservers' --etcd-servers: every member's client URL, comma-separated (kpki init's list when external). */
  etcdUrl: string;
  etcdMembers: EtcdMember[];
  serviceCidr: string;
  wardle: { address: string; port: number; dir: string; apiservice: string; servingCert: string; kubeconfig: string };
  /** Worker w1, whose kubelet serving certificate kpki issued: its config for kpki verify, and its kubelet when one runs (options.kubelet). */
  worker: { name: string; address: string; kubeletConfig: string; node?: Worker };
  /**
   * The flags file a component runs from (the controller manager and the sample-apiserver count as
   * cp1's; etcd as its first member's, cp1 when stacked; haproxy has none).
   */
  flagsFile(component: Component, node?: Host): string;
  /** Restarts a component with the baseline flags plus overrides; waits until it serves unless waitReady is false. */
  restart(component: Component, node?: Host, overrides?: FlagOverrides, opts?: { waitReady?: boolean }): Promise<BackgroundProcess>;
  process(component: Component, node?: Host): BackgroundProcess;
  /** Waits until a running component serves again (for the sample-apiserver: its APIService is Available). */
  ready(component: Component, node?: Host): Promise<void>;
  /** kubectl with a kubeconfig (args may start with global flags such as --server); input goes to stdin. */
  kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<RunResult>;
  /** `node bin/kpki.js ARGS`. */
  kpki(args: readonly string[], cwd?: string): Promise<RunResult>;
  /** A fresh directory under the cluster root for a test's files. */
  scratch(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Picks 127.A.B.0/24 at random so concurrent runs (other worktrees) rarely share addresses. */
function loopbackBlock(): string {
  const a = 100 + Math.floor(Math.random() * 150);
  const b = 1 + Math.floor(Math.random() * 250);
  return `127.${a}.${b}`;
}

/** A port free on every host (the two apiservers share one bind port, as kubeadm's do). */
async function portFreeOn(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const [port] = await freePorts(1, hosts[0]);
    const free = await Promise.all(hosts.slice(1).map((h) => canListen(h, port!)));
    if (free.every(Boolean)) return port!;
  }
  throw new Error(`no port free on all of ${hosts.join(', ')} after 20 attempts`);
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Resolves once host:port accepts TCP connections. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function runKpki(args: readonly string[], cwd?: string, env: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [KPKI_BIN, ...args], { timeoutMs: 120_000, cwd, env: { NO_COLOR: '1', ...env } });
}

async function kpkiOk(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await runKpki(args, undefined, env);
  if (r.code !== 0) throw new Error(`kpki failed:\n${describeRun(r)}`);
  return r;
}

/** The RBAC the sample-apiserver's README asks for: delegated authn/authz and its informers. */
const WARDLE_RBAC = `
apiVersion: v1
kind: Namespace
metadata: {name: ${WARDLE.namespace}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: wardle:system:auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${WARDLE.user}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: wardle-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${WARDLE.user}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wardle-informers}
rules:
- {apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: wardle-informers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: wardle-informers}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${WARDLE.user}}]
`;

/**
 * The aggregator dials an APIService's Service; without kube-proxy a ClusterIP leads nowhere and
 * Endpoints refuse loopback IPs, so an ExternalName Service names the backend's loopback address
 * (the aggregator still verifies the certificate for SERVICE.NAMESPACE.svc).
 */
function wardleService(address: string): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${WARDLE.service}, namespace: ${WARDLE.namespace}}
spec: {type: ExternalName, externalName: "${address}"}
`;
}

/**
 * The external members at the client URLs kpki init printed (etcd's default ports on each member's
 * own address), peers on 2380; a port taken on a member's address fails the start with its name.
 */
async function externalMembers(root: string, etcdServers: string[]): Promise<EtcdMember[]> {
  return Promise.all(
    etcdServers.map(async (clientUrl, i) => {
      const { hostname: address, port } = new URL(clientUrl);
      const peerUrl = `https://${address}:2380`;
      for (const p of [Number(port), 2380])
        if (!(await canListen(address, p))) throw new Error(`port ${p} on ${address} (etcd${i + 1}) is taken`);
      const dir = path.join(root, 'nodes', `etcd${i + 1}`, 'etc/kubernetes');
      return { name: `etcd${i + 1}` as EtcdMemberName, address, clientUrl, peerUrl, pki: (file: string) => path.join(dir, 'pki', file) };
    }),
  );
}

/**
 * One cluster for a test file. A cluster that cannot start (binaries missing, a component not
 * ready) fails every test with the reason, instead of vitest's "skipped" for tests after a failed
 * hook. `live()` returns the running cluster or throws that reason; `started()` is undefined then.
 */
export function useCluster(opts: ClusterOptions = {}): { live: () => Cluster; started: () => Cluster | undefined } {
  let cluster: Cluster | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      cluster = await startCluster(opts);
    } catch (err) {
      failure = err;
    }
  });
  afterAll(() => cluster?.stop());
  return {
    live: () => {
      if (!cluster) throw new Error(`the cluster did not start: ${failure instanceof Error ? failure.message : String(failure)}`);
      return cluster;
    },
    started: () => cluster,
  };
}

/** Starts the whole control plane; on any failure everything started so far is stopped. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  exitOnSignals();
  const binaries = {
    'kube-apiserver': k8sBinary('kube-apiserver'),
    'kube-controller-manager': k8sBinary('kube-controller-manager'),
    'sample-apiserver': k8sBinary('sample-apiserver'),
    etcd: requireTool('etcd'),
    haproxy: requireExecutable(HAPROXY, 'apt-get install haproxy (bash .ci/run does)'),
  } satisfies Record<Component, string>;
  const kubectlBin = requireTool('kubectl');
  requireExecutable(SETPRIV, 'apt-get install util-linux');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;

  const res = new Resources();
  try {
    const root = await res.tempDir('cluster');
    const block = loopbackBlock();
    const vip = `${block}.10`;
    const addresses: Record<NodeName, string> = { cp1: `${block}.11`, cp2: `${block}.12` };
    const wardleAddress = `${block}.20`;
    // A worker whose kubelet serving certificate kpki issues, so the apiservers can run with
    // --kubelet-certificate-authority (CIS 1.2.6) and verify can check it; a real kubelet with options.kubelet.
    const workerAddress = `${block}.21`;
    const cp1Extra = opts.cp1ExtraAddresses ?? [];
    const bindPort = await portFreeOn([addresses.cp1, addresses.cp2, ...cp1Extra]);
    const [endpointPort] = await freePorts(1, vip);
    const [etcdClientPort, etcdPeerPort, kcmPort] = await freePorts(3, addresses.cp1);
    const [wardlePort] = await freePorts(1, wardleAddress);
    const certDir = path.join(root, 'pki');
    const serviceCidr = opts.serviceCidr ?? SERVICE_CIDR;
    const externalEtcd: Record<EtcdMemberName, string> | undefined =
      opts.etcd === 'external' ? { etcd1: `${block}.31`, etcd2: `${block}.32`, etcd3: `${block}.33` } : undefined;

    const init = await kpkiOk(
      [
        'init',
        '--json',
        '--cert-dir',
        certDir,
        '--kubeconfig-dir',
        root,
        '--control-plane-nodes',
        `cp1=${[addresses.cp1, ...cp1Extra].join(',')},cp2=${addresses.cp2}`,
        '--control-plane-endpoint',
        `${vip}:${endpointPort}`,
        '--apiserver-bind-port',
        String(bindPort),
        '--workers',
        `w1=${workerAddress}`,
        '--kubelet-serving-certs',
        // kube-controller-manager serves a certificate of the cluster CA, not one it makes up.
        '--component-serving-certs',
        '--service-cidr',
        serviceCidr,
        '--dns-domain',
        DNS_DOMAIN,
        ...(externalEtcd
          ? [
              '--etcd-members',
              Object.entries(externalEtcd)
                .map(([name, address]) => `${name}=${address}`)
                .join(','),
            ]
          : []),
        ...(opts.keyType ? ['--key-type', opts.keyType] : []),
        ...(opts.initArgs ?? []),
      ],
      opts.kpkiEnv,
    );

    const node = (name: NodeName): ControlPlaneNode => {
      const dir = path.join(root, 'nodes', name, 'etc/kubernetes');
      return {
        name,
        address: addresses[name],
        dir,
        url: `https://${addresses[name]}:${bindPort}`,
        pki: (file) => path.join(dir, 'pki', file),
        kubeconfig: (file) => path.join(dir, file),
      };
    };
    const nodes = { cp1: node('cp1'), cp2: node('cp2') };
    const cp1 = nodes.cp1;
    const etcdMembers = externalEtcd
      ? await externalMembers(root, (JSON.parse(init.stdout) as { etcdServers: string[] }).etcdServers)
      : [
          {
            name: 'cp1' as const,
            address: cp1.address,
            clientUrl: `https://${cp1.address}:${etcdClientPort}`,
            peerUrl: `https://${cp1.address}:${etcdPeerPort}`,
            pki: cp1.pki,
          },
        ];
    const etcdUrl = etcdMembers.map((m) => m.clientUrl).join(',');
    const dualStack = serviceCidr.includes(',');
    const endpoint = `https://${vip}:${endpointPort}`;

    // The extension apiserver: serving certificate, its CA and the APIService from kpki; a user
    // kubeconfig from kpki for its delegated authentication and authorization.
    const wardleDir = path.join(root, 'wardle');
    await mkdir(wardleDir);
    const wardlePrefix = path.join(wardleDir, 'wardle');
    await kpkiOk(
      [
        'cert',
        'extension-apiserver',
        '--service',
        WARDLE.service,
        '--namespace',
        WARDLE.namespace,
        '--api-group',
        WARDLE.group,
        '--api-version',
        WARDLE.version,
        '--cert-dir',
        certDir,
        '--out',
        wardlePrefix,
      ],
      opts.kpkiEnv,
    );
    const apiservice = `${wardlePrefix}-apiservice.yaml`;
    const apiserviceDoc = parseYaml(await readFile(apiservice, 'utf8')) as { spec: { service: { port: number } } };
    apiserviceDoc.spec.service.port = wardlePort!;
    await writeFile(apiservice, stringifyYaml(apiserviceDoc));
    const wardleKubeconfig = path.join(wardleDir, 'wardle.conf');
    await kpkiOk(
      ['kubeconfig', 'user', '--client-name', WARDLE.user, '--cert-dir', certDir, '--kubeconfig-dir', root, '--out', wardleKubeconfig],
      opts.kpkiEnv,
    );

    const apiserverFlags = (n: ControlPlaneNode): Flags => [
      ['advertise-address', n.address],
      ['bind-address', n.address],
      ['secure-port', String(bindPort)],
      ['allow-privileged', 'true'],
      ['authorization-mode', 'Node,RBAC'],
      ['client-ca-file', n.pki('ca.crt')],
      ['enable-admission-plugins', 'NodeRestriction'],
      ['enable-bootstrap-token-auth', 'true'],
      ['etcd-cafile', n.pki('etcd/ca.crt')],
      ['etcd-certfile', n.pki('apiserver-etcd-client.crt')],
      ['etcd-keyfile', n.pki('apiserver-etcd-client.key')],
      ['etcd-servers', etcdUrl],
      ['insecure-port', '0'],
      ['kubelet-client-certificate', n.pki('apiserver-kubelet-client.crt')],
      ['kubelet-client-key', n.pki('apiserver-kubelet-client.key')],
      ['kubelet-certificate-authority', n.pki('ca.crt')],
      ['kubelet-preferred-address-types', 'InternalIP,ExternalIP,Hostname'],
      ['proxy-client-cert-file', n.pki('front-proxy-client.crt')],
      ['proxy-client-key-file', n.pki('front-proxy-client.key')],
      ['requestheader-allowed-names', 'front-proxy-client'],
      ['requestheader-client-ca-file', n.pki('front-proxy-ca.crt')],
      ['requestheader-extra-headers-prefix', 'X-Remote-Extra-'],
      ['requestheader-group-headers', 'X-Remote-Group'],
      ['requestheader-username-headers', 'X-Remote-User'],
      ['service-account-issuer', SA_ISSUER],
      ['service-account-key-file', n.pki('sa.pub')],
      ['service-account-signing-key-file', n.pki('sa.key')],
      ['service-cluster-ip-range', serviceCidr],
      ['tls-cert-file', n.pki('apiserver.crt')],
      ['tls-private-key-file', n.pki('apiserver.key')],
      // 1.20 refuses a second range without it (cmd/kube-apiserver/app/options/validation.go).
      ...(dualStack ? [['feature-gates', 'IPv6DualStack=true'] as [string, string]] : []),
    ];
    const initialCluster = etcdMembers.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const etcdFlags = (m: EtcdMember): Flags => [
      ['name', m.name],
      ['data-dir', path.join(root, 'etcd-data', m.name)],
      ['listen-client-urls', m.clientUrl],
      ['advertise-client-urls', m.clientUrl],
      ['listen-peer-urls', m.peerUrl],
      ['initial-advertise-peer-urls', m.peerUrl],
      ['initial-cluster', initialCluster],
      ['cert-file', m.pki('etcd/server.crt')],
      ['key-file', m.pki('etcd/server.key')],
      ['client-cert-auth', 'true'],
      ['trusted-ca-file', m.pki('etcd/ca.crt')],
      ['peer-cert-file', m.pki('etcd/peer.crt')],
      ['peer-key-file', m.pki('etcd/peer.key')],
      ['peer-client-cert-auth', 'true'],
      ['peer-trusted-ca-file', m.pki('etcd/ca.crt')],
      ['logger', 'zap'],
      ['log-outputs', 'stderr'],
    ];
    const kcmBaseline: Flags = [
      ['authentication-kubeconfig', cp1.kubeconfig('controller-manager.conf')],
      ['authorization-kubeconfig', cp1.kubeconfig('controller-manager.conf')],
      ['bind-address', cp1.address],
      ['secure-port', String(kcmPort)],
      ['port', '0'],
      ['client-ca-file', cp1.pki('ca.crt')],
      ['cluster-name', 'kubernetes'],
      ['cluster-signing-cert-file', cp1.pki('ca.crt')],
      ['cluster-signing-key-file', cp1.pki('ca.key')],
      ['controllers', '*,bootstrapsigner,tokencleaner'],
      ['kubeconfig', cp1.kubeconfig('controller-manager.conf')],
      // One instance: no lease to wait for after a restart.
      ['leader-elect', 'false'],
      ['requestheader-client-ca-file', cp1.pki('front-proxy-ca.crt')],
      ['root-ca-file', cp1.pki('ca.crt')],
      ['service-account-private-key-file', cp1.pki('sa.key')],
      ['service-cluster-ip-range', serviceCidr],
      ['tls-cert-file', cp1.pki('controller-manager.crt')],
      ['tls-private-key-file', cp1.pki('controller-manager.key')],
      ['use-service-account-credentials', 'true'],
    ];
    const kcmOverrides = opts.controllerManager ?? {};
    const kcmFlags: Flags = kcmBaseline
      .filter(([name]) => kcmOverrides[name] !== null)
      .map(([name, value]): [string, string] => [name, kcmOverrides[name] ?? value]);
    const wardleFlags: Flags = [
      ['bind-address', wardleAddress],
      ['secure-port', String(wardlePort)],
      ['tls-cert-file', `${wardlePrefix}.crt`],
      ['tls-private-key-file', `${wardlePrefix}.key`],
      ['etcd-servers', etcdUrl],
      ['etcd-cafile', cp1.pki('etcd/ca.crt')],
      ['etcd-certfile', cp1.pki('apiserver-etcd-client.crt')],
      ['etcd-keyfile', cp1.pki('apiserver-etcd-client.key')],
      // Its own keys in the shared etcd, apart from the apiservers' /registry.
      ['etcd-prefix', '/wardle.example.com'],
      ['kubeconfig', wardleKubeconfig],
      ['authentication-kubeconfig', wardleKubeconfig],
      ['authorization-kubeconfig', wardleKubeconfig],
    ];

    const haproxyConfig = path.join(root, 'haproxy.cfg');
    await writeFile(
      haproxyConfig,
      [
        'global',
        '  maxconn 256',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 10m',
        '  timeout server 10m',
        'frontend control-plane',
        `  bind ${vip}:${endpointPort}`,
        '  default_backend apiservers',
        'backend apiservers',
        '  balance roundrobin',
        // As a real load balancer: a stopped apiserver leaves the rotation within two seconds.
        '  option redispatch',
        '  retries 2',
        ...Object.values(nodes).map((n) => `  server ${n.name} ${n.address}:${bindPort} check inter 1s fall 2 rise 1`),
        '',
      ].join('\n'),
    );

    const running = new Map<string, Running>();
    const key = (component: Component, n: Host) => `${component}@${n}`;
    const hostOf = (component: Component, n?: Host): Host => n ?? (component === 'etcd' ? etcdMembers[0]!.name : 'cp1');
    const flagsFile = (component: Component, n?: Host) => path.join(root, 'nodes', hostOf(component, n), 'flags', `${component}.flags`);
    for (const [component, n, baseline] of [
      ...etcdMembers.map((m) => ['etcd', m.name, etcdFlags(m)] as const),
      ['kube-apiserver', 'cp1', apiserverFlags(nodes.cp1)],
      ['kube-apiserver', 'cp2', apiserverFlags(nodes.cp2)],
      ['kube-controller-manager', 'cp1', kcmFlags],
      ['sample-apiserver', 'cp1', wardleFlags],
      ['haproxy', 'cp1', []],
    ] as const) {
      running.set(key(component, n), { component, node: n, baseline: baseline as Flags, flagsFile: flagsFile(component, n) });
    }
    await Promise.all(
      [...new Set([...Object.keys(nodes), ...etcdMembers.map((m) => m.name)])].map((n) =>
        mkdir(path.join(root, 'nodes', n, 'flags'), { recursive: true }),
      ),
    );

    // Read at every use: renewals and CA rotations rewrite it while the cluster runs.
    const superAdmin = () => kubeconfigCredentials(path.join(root, 'super-admin.conf'));
    // Discovery cache inside the cluster root: nothing left in ~/.kube, nothing shared between runs.
    const kubectl = (kubeconfig: string, args: readonly string[], input?: string) =>
      run(kubectlBin, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(root, 'kubectl-cache'), ...args], { input, timeoutMs: 30_000 });
    const superKubectl = async (args: readonly string[], input?: string) => {
      const r = await kubectl(path.join(root, 'super-admin.conf'), args, input);
      if (r.code !== 0) throw new Error(`kubectl failed:\n${describeRun(r)}`);
      return r;
    };

    const ready = async (entry: Running, proc: BackgroundProcess): Promise<void> => {
      const label = `${entry.component} on ${entry.node}`;
      const account = () => `--- last output of ${label} ---\n${proc.tail(3000)}`;
      const alive = (ok: boolean) => {
        if (proc.exited) throw new Error(`${label} exited (${JSON.stringify(proc.exited)})`);
        return ok;
      };
      switch (entry.component) {
        case 'etcd':
          await proc.waitFor(/"msg":"serving client traffic securely"/, { timeoutMs: readyTimeoutMs });
          return;
        case 'kube-apiserver': {
          const url = `${nodes[entry.node as NodeName].url}/readyz`;
          await waitUntil(
            `${label} ready (${url})`,
            readyTimeoutMs,
            async () => alive((await httpsRequest(url, superAdmin(), { timeoutMs: 5_000 })).status === 200),
            account,
          );
          return;
        }
        case 'haproxy':
          await waitUntil(
            `haproxy listening on ${vip}:${endpointPort}`,
            readyTimeoutMs,
            async () => alive(await tcpOpen(vip, endpointPort!)),
            account,
          );
          return;
        case 'kube-controller-manager':
          // Ready once its controllers are started; csrsigning is the last one it starts, or says is off (--controllers=…,-csrsigning).
          await proc.waitFor(/Started "csrsigning"|"csrsigning" is disabled/, { timeoutMs: readyTimeoutMs });
          return;
        case 'sample-apiserver': {
          // Its own port first: after a restart the APIService still reads Available until the aggregator's next check.
          await waitUntil(
            `sample-apiserver listening on ${wardleAddress}:${wardlePort}`,
            readyTimeoutMs,
            async () => alive(await tcpOpen(wardleAddress, wardlePort!)),
            account,
          );
          const jsonpath = '{.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}';
          let last = '';
          await waitUntil(
            `APIService ${WARDLE_APISERVICE} Available`,
            readyTimeoutMs,
            async () => {
              alive(true);
              last = (await superKubectl(['get', 'apiservice', WARDLE_APISERVICE, '-o', `jsonpath=${jsonpath}`])).stdout;
              return last.startsWith('True');
            },
            () => `last condition: ${last}\n${account()}`,
          );
          return;
        }
      }
    };

    const start = async (entry: Running, overrides: FlagOverrides, waitReady: boolean): Promise<BackgroundProcess> => {
      const flags = entry.baseline
        .filter(([name]) => overrides[name] !== null)
        .map(([name, value]): [string, string] => [name, overrides[name] ?? value]);
      for (const [name, value] of Object.entries(overrides)) {
        if (value !== null && !entry.baseline.some(([n]) => n === name)) flags.push([name, value]);
      }
      // haproxy takes its configuration file (overrides.f replaces it) in the foreground; the others run from their flags file.
      const args =
        entry.component === 'haproxy' ? ['-f', overrides.f ?? haproxyConfig, '-db'] : flags.map(([name, value]) => `--${name}=${value}`);
      if (entry.component !== 'haproxy') await writeFile(entry.flagsFile, `${args.join('\n')}\n`);
      const proc = res.start(
        `${entry.component} on ${entry.node}`,
        SETPRIV,
        ['--pdeathsig', 'SIGKILL', '--', binaries[entry.component], ...args],
        { cwd: root },
      );
      entry.proc = proc;
      if (waitReady) await ready(entry, proc);
      return proc;
    };

    const entry = (component: Component, n?: Host): Running => {
      const found = running.get(key(component, hostOf(component, n)));
      if (!found) throw new Error(`no ${component} on ${hostOf(component, n)} in this cluster`);
      return found;
    };

    // Together: a member of a new cluster serves once a quorum has met.
    await Promise.all(etcdMembers.map((m) => start(entry('etcd', m.name), {}, true)));
    await Promise.all([start(entry('kube-apiserver', 'cp1'), {}, true), start(entry('kube-apiserver', 'cp2'), {}, true)]);
    await start(entry('haproxy'), {}, true);
    // kubeadm's step after the control plane is up: admin.conf's group becomes cluster-admin.
    await superKubectl(['apply', '-f', path.join(root, 'kubeadm-cluster-admins.yaml')]);
    await superKubectl(['apply', '-f', '-'], `${WARDLE_RBAC}---${wardleService(wardleAddress)}`);
    await superKubectl(['apply', '-f', apiservice]);
    const workerRoot = path.join(root, 'nodes', 'w1');
    // Not the node's var/lib/kubelet/config.yaml: it names this host's paths (node.ts does the same).
    const kubeletConfig = path.join(workerRoot, 'flags', 'kubelet-config.yaml');
    await mkdir(path.dirname(kubeletConfig), { recursive: true });
    // The worker needs only the endpoint: it starts beside the controller manager and the sample-apiserver.
    const [workerStart, ...others] = await Promise.allSettled([
      opts.kubelet
        ? startWorker({
            name: 'w1',
            address: workerAddress,
            nodeDir: workerRoot,
            workDir: path.join(root, 'worker-w1'),
            adminKubeconfig: path.join(root, 'super-admin.conf'),
            resources: res,
            kubectl,
            clusterDomain: DNS_DOMAIN,
            serving: opts.kubelet,
            readyTimeoutMs,
          })
        : undefined,
      start(entry('kube-controller-manager'), {}, true),
      start(entry('sample-apiserver'), {}, true),
    ]);
    const workerNode = workerStart.status === 'fulfilled' ? workerStart.value : undefined;
    const failed = [workerStart, ...others].find((r) => r.status === 'rejected');
    if (failed) {
      await workerNode?.stop();
      throw failed.reason;
    }
    if (!workerNode)
      await writeFile(
        kubeletConfig,
        stringifyYaml({
          apiVersion: 'kubelet.config.k8s.io/v1beta1',
          kind: 'KubeletConfiguration',
          authentication: { x509: { clientCAFile: path.join(workerRoot, 'etc/kubernetes/pki/ca.crt') } },
          tlsCertFile: path.join(workerRoot, 'var/lib/kubelet/pki/kubelet.crt'),
          tlsPrivateKeyFile: path.join(workerRoot, 'var/lib/kubelet/pki/kubelet.key'),
        }),
      );

    let scratchCount = 0;
    // kpki runs in a directory of its own: its defaults (./pki and its kubeconfigs) must not find what the checkout holds.
    const kpkiCwd = path.join(root, 'kpki-cwd');
    await mkdir(kpkiCwd, { recursive: true });
    return {
      worker: { name: 'w1', address: workerAddress, kubeletConfig, node: workerNode },
      root,
      certDir,
      admin: path.join(root, 'admin.conf'),
      superAdmin: path.join(root, 'super-admin.conf'),
      vip,
      endpoint,
      bindPort,
      nodes,
      etcdUrl,
      etcdMembers,
      serviceCidr,
      wardle: {
        address: wardleAddress,
        port: wardlePort!,
        dir: wardleDir,
        apiservice,
        servingCert: `${wardlePrefix}.crt`,
        kubeconfig: wardleKubeconfig,
      },
      flagsFile,
      async restart(component, n, overrides = {}, restartOpts = {}) {
        const e = entry(component, n);
        // kube-apiserver drains for several seconds on SIGTERM; a restart need not wait for that.
        await e.proc?.stop(2_000);
        return start(e, overrides, restartOpts.waitReady ?? true);
      },
      process(component, n) {
        const proc = entry(component, n).proc;
        if (!proc) throw new Error(`${component} on ${hostOf(component, n)} was never started`);
        return proc;
      },
      async ready(component, n) {
        const e = entry(component, n);
        if (!e.proc) throw new Error(`${component} on ${e.node} was never started`);
        await ready(e, e.proc);
      },
      kubectl,
      kpki: (args, cwd) => runKpki(args, cwd ?? kpkiCwd, opts.kpkiEnv),
      async scratch(name) {
        const dir = path.join(root, 'scratch', `${++scratchCount}-${name}`);
        await mkdir(dir, { recursive: true });
        return dir;
      },
      async stop() {
        const procs = [...running.values()].map((e) => e.proc).filter((p) => p !== undefined);
        await workerNode?.stop();
        await res.dispose();
        const alive = procs.filter((p) => !p.exited).map((p) => p.name);
        if (alive.length) throw new Error(`still running after stop(): ${alive.join(', ')}`);
      },
    };
  } catch (err) {
    await res.dispose();
    throw err;
  }
}

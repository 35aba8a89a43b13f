/**
 * Shared machinery for the interop suites: temp dirs, child processes (with timeouts and reliable
 * clean-up), loopback ports, the kpki CLI, and a typed model of the PKI under test (which files,
 * which CA, which subject, which names) so every suite checks the same expectations.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { beforeAll } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { KPKI_BIN } from '../support/cli.js';
import { FIXTURE_KUBERNETES, FIXTURE_SETTINGS as FIXTURE_INPUT, REPO_ROOT } from '../support/tmp.js';

// ---------------------------------------------------------------------------------------------
// Required binaries: missing ones fail loudly, naming the package that provides them.

export type ToolName = 'openssl' | 'etcd' | 'etcdctl' | 'kubectl' | 'go';

const TOOLS: Record<ToolName, { candidates: string[]; install: string }> = {
  openssl: { candidates: ['openssl'], install: 'apt-get install openssl' },
  etcd: { candidates: ['etcd'], install: 'apt-get install etcd-server' },
  etcdctl: { candidates: ['etcdctl'], install: 'apt-get install etcd-client' },
  kubectl: { candidates: ['kubectl'], install: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)' },
  go: { candidates: ['/usr/lib/go-1.23/bin/go', 'go'], install: 'apt-get install golang-1.23-go (Debian bookworm-backports)' },
};

function findOnPath(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = dir ? path.join(dir, name) : name;
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Absolute path of a required tool; throws (failing the suite) with the install hint if absent. */
export function requireTool(tool: ToolName): string {
  const { candidates, install } = TOOLS[tool];
  for (const candidate of candidates) {
    const found = findOnPath(candidate);
    if (found) return found;
  }
  throw new Error(
    `interop test needs "${tool}" (looked for ${candidates.join(', ')}), which is not installed: ` +
      `${install} (bash .ci/run installs every interop dependency)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Child processes. Every child gets its own process group so that a timeout or clean-up kills
// the whole tree; children still alive when the worker exits are killed too.

const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
});

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function spawnInGroup(cmd: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid !== undefined) {
    const pgid = child.pid;
    liveGroups.add(pgid);
    child.once('exit', () => liveGroups.delete(pgid));
  }
  return child;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
}

export interface RunOptions extends SpawnOptions {
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs, default 60 s). Never rejects on exit codes. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const command = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawnInGroup(cmd, args, opts);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(child.pid!, 'SIGKILL'); // grandchildren left behind, if any
      resolve({ command, code, signal, timedOut, stdout, stderr });
    });
    child.stdin!.on('error', () => undefined); // the command may exit without reading its input
    child.stdin!.end(opts.input ?? '');
  });
}

/** A readable one-block description of a finished command, for assertion messages. */
export function describeRun(r: RunResult): string {
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `$ ${r.command}\n(${status})\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Like run, but throws with the full transcript unless the command exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`command failed:\n${describeRun(r)}`);
  return r;
}

/** A long-running child (a server) whose combined stdout+stderr is collected in `output`. */
/** kubectl with no ambient config: only the --kubeconfig a test names counts. */
export function kubectlRun(kubectl: string, args: readonly string[]): Promise<RunResult> {
  return run(kubectl, args, { env: { KUBECONFIG: '/nonexistent-kubeconfig', HOME: '/nonexistent-home' }, timeoutMs: 30_000 });
}

export class BackgroundProcess {
  output = '';
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    cmd: string,
    args: readonly string[],
    opts: SpawnOptions = {},
  ) {
    this.child = spawnInGroup(cmd, args, opts);
    const onData = (d: string): void => {
      this.output += d;
      this.notify();
    };
    this.child.stdout!.setEncoding('utf8').on('data', onData);
    this.child.stderr!.setEncoding('utf8').on('data', onData);
    this.child.once('error', (err) => {
      this.output += `\n[spawn error: ${err.message}]\n`;
      this.exited = { code: null, signal: null };
      this.notify();
    });
    this.child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      this.notify();
    });
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /**
   * Resolves with the first match of `pattern` in the output after offset `from`; rejects when
   * the process exits first or after timeoutMs, quoting the output.
   */
  waitFor(pattern: RegExp, opts: { timeoutMs?: number; from?: number } = {}): Promise<RegExpMatchArray> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const from = opts.from ?? 0;
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, match?: RegExpMatchArray): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve(match!);
      };
      const check = (): void => {
        const match = this.output.slice(from).match(pattern);
        if (match) finish(undefined, match);
        else if (this.exited)
          finish(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before printing ${pattern}:\n${this.tail()}`));
      };
      const timer = setTimeout(
        () => finish(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`)),
        timeoutMs,
      );
      this.listeners.add(check);
      check();
    });
  }

  tail(chars = 4000): string {
    return this.output.slice(-chars);
  }

  /** SIGTERM to the whole process group, SIGKILL after graceMs; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) {
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
      return;
    }
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// Clean-up: one Resources per test file, disposed in afterAll (which vitest runs even when
// beforeAll or a test failed).

export class Resources {
  private readonly dirs: string[] = [];
  private readonly processes: BackgroundProcess[] = [];

  /** A fresh directory under os.tmpdir(), removed by dispose(). */
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `kpki-interop-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  start(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): BackgroundProcess {
    const proc = new BackgroundProcess(name, cmd, args, opts);
    this.processes.push(proc);
    return proc;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.processes.splice(0).map((p) => p.stop()));
    for (const dir of this.dirs.splice(0)) {
      await chmod(dir, 0o700).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Loopback networking.

/** `count` distinct free TCP ports on host, found by binding them all at once. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

// ---------------------------------------------------------------------------------------------
// The PKI under test.

/** One member of a TLS etcd cluster: where it listens and the files kubeadm's etcd manifest names. */
export interface EtcdMember {
  name: string;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
  /** NAME=PEER_URL,… of every member. */
  initialCluster: string;
  server: { cert: string; key: string };
  peer: { cert: string; key: string };
  ca: string;
}

/** etcd's flags for a member with kubeadm's TLS settings (client and peer certificate auth on). */
export function etcdMemberArgs(m: EtcdMember): string[] {
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientUrl}`,
    `--advertise-client-urls=${m.clientUrl}`,
    `--listen-peer-urls=${m.peerUrl}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
    `--initial-cluster=${m.initialCluster}`,
    '--initial-cluster-state=new',
    '--initial-cluster-token=kpki-interop',
    `--cert-file=${m.server.cert}`,
    `--key-file=${m.server.key}`,
    `--trusted-ca-file=${m.ca}`,
    '--client-cert-auth=true',
    `--peer-cert-file=${m.peer.cert}`,
    `--peer-key-file=${m.peer.key}`,
    `--peer-trusted-ca-file=${m.ca}`,
    '--peer-client-cert-auth=true',
    '--logger=zap',
    '--log-outputs=stderr',
  ];
}

export type CaName = 'ca' | 'front-proxy-ca' | 'etcd/ca';
export const CA_NAMES: readonly CaName[] = ['ca', 'front-proxy-ca', 'etcd/ca'];
export type Usage = 'server' | 'client';

/** One leaf certificate with its key and everything a peer should accept it for. */
export interface Leaf {
  /** `apiserver`, `etcd/server`, … for PKI files; `admin.conf`, … for kubeconfig credentials. */
  id: string;
  cert: string;
  key: string;
  ca: CaName;
  cn: string;
  o: string[];
  /** Extended key usages the cert must carry, in kubeadm's order. */
  usages: Usage[];
  /** Serving certs: exact SANs, DNS names sorted, IPs in kubeadm's order. Empty for clients. */
  dnsSans: string[];
  ipSans: string[];
}

export type KubeconfigName = 'admin.conf' | 'super-admin.conf' | 'controller-manager.conf' | 'scheduler.conf' | 'kubelet.conf';

export interface Kubeconfig {
  name: KubeconfigName;
  path: string;
  user: string;
  /** The hosts the `server` URL may name (kubeadm versions differ for kubelet.conf). */
  serverHosts: string[];
  /** The embedded client credentials, written out as PEM files. */
  credentials: Leaf;
}

/** What differs between kubeadm generations: O values, super-admin.conf, a few extensions. */
export interface Flavour {
  name: string;
  adminO: string[];
  kubeletClientO: string[];
  etcdClientO: string[];
  superAdmin: boolean;
  /** kubeadm >= 1.22: self-signed CAs carry SAN DNS:<CN>. */
  caCommonNameSan: boolean;
  /** kubeadm >= 1.21: leaves carry critical BasicConstraints CA:FALSE. */
  leafBasicConstraints: boolean;
}

/** kubeadm 1.20 (the fixture). */
const KUBEADM_1_20: Flavour = {
  name: 'kubeadm v1.20',
  adminO: ['system:masters'],
  kubeletClientO: ['system:masters'],
  etcdClientO: ['system:masters'],
  superAdmin: false,
  caCommonNameSan: false,
  leafBasicConstraints: false,
};

/** kubeadm ≥ 1.29, which kpki follows (it writes super-admin.conf). */
const KUBEADM_CURRENT: Flavour = {
  name: 'kubeadm >= v1.29',
  adminO: ['kubeadm:cluster-admins'],
  kubeletClientO: ['kubeadm:cluster-admins'],
  etcdClientO: [],
  superAdmin: true,
  caCommonNameSan: true,
  leafBasicConstraints: true,
};

export interface PkiSettings {
  nodeName: string;
  advertiseAddress: string;
  controlPlaneEndpoint: string;
  apiserverExtraSans: string[];
  etcdServerExtraSans: string[];
  keyType: string;
}

export interface Pki {
  label: string;
  pkiDir: string;
  settings: PkiSettings;
  flavour: Flavour;
  /** Verification time for peers that can fix their clock; undefined = now. */
  at: Date | undefined;
  caCert(ca: CaName): string;
  caKey(ca: CaName): string;
  kubeconfigs: Kubeconfig[];
  /** The seven PKI leaves, then the kubeconfigs' client credentials. */
  allLeaves: Leaf[];
  leaf(id: string): Leaf;
  kubeconfig(name: KubeconfigName): Kubeconfig;
}

/** The settings every suite generates its PKI with. */
const TEST_SETTINGS: PkiSettings = {
  nodeName: 'cp1',
  advertiseAddress: '127.0.0.1',
  controlPlaneEndpoint: 'k8s-api.kpki.test:6443',
  apiserverExtraSans: ['198.51.100.100', 'extra.kpki.test'],
  etcdServerExtraSans: ['etcd.kpki.test', '192.0.2.7'],
  keyType: 'rsa-2048',
};

/** Settings the kubeadm fixture was made with (see its README). */
const FIXTURE_SETTINGS: PkiSettings = {
  nodeName: FIXTURE_INPUT.nodeName,
  advertiseAddress: FIXTURE_INPUT.advertiseAddress,
  controlPlaneEndpoint: FIXTURE_INPUT.controlPlaneEndpoint,
  apiserverExtraSans: FIXTURE_INPUT.apiserverCertExtraSans,
  etcdServerExtraSans: [],
  keyType: 'rsa-2048',
};

const SERVICE_VIP = '10.96.0.1';
const DNS_DOMAIN = 'cluster.local';

export function isIp(host: string): boolean {
  return net.isIP(host) !== 0;
}

export function hostOf(endpoint: string): string {
  const bracketed = endpoint.match(/^\[([^\]]+)\](?::\d+)?$/);
  if (bracketed) return bracketed[1]!;
  return isIp(endpoint) ? endpoint : endpoint.replace(/:\d+$/, '');
}

/** kubeadm's normalisation: DNS names deduplicated and sorted, IPs deduplicated in order. */
function altNames(names: string[]): { dnsSans: string[]; ipSans: string[] } {
  const dns = [...new Set(names.filter((n) => !isIp(n)))].sort();
  const ips = [...new Set(names.filter(isIp))];
  return { dnsSans: dns, ipSans: ips };
}

function expectedLeaves(pkiDir: string, s: PkiSettings, f: Flavour): Leaf[] {
  const file = (base: string): { cert: string; key: string } => ({
    cert: path.join(pkiDir, `${base}.crt`),
    key: path.join(pkiDir, `${base}.key`),
  });
  const noSans = { dnsSans: [], ipSans: [] };
  const cpeHost = hostOf(s.controlPlaneEndpoint);
  const etcdBase = [s.nodeName, 'localhost', s.advertiseAddress, '127.0.0.1', '::1'];
  return [
    {
      id: 'apiserver',
      ...file('apiserver'),
      ca: 'ca',
      cn: 'kube-apiserver',
      o: [],
      usages: ['server'],
      ...altNames([
        s.nodeName,
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        `kubernetes.default.svc.${DNS_DOMAIN}`,
        SERVICE_VIP,
        s.advertiseAddress,
        cpeHost,
        ...s.apiserverExtraSans,
      ]),
    },
    {
      id: 'apiserver-kubelet-client',
      ...file('apiserver-kubelet-client'),
      ca: 'ca',
      cn: 'kube-apiserver-kubelet-client',
      o: f.kubeletClientO,
      usages: ['client'],
      ...noSans,
    },
    {
      id: 'front-proxy-client',
      ...file('front-proxy-client'),
      ca: 'front-proxy-ca',
      cn: 'front-proxy-client',
      o: [],
      usages: ['client'],
      ...noSans,
    },
    {
      id: 'etcd/server',
      ...file('etcd/server'),
      ca: 'etcd/ca',
      cn: s.nodeName,
      o: [],
      usages: ['server', 'client'],
      ...altNames([...etcdBase, ...s.etcdServerExtraSans]),
    },
    { id: 'etcd/peer', ...file('etcd/peer'), ca: 'etcd/ca', cn: s.nodeName, o: [], usages: ['server', 'client'], ...altNames(etcdBase) },
    {
      id: 'etcd/healthcheck-client',
      ...file('etcd/healthcheck-client'),
      ca: 'etcd/ca',
      cn: 'kube-etcd-healthcheck-client',
      o: f.etcdClientO,
      usages: ['client'],
      ...noSans,
    },
    {
      id: 'apiserver-etcd-client',
      ...file('apiserver-etcd-client'),
      ca: 'etcd/ca',
      cn: 'kube-apiserver-etcd-client',
      o: f.etcdClientO,
      usages: ['client'],
      ...noSans,
    },
  ];
}

interface KubeconfigExpectation {
  name: KubeconfigName;
  user: string;
  o: string[];
  server: 'endpoint' | 'local' | 'either';
}

function expectedKubeconfigs(s: PkiSettings, f: Flavour): KubeconfigExpectation[] {
  const list: KubeconfigExpectation[] = [
    { name: 'admin.conf', user: 'kubernetes-admin', o: f.adminO, server: 'endpoint' },
    { name: 'controller-manager.conf', user: 'system:kube-controller-manager', o: [], server: 'local' },
    { name: 'scheduler.conf', user: 'system:kube-scheduler', o: [], server: 'local' },
    // kubeadm ≥ 1.33 (ControlPlaneKubeletLocalMode) points kubelet.conf at the local apiserver.
    { name: 'kubelet.conf', user: `system:node:${s.nodeName}`, o: ['system:nodes'], server: 'either' },
  ];
  if (f.superAdmin)
    list.splice(1, 0, { name: 'super-admin.conf', user: 'kubernetes-super-admin', o: ['system:masters'], server: 'endpoint' });
  return list;
}

/** The parts of a kubeconfig the suites read (kubeadm writes exactly one of each entry). */
export interface KubeconfigDoc {
  apiVersion?: string;
  kind?: string;
  'current-context'?: string;
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'tls-server-name'?: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  users: { name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
}

export async function readKubeconfig(file: string): Promise<KubeconfigDoc> {
  return parseYaml(await readFile(file, 'utf8')) as KubeconfigDoc;
}

export async function writeKubeconfig(file: string, doc: KubeconfigDoc): Promise<void> {
  await writeFile(file, stringifyYaml(doc), { mode: 0o600 });
}

export function b64(data: string | Buffer): string {
  return Buffer.from(data).toString('base64');
}

function unb64(field: string | undefined, what: string): string {
  if (!field) throw new Error(`kubeconfig has no ${what}`);
  return Buffer.from(field, 'base64').toString('utf8');
}

/** Writes the embedded client cert/key of a kubeconfig to `<outDir>/<name>.crt|.key`. */
async function extractCredentials(kubeconfigPath: string, outDir: string, exp: KubeconfigExpectation): Promise<Leaf> {
  const doc = await readKubeconfig(kubeconfigPath);
  const user = doc.users?.[0]?.user;
  const base = path.join(outDir, exp.name.replace(/\.conf$/, ''));
  const leaf: Leaf = {
    id: exp.name,
    cert: `${base}.crt`,
    key: `${base}.key`,
    ca: 'ca',
    cn: exp.user,
    o: exp.o,
    usages: ['client'],
    dnsSans: [],
    ipSans: [],
  };
  await writeFile(leaf.cert, unb64(user?.['client-certificate-data'], `client-certificate-data in ${kubeconfigPath}`));
  await writeFile(leaf.key, unb64(user?.['client-key-data'], `client-key-data in ${kubeconfigPath}`), { mode: 0o600 });
  return leaf;
}

async function describePki(label: string, root: string, settings: PkiSettings, flavour: Flavour, at: Date | undefined): Promise<Pki> {
  const pkiDir = path.join(root, 'pki');
  const leaves = expectedLeaves(pkiDir, settings, flavour);
  const credentialsDir = path.join(root, 'extracted-credentials');
  await mkdir(credentialsDir, { recursive: true });
  const cpeHost = hostOf(settings.controlPlaneEndpoint);
  const kubeconfigs: Kubeconfig[] = [];
  for (const exp of expectedKubeconfigs(settings, flavour)) {
    const file = path.join(root, exp.name);
    const hosts = { endpoint: [cpeHost], local: [settings.advertiseAddress], either: [cpeHost, settings.advertiseAddress] };
    kubeconfigs.push({
      name: exp.name,
      path: file,
      user: exp.user,
      serverHosts: hosts[exp.server],
      credentials: await extractCredentials(file, credentialsDir, exp),
    });
  }
  const allLeaves = [...leaves, ...kubeconfigs.map((k) => k.credentials)];
  return {
    label,
    pkiDir,
    settings,
    flavour,
    at,
    caCert: (ca) => path.join(pkiDir, `${ca}.crt`),
    caKey: (ca) => path.join(pkiDir, `${ca}.key`),
    kubeconfigs,
    allLeaves,
    leaf: (id) => {
      const found = allLeaves.find((l) => l.id === id);
      if (!found) throw new Error(`no leaf ${id} in ${label}`);
      return found;
    },
    kubeconfig: (name) => {
      const found = kubeconfigs.find((k) => k.name === name);
      if (!found) throw new Error(`no kubeconfig ${name} in ${label}`);
      return found;
    },
  };
}

/** Runs `node bin/kpki.js ARGS` in the repo (dist/ must be built: `npm test` does that). */
function runKpki(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [KPKI_BIN, ...args], { timeoutMs: 120_000, ...opts });
}

/** Where a suite's PKI comes from; its plan (ids, CAs, usages) is known before it exists. */
export interface PkiSource {
  label: string;
  settings: PkiSettings;
  flavour: Flavour;
  create(res: Resources): Promise<Pki>;
}

/** `kpki init` into a fresh temp dir with TEST_SETTINGS and the given key type. */
export function kpkiSource(
  keyType = 'rsa-2048',
  extra: { label: string; args: string[]; env: Record<string, string> } = { label: '', args: [], env: {} },
): PkiSource {
  const settings = { ...TEST_SETTINGS, keyType };
  const label = `kpki init --key-type ${keyType}${extra.label}`;
  const flavour = KUBEADM_CURRENT;
  return {
    label,
    settings,
    flavour,
    async create(res) {
      const root = await res.tempDir(`pki-${keyType}`);
      const r = await runKpki(
        [
          'init',
          '--cert-dir',
          path.join(root, 'pki'),
          '--kubeconfig-dir',
          root,
          '--node-name',
          settings.nodeName,
          '--advertise-address',
          settings.advertiseAddress,
          '--control-plane-endpoint',
          settings.controlPlaneEndpoint,
          '--apiserver-cert-extra-sans',
          settings.apiserverExtraSans.join(','),
          '--etcd-server-cert-extra-sans',
          settings.etcdServerExtraSans.join(','),
          '--key-type',
          keyType,
          ...extra.args,
        ],
        { env: extra.env },
      );
      if (r.code !== 0) throw new Error(`kpki init failed:\n${describeRun(r)}`);
      return describePki(label, root, settings, flavour, undefined);
    },
  };
}

/**
 * A writable copy of the kubeadm v1.20.2 fixture: the control group. Its certs are valid from
 * 2026-11-22 for a year, so peers that can fix their clock verify at a time inside that window.
 */
const FIXTURE_LABEL = 'kubeadm v1.20.2 fixture (control)';
export const KUBEADM_FIXTURE: PkiSource = {
  label: FIXTURE_LABEL,
  settings: FIXTURE_SETTINGS,
  flavour: KUBEADM_1_20,
  async create(res) {
    const root = await res.tempDir('fixture');
    await cp(FIXTURE_KUBERNETES, root, { recursive: true });
    await chmodTree(root);
    return describePki(FIXTURE_LABEL, root, FIXTURE_SETTINGS, KUBEADM_1_20, new Date('2027-01-01T00:00:00Z'));
  },
};

/** The leaves a source will have (PKI files, then kubeconfig credentials), for test tables. */
export function leafPlan(source: PkiSource): Pick<Leaf, 'id' | 'ca' | 'usages'>[] {
  return [
    ...expectedLeaves('', source.settings, source.flavour),
    ...expectedKubeconfigs(source.settings, source.flavour).map((k) => ({ id: k.name, ca: 'ca' as const, usages: ['client' as const] })),
  ].map(({ id, ca, usages }) => ({ id, ca, usages }));
}

export function kubeconfigPlan(source: PkiSource): KubeconfigName[] {
  return expectedKubeconfigs(source.settings, source.flavour).map((k) => k.name);
}

/**
 * Creates the source's PKI in beforeAll (once per describe block) and returns its getter;
 * tests that run after a failed beforeAll fail with the reason instead of a TypeError.
 */
export function usePki(res: Resources, source: PkiSource): () => Pki {
  let pki: Pki | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      pki = await source.create(res);
    } catch (err) {
      failure = err;
      throw err;
    }
  }, 240_000);
  return () => {
    if (!pki) throw new Error(`PKI "${source.label}" was not created: ${failure instanceof Error ? failure.message : String(failure)}`);
    return pki;
  };
}

async function chmodTree(dir: string): Promise<void> {
  const r = spawnSync('chmod', ['-R', 'u+w', dir]);
  if (r.status !== 0) throw new Error(`chmod -R u+w ${dir} failed: ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// openssl helpers shared by several suites.

export interface Subject {
  cn: string[];
  o: string[];
  other: string[];
}

/** Subject of a certificate as openssl reads it (RFC 2253 form, multi-valued RDNs split). */
export async function opensslSubject(cert: string, field: 'subject' | 'issuer' = 'subject'): Promise<Subject> {
  const r = await runOk(requireTool('openssl'), ['x509', '-noout', `-${field}`, '-nameopt', 'RFC2253', '-in', cert]);
  const text = r.stdout.trim().replace(new RegExp(`^${field}=`), '');
  const subject: Subject = { cn: [], o: [], other: [] };
  for (const part of text.split(/(?<!\\)[,+]/).filter(Boolean)) {
    const [type, ...rest] = part.split('=');
    const value = rest.join('=');
    if (type === 'CN') subject.cn.push(value);
    else if (type === 'O') subject.o.push(value);
    else subject.other.push(part);
  }
  return subject;
}

/** openssl's `-attime` arguments for a PKI with a fixed verification time. */
export function opensslAtTime(pki: Pki): string[] {
  return pki.at ? ['-attime', String(Math.floor(pki.at.getTime() / 1000))] : [];
}

/**
 * openssl arguments trusting exactly one CA file. Unlike -CAfile, -verifyCAfile does not let
 * OpenSSL append that CA to the chain it sends, so each side presents only its leaf, as
 * kube-apiserver, etcd and client-go do.
 */
export function opensslTrustOnly(caFile: string): string[] {
  return ['-verifyCAfile', caFile, '-no-CAfile', '-no-CApath', '-no-CAstore'];
}

export interface HealthzServer {
  port: number;
  proc: BackgroundProcess;
}

/**
 * `openssl s_server -WWW` on 127.0.0.1 serving the file `healthz` (body "ok"), presenting
 * `serving` and demanding a client certificate that chains to `clientCa` (handshake fails
 * otherwise): a stand-in for a kube-apiserver that requires client certs.
 */
export async function startHealthzServer(res: Resources, pki: Pki, name: string, serving: Leaf, clientCa: CaName): Promise<HealthzServer> {
  const openssl = requireTool('openssl');
  const dir = await res.tempDir(`s_server-${name.replace(/\W+/g, '-')}`);
  await writeFile(path.join(dir, 'healthz'), 'ok\n');
  const [port] = await freePorts(1);
  const proc = res.start(
    `openssl s_server (${name})`,
    openssl,
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      serving.cert,
      '-key',
      serving.key,
      ...opensslTrustOnly(pki.caCert(clientCa)),
      '-Verify',
      '1',
      '-verify_return_error',
      ...opensslAtTime(pki),
      '-WWW',
    ],
    { cwd: dir },
  );
  await proc.waitFor(/^ACCEPT$/m, { timeoutMs: 15_000 });
  return { port: port!, proc };
}

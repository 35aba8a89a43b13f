/**
 * A worker node with a real kubelet v1.20.2, for any cluster shape the suite starts:
 *
 *   containerd (own root, state, socket and config under the worker's work dir; CRI with the local
 *   pause image as sandbox, restrict_oom_score_adj, cgroupfs, a loopback-only CNI conflist)
 *   └─ kubelet --kubeconfig NODE/etc/kubernetes/kubelet.conf (as kpki wrote it), a
 *      KubeletConfiguration at NODE/flags/kubelet-config.yaml, --cert-dir NODE/var/lib/kubelet/pki
 *      └─ one static hostNetwork busybox pod (`busybox-NAME` in default) for kubectl logs/exec
 *
 * NODE is the node's directory as `kpki init --workers` wrote it (the --root of `kpki verify`).
 * The kubelet runs from a flags file (`flags` below) whose --config names the KubeletConfiguration,
 * so `kpki verify --kubelet-config FLAGS` reads what the process got.
 *
 *   startWorker(inputs)         starts containerd and the kubelet; waits until the Node is Ready
 *                               with InternalIP = inputs.address and the static pod runs
 *   worker.restart(overrides)   rewrites the config/flags (overrides relative to the baseline) and
 *                               restarts the kubelet; waits for ready() unless waitReady is false
 *   worker.ready()              the Node Ready at its loopback address, the static pod Running
 *   worker.stop()               kubelet, pods, containerd, mounts; puts back the host state the
 *                               kubelet changes (sysctls, /var/log/pods, …)
 *
 * Loopback node addresses: kubelet 1.20 refuses a loopback --node-ip, so it runs with
 * --cloud-provider=external (it keeps the addresses a Node already has) and the harness sets the
 * Node's InternalIP/Hostname through the status subresource, as a cloud provider would.
 * Processes die with the test worker (setpriv --pdeathsig; the containerd shims, which detach, are
 * killed by an exit hook).
 *
 * One worker at a time per machine: kubelet 1.20's container GC removes the /var/log/pods
 * directories of pods it does not know, so a second test kubelet empties this one's `kubectl logs`.
 */
import { execFileSync } from 'node:child_process';
import { constants as fsConstants, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { BackgroundProcess, describeRun, run, type Resources, type RunResult } from '../interop/helpers.js';
import { k8sBinary, tcpOpen, waitUntil, type FlagOverrides } from './harness.js';
import { BUSYBOX_IMAGE, buildImages, importImages, PAUSE_IMAGE, requireFile } from './images.js';

const SETPRIV = '/usr/bin/setpriv';
const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';
const RUNC = '/usr/sbin/runc';
const CNI_BIN_DIR = '/usr/lib/cni';
const PACKAGES_HINT = 'apt-get install containerd runc containernetworking-plugins (bash .ci/run does)';

/** The kubelet's HTTPS port (the apiserver dials the port the Node reports). */
export const KUBELET_PORT = 10250;

export interface WorkerInputs {
  /** The node name kpki wrote the kubelet.conf for (system:node:NAME). */
  name: string;
  /** A loopback address of its own: the kubelet serves there and the Node's InternalIP is it. */
  address: string;
  /** The node's directory as kpki wrote it (etc/kubernetes/kubelet.conf, var/lib/kubelet/pki). */
  nodeDir: string;
  /** Where containerd's and the kubelet's state go (created). */
  workDir: string;
  /** A cluster-admin kubeconfig: sets the Node's addresses and watches readiness. */
  adminKubeconfig: string;
  /** The cluster's resources: the processes are stopped with them. */
  resources: Resources;
  kubectl: (kubeconfig: string, args: readonly string[], input?: string) => Promise<RunResult>;
  clusterDomain?: string;
  /**
   * The serving certificate: `offline` uses NODE/var/lib/kubelet/pki/kubelet.{crt,key}
   * (kpki init --kubelet-serving-certs), `bootstrap` sets serverTLSBootstrap: true.
   */
  serving?: 'offline' | 'bootstrap';
  /** Readiness bound (default 120 s). */
  readyTimeoutMs?: number;
}

/** Top-level KubeletConfiguration fields to replace (null removes one) and kubelet flags to override. */
export interface KubeletOverrides {
  config?: Record<string, unknown>;
  flags?: FlagOverrides;
}

export interface Worker {
  name: string;
  address: string;
  nodeDir: string;
  /** The KubeletConfiguration the kubelet runs with. */
  kubeletConfig: string;
  /** The kubelet's flags file (its --config names kubeletConfig). */
  flags: string;
  /** The kubelet.conf the kubelet runs with (the baseline: NODE/etc/kubernetes/kubelet.conf). */
  kubeconfig: string;
  /** --cert-dir: kubelet.crt/key (offline) or kubelet-server-current.pem (bootstrap). */
  certDir: string;
  /** The static busybox pod: its mirror pod's name and namespace. */
  pod: { name: string; namespace: string; container: string };
  /** `https://ADDRESS:10250`. */
  url: string;
  kubelet(): BackgroundProcess;
  restart(overrides?: KubeletOverrides, opts?: { waitReady?: boolean }): Promise<BackgroundProcess>;
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/** The kubelet's plain-HTTP healthz (healthzBindAddress:10248) answers ok. */
function healthz(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port: 10248, path: '/healthz', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Sysctls kubelet 1.20 sets at start (pkg/kubelet/cm setupNode with protectKernelDefaults off). */
const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];
/** The values before any test kubelet ran on this boot, written once (first writer wins). */
const SYSCTL_ORIGINALS = '/run/kpki-test-kubelet-sysctls.json';
/**
 * Directories kubelet 1.20 and containerd 1.6 use whatever --root-dir and --state say (deepest
 * first): removed at stop when they were not there before and nothing else is left in them.
 */
const HOST_DIRS = [
  '/var/log/pods',
  '/var/log/containers',
  '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet',
  '/run/containerd/runc/k8s.io',
  '/run/containerd/runc',
  '/run/containerd/fifo',
  '/run/containerd/s',
  '/run/containerd',
];

function recordSysctls(): void {
  const values = Object.fromEntries(KUBELET_SYSCTLS.map((s) => [s, readFileSync(`/proc/sys/${s}`, 'utf8').trim()]));
  try {
    writeFileSync(SYSCTL_ORIGINALS, JSON.stringify(values), { flag: 'wx' });
  } catch {
    // Recorded by an earlier run on this boot, before its kubelet changed them.
  }
}

function restoreSysctls(): void {
  const values = JSON.parse(readFileSync(SYSCTL_ORIGINALS, 'utf8')) as Record<string, string>;
  for (const [name, value] of Object.entries(values)) {
    try {
      writeFileSync(`/proc/sys/${name}`, value);
    } catch {
      // read-only in this sandbox: the kubelet could not change it either
    }
  }
}

/** Mount points under dir, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => Boolean(m) && (m === dir || m!.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** pids of the runc shims and container processes containerd started with this state dir. */
function taskPids(stateDir: string): number[] {
  const tasks = path.join(stateDir, 'io.containerd.runtime.v2.task', 'k8s.io');
  const pids: number[] = [];
  let ids: string[] = [];
  try {
    ids = readdirSync(tasks);
  } catch {
    return pids;
  }
  for (const id of ids) {
    for (const file of ['init.pid', 'shim.pid']) {
      try {
        const pid = Number(readFileSync(path.join(tasks, id, file), 'utf8').trim());
        if (pid > 1) pids.push(pid);
      } catch {
        // not written (yet)
      }
    }
  }
  return pids;
}

/** Kills what outlives containerd (the shims detach from it) and unmounts the containers' file systems. */
function killDetached(stateDir: string, workDir: string): void {
  for (const pid of taskPids(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const mount of mountsUnder(workDir)) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
  }
}

function containerdConfig(dirs: { root: string; state: string; socket: string; cniConf: string }): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${dirs.root}"
state = "${dirs.state}"
[grpc]
  address = "${dirs.socket}"
[ttrpc]
  address = "${dirs.socket}.ttrpc"
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  # runc cannot set the pause container's oom_score_adj without CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[${cri}.containerd]
  default_runtime_name = "runc"
[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runc.options]
  BinaryName = "${RUNC}"
  SystemdCgroup = false
[${cri}.cni]
  bin_dir = "${CNI_BIN_DIR}"
  conf_dir = "${dirs.cniConf}"
`;
}

/** A static pod as a kubelet reads it from staticPodPath: busybox printing a line, then idling. */
function staticPodManifest(workDir: string): string {
  return stringifyYaml({
    apiVersion: 'v1',
    kind: 'Pod',
    // The work dir makes the pod's UID (a hash of the manifest) differ between concurrent clusters: /var/log/pods is shared.
    metadata: { name: 'busybox', namespace: 'default', annotations: { 'kpki.test/work-dir': workDir } },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'busybox',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'echo kpki static pod up; while true; do sleep 5; done'],
        },
      ],
    },
  });
}

export async function startWorker(inputs: WorkerInputs): Promise<Worker> {
  const kubeletBin = k8sBinary('kubelet');
  for (const bin of [CONTAINERD, CTR, RUNC, path.join(CNI_BIN_DIR, 'loopback')]) requireFile(bin, PACKAGES_HINT, fsConstants.X_OK);
  requireFile(SETPRIV, 'apt-get install util-linux', fsConstants.X_OK);
  const { name, address, nodeDir, workDir, resources } = inputs;
  const readyTimeoutMs = inputs.readyTimeoutMs ?? 120_000;
  const dirs = {
    root: path.join(workDir, 'containerd', 'root'),
    state: path.join(workDir, 'containerd', 'state'),
    socket: path.join(workDir, 'containerd', 'containerd.sock'),
    cniConf: path.join(workDir, 'cni'),
    kubeletRoot: path.join(workDir, 'kubelet'),
    staticPods: path.join(workDir, 'static-pods'),
    volumePlugins: path.join(workDir, 'volume-plugins'),
    images: path.join(workDir, 'images'),
  };
  for (const dir of Object.values(dirs)) if (dir !== dirs.socket) await mkdir(dir, { recursive: true });
  const hostDirsBefore = new Set(
    (await Promise.all(HOST_DIRS.map(async (d) => ((await readdir(d).catch(() => undefined)) ? d : undefined)))).filter(Boolean),
  );
  process.once('exit', () => killDetached(dirs.state, workDir));

  const configFile = path.join(workDir, 'containerd', 'config.toml');
  await writeFile(configFile, containerdConfig(dirs));
  await writeFile(
    path.join(dirs.cniConf, '99-loopback.conflist'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'kpki-loopback', plugins: [{ type: 'loopback' }] }),
  );
  await writeFile(path.join(dirs.staticPods, 'busybox.yaml'), staticPodManifest(workDir));
  const imagesBuilt = buildImages(dirs.images);
  const containerd = resources.start(
    `containerd on ${name}`,
    SETPRIV,
    ['--pdeathsig', 'SIGKILL', '--', CONTAINERD, '--config', configFile, '--log-level', 'warn'],
    { cwd: workDir },
  );
  const ctr = (args: string[]) => run(CTR, ['-n', 'k8s.io', '-a', dirs.socket, ...args], { timeoutMs: 60_000 });
  await waitUntil(`containerd on ${name} serving ${dirs.socket}`, readyTimeoutMs, async () => {
    if (containerd.exited) throw new Error(`containerd exited: ${containerd.tail(2000)}`);
    return (await ctr(['version'])).code === 0;
  });
  await importImages(CTR, dirs.socket, await imagesBuilt);

  const certDir = path.join(nodeDir, 'var/lib/kubelet/pki');
  // Beside the node's files, as the control planes' flags files are: its /var/lib/kubelet/config.yaml would name
  // this host's paths, which kpki (verify, the rotation's pre-flight) reads as the node's own.
  const kubeletConfig = path.join(nodeDir, 'flags', 'kubelet-config.yaml');
  const flagsFile = path.join(nodeDir, 'flags', 'kubelet.flags');
  await mkdir(path.dirname(flagsFile), { recursive: true });
  const kubeconfig = path.join(nodeDir, 'etc/kubernetes/kubelet.conf');
  const serving: Record<string, unknown> =
    inputs.serving === 'bootstrap'
      ? { serverTLSBootstrap: true }
      : { tlsCertFile: path.join(certDir, 'kubelet.crt'), tlsPrivateKeyFile: path.join(certDir, 'kubelet.key') };
  const baselineConfig: Record<string, unknown> = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    healthzBindAddress: address,
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: path.join(nodeDir, 'etc/kubernetes/pki/ca.crt') },
    },
    authorization: { mode: 'Webhook' },
    ...serving,
    rotateCertificates: false,
    clusterDomain: inputs.clusterDomain ?? 'cluster.local',
    staticPodPath: dirs.staticPods,
    fileCheckFrequency: '5s',
    syncFrequency: '10s',
    nodeStatusUpdateFrequency: '2s',
    nodeStatusReportFrequency: '5s',
    cgroupDriver: 'cgroupfs',
    // Per-QoS cgroups live in one host-wide "kubepods" tree; a second test kubelet would clean up the first one's pods.
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    makeIPTablesUtilChains: false,
    failSwapOn: false,
    // Nothing evicted or garbage-collected because the test machine's disk is busy.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
  };
  const baselineFlags: [string, string][] = [
    ['config', kubeletConfig],
    ['kubeconfig', kubeconfig],
    ['root-dir', dirs.kubeletRoot],
    ['cert-dir', certDir],
    ['hostname-override', name],
    ['cloud-provider', 'external'],
    ['container-runtime', 'remote'],
    ['container-runtime-endpoint', `unix://${dirs.socket}`],
    ['containerd', dirs.socket],
    ['pod-infra-container-image', PAUSE_IMAGE],
    ['volume-plugin-dir', dirs.volumePlugins],
    ['v', '1'],
  ];

  let stopped = false;
  /** Stops the kubelet, the pods, containerd; unmounts; puts back the host state the kubelet changed. */
  const teardown = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kubelet?.stop(5_000);
    const ids = (await ctr(['tasks', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    await Promise.all(ids.map((id) => ctr(['tasks', 'rm', '-f', id])));
    await containerd.stop(10_000);
    killDetached(dirs.state, workDir);
    if (kubelet) restoreSysctls();
    // What the kubelet wrote outside its root: this worker's pod logs, and the directories if it made them.
    const ownLogs = podUid ? `${pod.namespace}_${pod.name}_${podUid}` : undefined;
    if (ownLogs) {
      await rm(path.join('/var/log/pods', ownLogs), { recursive: true, force: true });
      for (const link of await readdir('/var/log/containers').catch(() => [] as string[])) {
        const target = await readlink(path.join('/var/log/containers', link)).catch(() => '');
        if (target.includes(`/${ownLogs}/`)) await rm(path.join('/var/log/containers', link), { force: true });
      }
    }
    for (const dir of HOST_DIRS) {
      if (hostDirsBefore.has(dir)) continue;
      if (dir.endsWith('device-plugins')) await rm(path.join(dir, 'kubelet.sock'), { force: true });
      await rmdir(dir).catch(() => undefined);
    }
  };

  const kubectlOk = async (args: string[], input?: string) => {
    const r = await inputs.kubectl(inputs.adminKubeconfig, args, input);
    if (r.code !== 0) throw new Error(`kubectl failed:\n${describeRun(r)}`);
    return r.stdout;
  };
  const pod = { name: `busybox-${name}`, namespace: 'default', container: 'busybox' };
  let kubelet: BackgroundProcess | undefined;
  /** The static pod's UID (a hash of its manifest): names its log directory under /var/log/pods. */
  let podUid: string | undefined;

  const ready = async (): Promise<void> => {
    const proc = kubelet!;
    const account = () => `--- last output of kubelet on ${name} ---\n${proc.tail(3000)}`;
    const alive = () => {
      if (proc.exited) throw new Error(`kubelet on ${name} exited (${JSON.stringify(proc.exited)})`);
    };
    let addresses = '';
    await waitUntil(
      `Node ${name} registered`,
      readyTimeoutMs,
      async () => {
        alive();
        addresses = (await kubectlOk(['get', 'node', name, '-o', 'jsonpath={range .status.addresses[*]}{.type}={.address},{end}'])).trim();
        return true;
      },
      account,
    );
    const wanted = `InternalIP=${address},Hostname=${name},`;
    if (addresses !== wanted) {
      const patch = {
        status: {
          addresses: [
            { type: 'InternalIP', address },
            { type: 'Hostname', address: name },
          ],
        },
      };
      await kubectlOk(['patch', 'node', name, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify(patch)]);
    }
    // This kubelet serving (the Node's Ready condition may still be its predecessor's).
    await waitUntil(
      `kubelet on ${name} serving on ${address}:${KUBELET_PORT}`,
      readyTimeoutMs,
      async () => {
        alive();
        return (await healthz(address)) && (await tcpOpen(address, KUBELET_PORT));
      },
      account,
    );
    let state = '';
    await waitUntil(
      `Node ${name} Ready with static pod ${pod.name} running`,
      readyTimeoutMs,
      async () => {
        alive();
        const nodeReady = await kubectlOk(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
        const podReady = await inputs.kubectl(inputs.adminKubeconfig, [
          'get',
          'pod',
          '-n',
          pod.namespace,
          pod.name,
          '-o',
          'jsonpath={.status.phase} {.status.containerStatuses[0].ready}',
        ]);
        state = `Node Ready=${nodeReady}; pod: ${podReady.stdout || podReady.stderr.trim()}`;
        return nodeReady === 'True' && podReady.stdout === 'Running true';
      },
      () => `${state}\n${account()}`,
    );
    podUid = await kubectlOk([
      'get',
      'pod',
      '-n',
      pod.namespace,
      pod.name,
      '-o',
      'jsonpath={.metadata.annotations.kubernetes\\.io/config\\.mirror}',
    ]);
  };

  const start = async (overrides: KubeletOverrides, waitReady: boolean): Promise<BackgroundProcess> => {
    const config = { ...baselineConfig };
    for (const [key, value] of Object.entries(overrides.config ?? {})) {
      if (value === null) delete config[key];
      else config[key] = value;
    }
    await writeFile(kubeletConfig, stringifyYaml(config));
    const flagOverrides = overrides.flags ?? {};
    const flags = baselineFlags.filter(([n]) => flagOverrides[n] !== null).map(([n, v]): [string, string] => [n, flagOverrides[n] ?? v]);
    for (const [n, v] of Object.entries(flagOverrides)) if (v !== null && !baselineFlags.some(([b]) => b === n)) flags.push([n, v]);
    const args = flags.map(([n, v]) => `--${n}=${v}`);
    await writeFile(flagsFile, `${args.join('\n')}\n`);
    kubelet = resources.start(`kubelet on ${name}`, SETPRIV, ['--pdeathsig', 'SIGKILL', '--', kubeletBin, ...args], { cwd: workDir });
    if (waitReady) await ready();
    return kubelet;
  };

  recordSysctls();
  try {
    await start({}, true);
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    name,
    address,
    nodeDir,
    kubeletConfig,
    flags: flagsFile,
    kubeconfig,
    certDir,
    pod,
    url: `https://${address}:${KUBELET_PORT}`,
    kubelet: () => kubelet!,
    async restart(overrides = {}, opts = {}) {
      await kubelet?.stop(5_000);
      return start(overrides, opts.waitReady ?? true);
    },
    ready,
    stop: teardown,
  };
}

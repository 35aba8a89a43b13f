/**
 * Day 2 on a running control plane (test/cluster/harness.ts, any shape): a client loop runs every
 * 100 ms — admin.conf, controller-manager.conf and a user kubeconfig through the load balancer, a
 * service-account token, a request through the aggregation layer to the sample-apiserver, a
 * quorum read with etcdctl and the healthcheck client and, with a running worker, its pod's logs
 * (the apiserver dialing the kubelet) and its Node's Ready condition — across the kpki steps a test names (renew,
 * CA renew, rotation phases). After each step exactly the components the printed plan names are
 * restarted, one at a time. Failed/total is reported per phase; requests the load balancer can
 * route elsewhere must not fail (failures while a single-instance backend the request needs — a
 * lone etcd member, the one sample-apiserver — restarts are reported apart; three etcd members
 * are not single-instance).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'vitest';
import { certificateFacts } from '../../src/pki/certificate.js';
import { parseCertificates } from '../../src/pki/pem.js';
import type { Restart } from '../../src/plan/restart.js';
import { requireTool, run } from '../interop/helpers.js';
import {
  httpsRequest,
  kubeconfigCredentials,
  waitUntil,
  WARDLE,
  type Cluster,
  type Component,
  type Host,
  type NodeName,
} from './harness.js';

/** Graceful apiserver stops: readyz fails first, so the load balancer's health check moves traffic before the listener closes. */
const APISERVER_FLAGS = { 'shutdown-delay-duration': '2s' };

/** haproxy as a production load balancer runs: health-checked backends, retries elsewhere, an admin socket to drain a backend. */
function checkedHaproxyConfig(c: Cluster, socket: string): string {
  const vip = new URL(c.endpoint);
  return [
    'global',
    '  maxconn 256',
    `  stats socket ${socket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 10m',
    '  timeout server 10m',
    '  retries 3',
    '  option redispatch',
    'frontend control-plane',
    `  bind ${vip.hostname}:${vip.port}`,
    '  default_backend apiservers',
    'backend apiservers',
    '  balance roundrobin',
    // A lone etcd member's restart fails every apiserver's etcd readiness check, though requests that
    // need no etcd are still served; with three members (production) that never happens.
    `  option httpchk GET /readyz${c.etcdMembers.length === 1 ? '?exclude=etcd' : ''}`,
    '  timeout check 2s',
    '  default-server check check-ssl verify none inter 250ms fall 3 rise 2',
    ...Object.values(c.nodes).map((n) => `  server ${n.name} ${n.address}:${c.bindPort}`),
    '',
  ].join('\n');
}

interface Sample {
  phase: string;
  probe: string;
  start: number;
  end: number;
  ok: boolean;
  error: string;
}

/** A restart of a backend: requests needing it (or, for an apiserver, its connections) cannot be routed elsewhere meanwhile. */
interface Window {
  component: Component | 'kubelet';
  start: number;
  end: number;
}

/** What each probe needs besides the load-balanced apiservers. */
const DEPENDS: Record<string, Window['component'][]> = {
  etcdctl: ['etcd'],
  aggregated: ['etcd', 'sample-apiserver'],
  'kubectl logs': ['etcd', 'kubelet'],
  // A starting kubelet 1.20 reports NotReady ("container runtime status check may not have completed yet") until its first runtime sync.
  'Node Ready': ['etcd', 'kubelet'],
};
/**
 * etcd's own errors, which the apiserver passes on as 500s without retrying, for requests in flight
 * while a member of three restarts: a leader change (etcd hands leadership off as it stops; the
 * harness hands it off first), a connection to the member as it comes up, or a stream the member
 * closed as it stopped (gRPC: "server closed the stream without sending trailers").
 */
const ETCD_MEMBER_RESTART =
  /etcdserver: leader changed|rpc error: code = Unknown desc = OK: HTTP status code 200; transport: missing content-type field|rpc error: code = Internal desc = server closed the stream without sending trailers/;
/**
 * The sample-apiserver's delegated authentication and authorization (TokenReview,
 * SubjectAccessReview) run over one long-lived connection through the load balancer, pinned to one
 * apiserver: when that apiserver stops, a review in flight ends with EOF, which the 1.20 webhook
 * client does not retry (k8s.io/apiserver's DefaultShouldRetry retries ECONNRESET, not EOF), and the
 * aggregated request fails with 500. The balancer cannot move an established connection; a client
 * of an aggregated API sees the same in any cluster whose apiservers restart.
 */
const AGGREGATED_REVIEW_CUT = /^500 .*(subjectaccessreviews|tokenreviews)\b.*(unexpected EOF|: EOF|connection reset by peer)/;
/** How often a rotation step refused by its live gates is tried again (3 s apart) before the test fails. */
const GATE_ATTEMPTS = 20;
/** After a single-instance backend is back, its clients reconnect with backoff. */
const RECONNECT_GRACE_MS = 5_000;

/** A kpki day-2 command (its arguments before the cluster's directories); phases are named after it unless `phase` says otherwise. */
export interface Day2Step {
  phase?: string;
  args: string[];
  /** What an operator does once the step's restarts are done, still in its phase (e.g. a restart a note asks for). */
  after?: () => Promise<void>;
}

/** The stacked shape's sequence: renew, CA renew, a full rotation, then a second rotation aborted after reissue. */
export const FULL_DAY2: Day2Step[] = [
  { phase: 'renew --all --add-san', args: ['renew', '--all', '--add-san', 'k8s-api-alias.example.test'] },
  { args: ['ca', 'renew', 'ca'] },
  { phase: 'rotate begin', args: ['ca', 'rotate', 'begin', '--service-account'] },
  { phase: 'rotate reissue', args: ['ca', 'rotate', 'reissue'] },
  { phase: 'rotate finish', args: ['ca', 'rotate', 'finish'] },
  { phase: 'second rotation: begin', args: ['ca', 'rotate', 'begin', '--service-account'] },
  { phase: 'second rotation: reissue', args: ['ca', 'rotate', 'reissue'] },
  { phase: 'abort (back to begun)', args: ['ca', 'rotate', 'abort'] },
  { phase: 'abort (done)', args: ['ca', 'rotate', 'abort'] },
];

/**
 * The client loop across the steps, restarts as planned, and the checks at the end. The steps must
 * start with `renew --all --add-san k8s-api-alias.example.test` and rotate at least once (the end
 * checks look for that SAN and for old CAs).
 */
export async function day2OnCluster(c: Cluster, steps: Day2Step[]): Promise<void> {
  const root = c.root;
  const cp1 = c.nodes.cp1;
  const etcdctl = requireTool('etcdctl');
  const etcdClient = c.etcdMembers[0]!;
  const singleEtcd = c.etcdMembers.length === 1;
  const superAdmin = path.join(root, 'super-admin.conf');
  const userKubeconfig = c.wardle.kubeconfig;
  const day2 = ['--cert-dir', c.certDir, '--kubeconfig-dir', root, '--kubeconfig', userKubeconfig, '--json'];

  let phase = 'setup';
  let kcmFlags: Record<string, string> = {};
  /** A restart whose failure quotes the start of the component's output (the harness quotes its end). */
  const restartOrExplain = async (component: Component, node: Host, overrides = {}) => {
    try {
      await c.restart(component, node, overrides);
    } catch (err) {
      throw new Error(
        `${phase}: restarting ${component} on ${node} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n--- first output ---\n${c.process(component, node).output.slice(0, 4000)}`,
      );
    }
  };
  // Production-like load balancing and graceful apiserver stops, before the loop starts.
  // The harness runs haproxy from root/haproxy.cfg (no flags): this configuration replaces it.
  const haproxySocket = path.join(root, 'haproxy.sock');
  writeFileSync(path.join(root, 'haproxy.cfg'), checkedHaproxyConfig(c, haproxySocket));
  await c.restart('haproxy', 'cp1');
  await waitUntil('haproxy admin socket', 10_000, async () => existsSync(haproxySocket));
  /** One command on haproxy's runtime API. */
  const haproxy = (command: string) =>
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const socket = net.connect(haproxySocket);
      socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      socket.end(`${command}\n`);
    });
  const backendUp = async (node: NodeName) => {
    const row = (await haproxy('show stat')).split('\n').find((line) => line.startsWith(`apiservers,${node},`));
    return row?.split(',')[17] === 'UP';
  };
  const windows: Window[] = [];
  /** As an operator restarts an apiserver: drained from the load balancer first, back once its health checks pass. */
  const restartApiserver = async (node: NodeName) => {
    await haproxy(`disable server apiservers/${node}`);
    const window: Window = { component: 'kube-apiserver', start: Date.now(), end: Infinity };
    windows.push(window);
    await restartOrExplain('kube-apiserver', node, APISERVER_FLAGS);
    window.end = Date.now();
    await haproxy(`enable server apiservers/${node}`);
    await waitUntil(`haproxy routes to ${node} again`, 60_000, () => backendUp(node));
  };
  for (const node of ['cp1', 'cp2'] as const) await restartApiserver(node);

  const kubectlOk = async (args: string[]) => {
    const r = await c.kubectl(superAdmin, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await kubectlOk(['create', 'serviceaccount', 'day2', '-n', 'default']);
  /** A bound token from the TokenRequest API, as the kubelet fetches (and refreshes) for pods. */
  const requestToken = async () => {
    const r = await httpsRequest(`${c.endpoint}/api/v1/namespaces/default/serviceaccounts/day2/token`, kubeconfigCredentials(superAdmin), {
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }),
    });
    if (r.status !== 201) throw new Error(`TokenRequest: ${r.status} ${r.body}`);
    return (JSON.parse(r.body) as { status: { token: string } }).status.token;
  };
  let token = await requestToken();

  // Each probe reads its files at every attempt, as a kubectl run or a restarted client would.
  const viaEndpoint = (kubeconfig: string) => ({ ...kubeconfigCredentials(kubeconfig), servername: undefined });
  const status200 = async (url: string, creds: Parameters<typeof httpsRequest>[1]) => {
    const r = await httpsRequest(url, creds, { timeoutMs: 5_000 });
    // Long enough for the URL an aggregated server failed to reach and Go's whole error after it.
    if (r.status !== 200) throw new Error(`${r.status} ${r.body.slice(0, 600)}`);
  };
  const probes: Record<string, () => Promise<void>> = {
    admin: () => status200(`${c.endpoint}/api`, viaEndpoint(path.join(root, 'admin.conf'))),
    'controller-manager.conf': () => status200(`${c.endpoint}/api`, viaEndpoint(cp1.kubeconfig('controller-manager.conf'))),
    user: () => status200(`${c.endpoint}/api`, viaEndpoint(userKubeconfig)),
    'service-account': () => status200(`${c.endpoint}/api`, { ca: kubeconfigCredentials(path.join(root, 'admin.conf')).ca, token }),
    aggregated: () =>
      status200(
        `${c.endpoint}/apis/${WARDLE.group}/${WARDLE.version}/namespaces/default/flunders`,
        viaEndpoint(path.join(root, 'admin.conf')),
      ),
    // A linearizable read through every member the apiservers list: it needs a quorum, not every member.
    etcdctl: async () => {
      const r = await run(
        etcdctl,
        [
          '--endpoints',
          c.etcdUrl,
          '--cacert',
          etcdClient.pki('etcd/ca.crt'),
          '--cert',
          etcdClient.pki('etcd/healthcheck-client.crt'),
          '--key',
          etcdClient.pki('etcd/healthcheck-client.key'),
          '--command-timeout=3s',
          'get',
          'health',
        ],
        { env: { ETCDCTL_API: '3' }, timeoutMs: 10_000 },
      );
      if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').at(-1));
    },
  };
  const worker = c.worker.node;
  if (worker) {
    // kubectl logs' request: the apiserver dials the kubelet (--kubelet-certificate-authority, its kubelet client certificate).
    probes['kubectl logs'] = () =>
      status200(
        `${c.endpoint}/api/v1/namespaces/${worker.pod.namespace}/pods/${worker.pod.name}/log?container=${worker.pod.container}&tailLines=1`,
        viaEndpoint(path.join(root, 'admin.conf')),
      );
    // The Node stays Ready: the kubelet's heartbeats (its kubelet.conf client certificate) keep arriving.
    probes['Node Ready'] = async () => {
      const r = await httpsRequest(`${c.endpoint}/api/v1/nodes/${worker.name}`, viaEndpoint(path.join(root, 'admin.conf')), {
        timeoutMs: 5_000,
      });
      const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string; message: string }[] } };
      const ready = node.status?.conditions?.find((cond) => cond.type === 'Ready');
      if (r.status !== 200 || ready?.status !== 'True')
        throw new Error(`${r.status} Ready=${ready?.status}: ${ready?.message ?? r.body.slice(0, 200)}`);
    };
  }

  phase = 'baseline';
  const samples: Sample[] = [];
  let looping = true;
  const loop = (async () => {
    while (looping) {
      const tick = Date.now();
      await Promise.all(
        Object.entries(probes).map(async ([probe, attempt]) => {
          const start = Date.now();
          const at = phase;
          try {
            await attempt();
            samples.push({ phase: at, probe, start, end: Date.now(), ok: true, error: '' });
          } catch (err) {
            samples.push({ phase: at, probe, start, end: Date.now(), ok: false, error: err instanceof Error ? err.message : String(err) });
          }
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
    }
  })();

  const etcdctlOn = (endpoints: string, args: string[]) =>
    run(
      etcdctl,
      [
        '--endpoints',
        endpoints,
        '--cacert',
        etcdClient.pki('etcd/ca.crt'),
        '--cert',
        etcdClient.pki('etcd/healthcheck-client.crt'),
        '--key',
        etcdClient.pki('etcd/healthcheck-client.key'),
        '--command-timeout=10s',
        ...args,
      ],
      { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 },
    );
  /** As an operator restarts the leader of several members: leadership moved to another member first. */
  const handOffLeadership = async (name: string) => {
    const member = c.etcdMembers.find((m) => m.name === name)!;
    const status = await etcdctlOn(c.etcdUrl, ['endpoint', 'status', '-w', 'json']);
    if (status.code !== 0) throw new Error(`etcdctl endpoint status: ${status.stderr}`);
    // Member IDs are 64-bit: kept as strings, not JSON numbers.
    const members = JSON.parse(status.stdout.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"')) as {
      Endpoint: string;
      Status: { header: { member_id: string }; leader: string };
    }[];
    const own = members.find((m) => m.Endpoint === member.clientUrl);
    if (!own || own.Status.leader !== own.Status.header.member_id) return;
    const next = members.find((m) => m.Endpoint !== member.clientUrl)!;
    const moved = await etcdctlOn(member.clientUrl, ['move-leader', BigInt(next.Status.header.member_id).toString(16)]);
    if (moved.code !== 0) throw new Error(`etcdctl move-leader: ${moved.stderr}`);
  };
  /** The kubelet restarted, and its own first Ready heartbeat (not the status its predecessor left). */
  const restartKubelet = async (w: NonNullable<typeof worker>) => {
    const since = Date.now();
    await w.restart();
    let last = '';
    await waitUntil(
      `Node ${w.name} Ready from the restarted kubelet`,
      120_000,
      async () => {
        const r = await httpsRequest(`${c.endpoint}/api/v1/nodes/${w.name}`, viaEndpoint(path.join(root, 'admin.conf')), {
          timeoutMs: 5_000,
        });
        const ready = (
          JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string; lastHeartbeatTime: string }[] } }
        ).status?.conditions?.find((cond) => cond.type === 'Ready');
        last = JSON.stringify(ready);
        // Heartbeat times have whole seconds: one later than the restart began is the new kubelet's.
        return ready?.status === 'True' && Date.parse(ready.lastHeartbeatTime) >= since + 2_000;
      },
      () => last,
    );
  };

  /** Restarts what the plan names, one at a time; the sample-apiserver too (after cp1's steps) when files it reads changed. */
  const restartAsPlanned = async (restart: Restart[], changed: string[]) => {
    const wardleChanged = changed.some((f) => [cp1.pki('apiserver-etcd-client.crt'), cp1.pki('etcd/ca.crt'), userKubeconfig].includes(f));
    const timed = async (what: Window['component'], act: () => Promise<unknown>) => {
      const window = { component: what, start: Date.now(), end: Infinity };
      windows.push(window);
      await act();
      window.end = Date.now();
    };
    const restartWardle = () => timed('sample-apiserver', () => restartOrExplain('sample-apiserver', 'cp1'));
    const lastOnCp1 = restart.map((r) => r.node).lastIndexOf('cp1');
    for (const [index, { node, component, flags }] of restart.entries()) {
      if (component === 'kube-apiserver') await restartApiserver(node as NodeName);
      else if (component === 'etcd' && c.etcdMembers.some((m) => m.name === node)) {
        // Three members keep a quorum while one restarts: only etcd's own errors are excused then (ETCD_MEMBER_RESTART).
        await timed('etcd', async () => {
          if (!singleEtcd) await handOffLeadership(node);
          await restartOrExplain('etcd', node as Host);
        });
      }
      // The plan's flags (the signer file during a rotation) stay until a later plan changes them.
      else if (component === 'kube-controller-manager' && node === 'cp1') {
        // The plan names files as the node sees them (/etc/kubernetes/…): here they live in the node's directory.
        if (flags)
          kcmFlags = Object.fromEntries(
            Object.entries(flags).map(([name, value]) => [name, path.isAbsolute(value) ? path.join(root, 'nodes', node, value) : value]),
          );
        await timed('kube-controller-manager', () => restartOrExplain('kube-controller-manager', 'cp1', kcmFlags));
      } else if (component === 'kubelet' && worker && node === worker.name) await timed('kubelet', () => restartKubelet(worker));
      // Not run by the harness: the scheduler, the control planes' kubelets, cp2's controller manager (and etcd member when stacked).
      if (index === lastOnCp1 && wardleChanged) await restartWardle();
    }
    if (lastOnCp1 < 0 && wardleChanged) await restartWardle();
  };

  /**
   * A kpki step; a rotation step refused by its live gates is run again once what they name is
   * done, a bounded number of times: a legacy token Secret signed with the key the step drops is
   * signed again as its finding says, everything else (kube-root-ca.crt republished, a Node's
   * heartbeat) is waited for.
   */
  const kpkiStep = async (args: string[]) => {
    // The stacked shape's etcd listens on a port of its own, not kpki-cluster.json's 2379.
    const gated = args[0] === 'ca' && args[1] === 'rotate' ? ['--etcd-servers', c.etcdUrl] : [];
    for (let attempt = 1; ; attempt++) {
      const r = await c.kpki([...args, ...gated, ...day2]);
      if (r.code === 0) return r;
      const findings = (JSON.parse(r.stdout || '{}') as { error?: { findings?: { code: string; subject: string }[] } }).error?.findings;
      if (!findings?.length || attempt >= GATE_ATTEMPTS) throw new Error(`kpki ${args.join(' ')} failed: ${r.stderr}`);
      for (const f of findings.filter((finding) => finding.code === 'TOKEN_KEY_RETIRED')) {
        const [namespace, name] = f.subject.replace(/^Secret /, '').split('/');
        await kubectlOk(['-n', namespace!, 'patch', 'secret', name!, '--type', 'json', '-p', '[{"op":"remove","path":"/data/token"}]']);
      }
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
  };
  const step = async (name: string, args: string[]) => {
    phase = name;
    const r = await kpkiStep(args);
    const result = JSON.parse(r.stdout) as { restart: Restart[]; files?: string[]; items?: { files: string[] }[] };
    const changed = result.files ?? result.items!.flatMap((i) => i.files);
    await restartAsPlanned(result.restart, changed);
    // Settle before the next step, still measured in this phase.
    await new Promise((r) => setTimeout(r, 2_000));
    return result;
  };

  const oldCas = ['ca.crt', 'front-proxy-ca.crt', 'etcd/ca.crt'].map(
    (f) => parseCertificates(readFileSync(path.join(c.certDir, f)), f)[0]!,
  );
  const oldSaPub = readFileSync(path.join(c.certDir, 'sa.pub'), 'utf8').trim();
  let failedRoutable: Sample[] = [];
  try {
    await new Promise((r) => setTimeout(r, 3_000));
    for (const { phase: name, args, after } of steps) {
      await step(name ?? args.join(' '), args);
      await after?.();
      // Pods get tokens from the new key as the kubelet refreshes them; the old ones still work until finish.
      if (args.includes('reissue') || args.includes('abort')) token = await requestToken();
    }
    phase = 'after';
    await new Promise((r) => setTimeout(r, 3_000));
  } finally {
    looping = false;
    await loop;
  }

  const phases = [...new Set(samples.map((s) => s.phase))];
  const unroutable = (s: Sample) =>
    windows.some(
      (w) =>
        s.end >= w.start &&
        s.start <= w.end + RECONNECT_GRACE_MS &&
        (w.component === 'kube-apiserver'
          ? s.probe === 'aggregated' && AGGREGATED_REVIEW_CUT.test(s.error)
          : w.component === 'etcd' && !singleEtcd
            ? ETCD_MEMBER_RESTART.test(s.error)
            : (DEPENDS[s.probe] ?? []).includes(w.component)),
    );
  const report = phases.map((p) => {
    const of = samples.filter((s) => s.phase === p);
    const failed = of.filter((s) => !s.ok);
    const seconds = (Math.max(...of.map((s) => s.end)) - Math.min(...of.map((s) => s.start))) / 1000;
    return {
      phase: p,
      seconds: Math.round(seconds),
      total: of.length,
      failed: failed.length,
      failedRoutable: failed.filter((s) => !unroutable(s)).length,
    };
  });
  // BENCHMARKS.md quotes this table.
  console.log(
    `day-2 client loop per phase (command + restarts + 2 s settling):\n${report.map((r) => `  ${r.phase}: ${r.seconds} s, failed ${r.failed}/${r.total}, routable failures ${r.failedRoutable}`).join('\n')}`,
  );
  writeFileSync(path.join(root, 'day2-report.json'), JSON.stringify(report, null, 2));
  failedRoutable = samples.filter((s) => !s.ok && !unroutable(s));
  expect(failedRoutable.map((s) => `${s.phase} ${s.probe}: ${s.error}`)).toEqual([]);
  for (const r of report) expect(r.total, r.phase).toBeGreaterThan(0);

  // The new alias is in every apiserver certificate.
  for (const node of Object.values(c.nodes))
    expect(certificateFacts(parseCertificates(readFileSync(node.pki('apiserver.crt')), 'apiserver.crt')[0]!).dnsNames).toContain(
      'k8s-api-alias.example.test',
    );
  // No file holds a CA or SA key from before the first rotation (archives aside).
  const holders: string[] = [];
  // Regular files only: haproxy's admin socket lives in the tree too.
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const file = path.join(dir, n);
      const stat = statSync(file);
      return stat.isDirectory() ? walk(file) : stat.isFile() ? [file] : [];
    });
  for (const file of walk(root).filter(
    (f) => !['rotation-archive', 'etcd-data', 'scratch', 'kubectl-cache', `worker-${c.worker.name}`].some((skipped) => f.includes(skipped)),
  )) {
    const text = readFileSync(file, 'latin1');
    const pems = [
      text,
      ...[...text.matchAll(/(?:certificate-authority-data|caBundle): (\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString()),
    ];
    const certs = pems.filter((p) => p.includes('-----BEGIN CERTIFICATE')).flatMap((p) => parseCertificates(Buffer.from(p), file));
    if (certs.some((cert) => oldCas.some((old) => Buffer.from(old.publicKey.rawData).equals(Buffer.from(cert.publicKey.rawData)))))
      holders.push(file);
    if (text.includes(oldSaPub)) holders.push(file);
  }
  expect(holders).toEqual([]);
  // kpki verify --live on each control plane, with the flags its components run with (the controller
  // manager, on cp1, signing from the file the plans named), and on each external etcd member: no
  // error and no warning, offline or live.
  const runs: [string, string[]][] = Object.values(c.nodes).map((node) => [
    node.name,
    [
      '--cert-dir',
      node.pki(''),
      '--kubeconfig-dir',
      node.dir,
      '--apiserver-args',
      c.flagsFile('kube-apiserver', node.name),
      ...(singleEtcd ? ['--etcd-args', c.flagsFile('etcd')] : []),
      ...(node.name === 'cp1' ? ['--controller-manager-args', c.flagsFile('kube-controller-manager')] : []),
      '--kubeconfig',
      userKubeconfig,
      '--apiservice',
      c.wardle.apiservice,
      '--serving-cert',
      c.wardle.servingCert,
      // The apiservers verify kubelets (--kubelet-certificate-authority): the worker's serving certificate, rotated too.
      '--kubelet-config',
      c.worker.kubeletConfig,
      '--node-address',
      `InternalIP=${c.worker.address}`,
    ],
  ]);
  if (!singleEtcd)
    for (const m of c.etcdMembers) runs.push([m.name, ['--cert-dir', m.pki(''), '--etcd-args', c.flagsFile('etcd', m.name)]]);
  if (worker)
    runs.push([
      worker.name,
      [
        '--cert-dir',
        path.join(worker.nodeDir, 'etc/kubernetes/pki'),
        '--kubelet-config',
        worker.flags,
        '--node-address',
        `InternalIP=${worker.address}`,
      ],
    ]);
  for (const [label, inputs] of runs) {
    const r = await c.kpki(['verify', '--live', '--json', ...inputs]);
    const { findings } = JSON.parse(r.stdout) as { findings: { severity: string; code: string; subject: string; diagnosis: string }[] };
    // Without a running kubelet (the stacked shape) --live says once that it could not dial it; its files are checked offline.
    const noKubelet = (f: { code: string; subject: string }) =>
      !worker && f.code === 'UNCHECKED' && f.subject === `kubelet at https://${c.worker.address}:10250`;
    if (!worker && inputs.includes('--kubelet-config')) expect(findings.filter(noKubelet), label).toHaveLength(1);
    expect(
      findings.filter((f) => f.severity !== 'info' && !noKubelet(f)).map((f) => `${label} ${f.code} ${f.subject}: ${f.diagnosis}`),
    ).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
  }
}

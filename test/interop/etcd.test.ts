/**
 * A real two-member etcd cluster (Debian etcd-server) on loopback, configured with kpki's etcd
 * certificates exactly as kubeadm's etcd static pod is: client and peer TLS, both requiring
 * client certificates from etcd/ca. Two members, so quorum needs the peer TLS to work.
 */
import path from 'node:path';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BackgroundProcess,
  type CaName,
  type Leaf,
  type RunResult,
  Resources,
  describeRun,
  etcdMemberArgs,
  freePorts,
  kpkiSource,
  requireTool,
  run,
  usePki,
} from './helpers.js';

const etcd = requireTool('etcd');
const etcdctl = requireTool('etcdctl');
const res = new Resources();
afterAll(() => res.dispose());

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  proc: BackgroundProcess;
}

const source = kpkiSource('rsa-2048');

describe(`etcd ${source.label}`, () => {
  const pki = usePki(res, source);
  let members: Member[] = [];

  beforeAll(async () => {
    const p = pki();
    const dataRoot = await res.tempDir('etcd-data');
    const ports = await freePorts(4);
    const specs = ['m1', 'm2'].map((name, i) => ({
      name,
      clientUrl: `https://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `https://127.0.0.1:${ports[2 * i + 1]}`,
    }));
    const initialCluster = specs.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    members = specs.map((m) => ({
      ...m,
      proc: res.start(
        `etcd ${m.name}`,
        etcd,
        etcdMemberArgs({
          ...m,
          dataDir: path.join(dataRoot, m.name),
          initialCluster,
          server: p.leaf('etcd/server'),
          peer: p.leaf('etcd/peer'),
          ca: p.caCert('etcd/ca'),
        }),
      ),
    }));
    // Publishing needs a leader, which needs both members talking over peer TLS.
    await Promise.all(members.map((m) => m.proc.waitFor(/"msg":"published local member to cluster through raft"/, { timeoutMs: 60_000 })));
    // (Log lines, not a TCP probe: a probe would itself show up as a rejected TLS connection.)
    await Promise.all(members.map((m) => m.proc.waitFor(/"msg":"serving client traffic securely"/, { timeoutMs: 30_000 })));
  }, 120_000);

  /**
   * etcdctl (API v3) against the given endpoints, trusting etcd/ca unless told otherwise. Calls
   * expected to fail pass a short command timeout: etcdctl only gives up when it expires.
   */
  function ctl(
    args: string[],
    opts: { client?: Leaf; endpoints?: string[]; cacert?: CaName; expectFailure?: boolean } = {},
  ): Promise<RunResult> {
    const p = pki();
    const endpoints = opts.endpoints ?? members.map((m) => m.clientUrl);
    return run(
      etcdctl,
      [
        `--endpoints=${endpoints.join(',')}`,
        `--cacert=${p.caCert(opts.cacert ?? 'etcd/ca')}`,
        ...(opts.client ? [`--cert=${opts.client.cert}`, `--key=${opts.client.key}`] : []),
        '--dial-timeout=3s',
        `--command-timeout=${opts.expectFailure ? 2 : 5}s`,
        ...args,
      ],
      { env: { ETCDCTL_API: '3' }, timeoutMs: 30_000 },
    );
  }

  function logOffsets(): number[] {
    return members.map((m) => m.proc.output.length);
  }

  /** Resolves once any member has logged `pattern` since `from` (as returned by logOffsets). */
  function anyMemberLogs(pattern: RegExp, from: number[]): Promise<unknown> {
    return Promise.any(members.map((m, i) => m.proc.waitFor(pattern, { from: from[i], timeoutMs: 10_000 })));
  }

  it('the members formed one cluster over peer TLS with etcd/peer.crt', async () => {
    const r = await ctl(['member', 'list', '--write-out=json'], { client: pki().leaf('etcd/healthcheck-client') });
    expect(r.code, describeRun(r)).toBe(0);
    const list = JSON.parse(r.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
    const seen = list.members.map((m) => ({ name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }));
    expect(seen.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      members.map((m) => ({ name: m.name, peerURLs: [m.peerUrl], clientURLs: [m.clientUrl] })),
    );
    for (const m of members) {
      expect(m.proc.output).toContain('"msg":"established TCP streaming connection with remote peer"');
      // A TLS failure between members shows up as a rejected connection naming the TLS error (a
      // bare reset is some other test's port probe on this shared loopback, not a peer).
      const rejected = m.proc.output.split('\n').filter((line) => line.includes('rejected connection'));
      expect(rejected.filter((line) => /tls|x509|certificate/i.test(line))).toEqual([]);
    }
  });

  it('etcdctl endpoint health succeeds on both members with etcd/healthcheck-client (as kubeadm uses it)', async () => {
    const r = await ctl(['endpoint', 'health'], { client: pki().leaf('etcd/healthcheck-client') });
    expect(r.code, describeRun(r)).toBe(0);
    for (const m of members) expect(r.stdout + r.stderr).toContain(`${m.clientUrl} is healthy: successfully committed proposal`);
  });

  it('the etcd server cert is accepted for https://localhost (DNS SAN) as well as 127.0.0.1', async () => {
    const url = members[0]!.clientUrl.replace('127.0.0.1', 'localhost');
    const r = await ctl(['endpoint', 'health'], { client: pki().leaf('etcd/healthcheck-client'), endpoints: [url] });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout + r.stderr).toContain(`${url} is healthy`);
  });

  it("apiserver-etcd-client (the apiserver's etcd client) can write on one member and read on the other", async () => {
    const client = pki().leaf('apiserver-etcd-client');
    const value = `written-by-kpki-${Date.now()}`;
    const put = await ctl(['put', '/registry/kpki-interop', value], { client, endpoints: [members[0]!.clientUrl] });
    expect(put.code, describeRun(put)).toBe(0);
    expect(put.stdout.trim()).toBe('OK');
    const get = await ctl(['get', '/registry/kpki-interop', '--print-value-only', '--consistency=l'], {
      client,
      endpoints: [members[1]!.clientUrl],
    });
    expect(get.code, describeRun(get)).toBe(0);
    expect(get.stdout.trim()).toBe(value);
  });

  it('the etcd server and peer certs also work as etcd client certs (they carry clientAuth)', async () => {
    for (const id of ['etcd/server', 'etcd/peer']) {
      const r = await ctl(['endpoint', 'health'], { client: pki().leaf(id), endpoints: [members[0]!.clientUrl] });
      expect(r.code, `${id}\n${describeRun(r)}`).toBe(0);
    }
  });

  it.each(['apiserver-kubelet-client', 'front-proxy-client', 'admin.conf'])(
    'a %s client cert (not from etcd/ca) is refused',
    async (id) => {
      const from = logOffsets();
      const r = await ctl(['endpoint', 'health'], { client: pki().leaf(id), endpoints: [members[0]!.clientUrl], expectFailure: true });
      expect(r.code, describeRun(r)).toBe(1);
      expect(r.stderr, describeRun(r)).toContain('Error: unhealthy cluster');
      expect(r.stdout + r.stderr).toContain(`${members[0]!.clientUrl} is unhealthy`);
      await anyMemberLogs(
        /"msg":"rejected connection".*"error":"tls: failed to verify client certificate: x509: certificate signed by unknown authority"/,
        from,
      );
    },
  );

  it('a client without a certificate is refused', async () => {
    const from = logOffsets();
    const r = await ctl(['endpoint', 'health'], { endpoints: [members[0]!.clientUrl], expectFailure: true });
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr, describeRun(r)).toContain('Error: unhealthy cluster');
    await anyMemberLogs(/"msg":"rejected connection".*"error":"tls: client didn't provide a certificate"/, from);
  });

  it('etcdctl refuses the etcd server cert when it trusts the cluster CA instead of etcd/ca', async () => {
    const from = logOffsets();
    const r = await ctl(['endpoint', 'health'], {
      client: pki().leaf('etcd/healthcheck-client'),
      cacert: 'ca',
      endpoints: [members[0]!.clientUrl],
      expectFailure: true,
    });
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr, describeRun(r)).toContain('Error: unhealthy cluster');
    // The client aborts the handshake; etcd logs the alert it received.
    await anyMemberLogs(/"msg":"rejected connection".*"error":"remote error: tls: bad certificate"/, from);
  });

  it('the peer port refuses a client cert from the cluster CA', async () => {
    const p = pki();
    const leaf = p.leaf('apiserver-kubelet-client');
    const peer = new URL(members[0]!.peerUrl);
    const from = logOffsets();
    const [cert, key, ca] = await Promise.all([readFile(leaf.cert), readFile(leaf.key), readFile(p.caCert('etcd/ca'))]);
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: peer.hostname, port: Number(peer.port), cert, key, ca, servername: 'localhost' });
      socket.setTimeout(10_000, () => {
        socket.destroy();
        resolve('timeout');
      });
      // With TLS 1.3 the server's verdict on our certificate arrives after our side is done.
      socket.once('secureConnect', () => socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      socket.once('data', () => {
        socket.destroy();
        resolve('served');
      });
      socket.once('error', (err) => resolve(err.message));
    });
    expect(outcome).not.toBe('served');
    await anyMemberLogs(
      /"msg":"rejected connection".*"error":"tls: failed to verify client certificate: x509: certificate signed by unknown authority"/,
      from,
    );
  });
});

import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import { flag, flagList, type ComponentArgs } from '../inputs.js';
import type { ClusterInputs } from '../model.js';
import { certFromFlag, checkHosts, checkTrust, CLIENT_TLS_PREFIX, flagSubject, pairFromFlags, urlHost, type NamedCert } from './common.js';

const ETCD_REJECTS = (e: string) => `etcd log: rejected connection (error "tls: failed to verify client certificate: ${e}")`;

function hostsOf(args: ComponentArgs, names: string[], who: string): { host: string; who: string }[] {
  return names.flatMap((name) =>
    flagList(args, name)
      .map(urlHost)
      .filter((h): h is string => Boolean(h) && h !== '0.0.0.0' && h !== '::')
      .map((host) => ({ host, who: `${who} (--${name})` })),
  );
}

/** This member's own peer URLs in --initial-cluster (`name=url,…`). */
function ownInitialCluster(args: ComponentArgs): { host: string; who: string }[] {
  const name = flag(args, 'name');
  return flagList(args, 'initial-cluster')
    .map((entry) => entry.split('='))
    .filter(([member]) => member === name)
    .map(([, url]) => urlHost(url ?? ''))
    .filter((h): h is string => Boolean(h))
    .map((host) => ({ host, who: 'peers (--initial-cluster)' }));
}

function authFlag(ctx: VerifyContext, args: ComponentArgs, name: string, exposure: string): void {
  if (flag(args, name) === 'true') return;
  ctx.report({
    code: FindingCode.EtcdClientAuthOff,
    severity: 'warning',
    subject: flagSubject(args, name),
    symptom: '',
    diagnosis: `--${name} is not true: ${exposure} without a certificate from the trusted CA`,
    fix: `set --${name}=true`,
    files: [],
  });
}

/** Rule: etcd's own serving and peer certificates cover its URLs, chain to its CAs, and auth is on. */
export async function etcdMember(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const args = inputs.etcd;
  if (!args) return;
  const server = await pairFromFlags(ctx, args, 'cert-file', 'key-file');
  const peer = await pairFromFlags(ctx, args, 'peer-cert-file', 'peer-key-file');
  if (server) checkHosts(ctx, server, hostsOf(args, ['listen-client-urls', 'advertise-client-urls'], 'etcd clients'), CLIENT_TLS_PREFIX);
  if (peer) checkHosts(ctx, peer, [...hostsOf(args, ['listen-peer-urls', 'initial-advertise-peer-urls'], 'peers'), ...ownInitialCluster(args)], CLIENT_TLS_PREFIX);
  const peerCa = await certFromFlag(ctx, args, 'peer-trusted-ca-file');
  if (peer && peerCa) {
    // Peers dial each other with the same certificate: it must serve and authenticate.
    for (const usage of ['serverAuth', 'clientAuth'] as const) {
      const ok = await checkTrust(ctx, { leaf: peer, roots: peerCa, usage, relation: 'the other etcd members', symptom: ETCD_REJECTS });
      if (!ok) break;
    }
  }
  authFlag(ctx, args, 'client-cert-auth', 'anyone who reaches the client port can read every Secret');
  if (peer) authFlag(ctx, args, 'peer-client-cert-auth', 'anyone who reaches the peer port can join the cluster');
}

/** Rule: kube-apiserver and etcd trust each other (--etcd-cafile, --etcd-certfile vs etcd's flags). */
export async function apiserverToEtcd(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const api = inputs.apiserver;
  if (!api) return;
  const client = await pairFromFlags(ctx, api, 'etcd-certfile', 'etcd-keyfile');
  const etcdCa = await certFromFlag(ctx, api, 'etcd-cafile');
  const etcd = inputs.etcd;
  if (!etcd) return;
  const trusted = await certFromFlag(ctx, etcd, 'trusted-ca-file');
  if (client && trusted) {
    await checkTrust(ctx, { leaf: client, roots: trusted, usage: 'clientAuth', relation: 'etcd authenticating kube-apiserver', symptom: ETCD_REJECTS });
  }
  const server: NamedCert | undefined = await certFromFlag(ctx, etcd, 'cert-file');
  if (!server || !etcdCa) return;
  const connect = (e: string) => `kube-apiserver log: transport: authentication handshake failed: ${e}`;
  const trustedServer = await checkTrust(ctx, { leaf: server, roots: etcdCa, usage: 'serverAuth', relation: 'kube-apiserver connecting to etcd', symptom: connect });
  if (trustedServer) {
    const hosts = flagList(api, 'etcd-servers')
      .map(urlHost)
      .filter((h): h is string => Boolean(h))
      .map((host) => ({ host, who: 'kube-apiserver (--etcd-servers)' }));
    checkHosts(ctx, server, hosts, 'kube-apiserver log: transport: authentication handshake failed: ');
  }
}

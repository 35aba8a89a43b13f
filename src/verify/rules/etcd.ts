import { flagSubject } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag, flagList, type ComponentArgs } from '../inputs/args.js';
import { defineRule, finding } from '../rule.js';
import { certFromFlag, CLIENT_TLS_PREFIX, hostFindings, trustFindings, hostOfUrl, type DialedHost } from './common.js';
import { reissueWithSans } from './fixes.js';
import type { Facts } from '../facts.js';
import type { NamedCert } from './common.js';

const ETCD_REJECTS = (e: string) => `etcd log: rejected connection (error "tls: failed to verify client certificate: ${e}")`;

function hostsOf(args: ComponentArgs, names: string[], who: string): DialedHost[] {
  return names.flatMap((name) =>
    flagList(args, name)
      .map(hostOfUrl)
      .filter((h): h is string => Boolean(h) && h !== '0.0.0.0' && h !== '::')
      .map((host) => ({ host, who: `${who} (--${name})` })),
  );
}

/** This member's own peer URLs in --initial-cluster (`name=url,…`). */
function ownInitialCluster(args: ComponentArgs): DialedHost[] {
  const name = flag(args, 'name');
  return flagList(args, 'initial-cluster')
    .map((entry) => entry.split('='))
    .filter(([member]) => member === name)
    .map(([, url]) => hostOfUrl(url ?? ''))
    .filter((h): h is string => Boolean(h))
    .map((host) => ({ host, who: 'peers (--initial-cluster)' }));
}

/** Each host's fix: the certificate reissued with it. */
const withFixes = (facts: Facts, cert: NamedCert, hosts: DialedHost[]) =>
  hosts.map((h) => ({ ...h, fix: reissueWithSans(facts, cert, [h.host]) }));

/** CIS 2.2/2.5 and 2.3/2.6: client certificates required, no self-made certificates. */
function authFindings(args: ComponentArgs, peers: boolean): Finding[] {
  const out: Finding[] = [];
  const required: [string, string, string][] = [['client-cert-auth', '2.2', 'anyone who reaches the client port can read every Secret']];
  if (peers) required.push(['peer-client-cert-auth', '2.5', 'anyone who reaches the peer port can join the cluster']);
  for (const [name, cis, exposure] of required) {
    if (flag(args, name) === 'true') continue;
    // etcd requires and verifies client certificates whenever it has a CA to verify them with,
    // whatever --client-cert-auth says: the port is not open.
    if (flag(args, name === 'client-cert-auth' ? 'trusted-ca-file' : 'peer-trusted-ca-file')) continue;
    out.push(
      finding({
        code: FindingCode.EtcdClientAuthOff,
        severity: 'warning',
        subject: flagSubject(args, name),
        symptom: '',
        diagnosis: `--${name} is not true: ${exposure} without a certificate from the trusted CA`,
        fix: `set --${name}=true`,
        cis,
      }),
    );
  }
  for (const [name, cis] of [
    ['auto-tls', '2.3'],
    ['peer-auto-tls', '2.6'],
  ] as const) {
    if (flag(args, name) !== 'true') continue;
    out.push(
      finding({
        code: FindingCode.EtcdAutoTls,
        severity: 'warning',
        subject: flagSubject(args, name),
        symptom: '',
        diagnosis: `--${name}=true: etcd serves a self-signed certificate it makes up when no certificate flag is given, so clients cannot verify who they talk to`,
        fix: `remove --${name} and set --${name === 'auto-tls' ? 'cert-file/--key-file' : 'peer-cert-file/--peer-key-file'} (kpki flags etcd lists them)`,
        cis,
      }),
    );
  }
  return out;
}

/** Rule: etcd's own serving and peer certificates cover its URLs, chain to its CAs, and client certificates are required. */
export const etcdMember = defineRule({
  id: 'etcd-member',
  codes: [
    FindingCode.SanMissing,
    FindingCode.ChainUntrusted,
    FindingCode.UsageIncompatible,
    FindingCode.EtcdClientAuthOff,
    FindingCode.EtcdAutoTls,
  ],
  async check(facts) {
    const args = facts.inputs.etcd;
    if (!args) return [];
    const out: Finding[] = [];
    const server = certFromFlag(facts, args, 'cert-file');
    const peer = certFromFlag(facts, args, 'peer-cert-file');
    if (server)
      out.push(
        ...hostFindings(
          server,
          withFixes(facts, server, hostsOf(args, ['listen-client-urls', 'advertise-client-urls'], 'etcd clients')),
          CLIENT_TLS_PREFIX,
        ),
      );
    if (peer)
      out.push(
        ...hostFindings(
          peer,
          withFixes(facts, peer, [
            ...hostsOf(args, ['listen-peer-urls', 'initial-advertise-peer-urls'], 'peers'),
            ...ownInitialCluster(args),
          ]),
          CLIENT_TLS_PREFIX,
        ),
      );
    const peerCa = certFromFlag(facts, args, 'peer-trusted-ca-file');
    if (peer && peerCa) {
      // Peers dial each other with the same certificate: it must serve and authenticate.
      for (const usage of ['serverAuth', 'clientAuth'] as const) {
        const problems = await trustFindings(facts, {
          leaf: peer,
          roots: peerCa,
          usage,
          relation: 'the other etcd members',
          symptom: ETCD_REJECTS,
        });
        out.push(...problems);
        if (problems.length) break;
      }
    }
    out.push(...authFindings(args, Boolean(flag(args, 'peer-cert-file'))));
    return out;
  },
});

/** Rule: kube-apiserver and etcd trust each other (--etcd-cafile, --etcd-certfile vs etcd's flags). */
export const apiserverEtcd = defineRule({
  id: 'apiserver-etcd',
  codes: [FindingCode.ChainUntrusted, FindingCode.UsageIncompatible, FindingCode.SanMissing, FindingCode.Unchecked],
  async check(facts) {
    const api = facts.inputs.apiserver;
    if (!api) return [];
    const out: Finding[] = [];
    const client = certFromFlag(facts, api, 'etcd-certfile');
    const etcdCa = certFromFlag(facts, api, 'etcd-cafile');
    const etcd = facts.inputs.etcd;
    if (!etcd) return out.concat(await externalEtcdFindings(facts, client, etcdCa));
    const trusted = certFromFlag(facts, etcd, 'trusted-ca-file');
    if (client && trusted) {
      out.push(
        ...(await trustFindings(facts, {
          leaf: client,
          roots: trusted,
          usage: 'clientAuth',
          relation: 'etcd authenticating kube-apiserver',
          symptom: ETCD_REJECTS,
        })),
      );
    }
    const server = certFromFlag(facts, etcd, 'cert-file');
    if (!server || !etcdCa) return out;
    const handshake = 'kube-apiserver log: transport: authentication handshake failed: ';
    const untrusted = await trustFindings(facts, {
      leaf: server,
      roots: etcdCa,
      usage: 'serverAuth',
      relation: 'kube-apiserver connecting to etcd',
      symptom: (e) => `${handshake}${e}`,
    });
    out.push(...untrusted);
    if (untrusted.length) return out;
    const { dialed, others } = ownEtcdServers(api, etcd);
    if (!dialed.length && others.length) {
      out.push(
        finding({
          code: FindingCode.Unchecked,
          severity: 'warning',
          subject: flagSubject(api, 'etcd-servers'),
          symptom: '',
          diagnosis: `none of --etcd-servers (${others.join(', ')}) is this etcd member's address (its --advertise-client-urls, --listen-client-urls or peer URLs), so which URL reaches ${server.file} was not checked`,
          fix: "pass etcd's flags with --advertise-client-urls (its static pod manifest), or check the member that serves each URL on its own node",
          files: [server.file],
        }),
      );
    }
    out.push(...hostFindings(server, withFixes(facts, server, dialed), handshake));
    return out;
  },
});

/**
 * A control plane of a cluster kpki wrote whose etcd members run elsewhere: one etcd CA signs the
 * members' certificates and the apiserver's etcd client certificate, and the control plane holds
 * its certificate as --etcd-cafile. A client certificate that CA does not verify means one of the
 * two is not the members' CA: the apiserver cannot verify the members, or they refuse it.
 */
async function externalEtcdFindings(facts: Facts, client: NamedCert | undefined, etcdCa: NamedCert | undefined): Promise<Finding[]> {
  if (facts.inputs.node?.role !== 'control-plane' || !client || !etcdCa) return [];
  return trustFindings(facts, {
    leaf: client,
    roots: etcdCa,
    usage: 'clientAuth',
    relation: 'the external etcd members (their etcd CA signs both)',
    symptom: (e) =>
      `kube-apiserver log: transport: authentication handshake failed: x509: certificate signed by unknown authority, or etcd log: rejected connection (error "tls: failed to verify client certificate: ${e}")`,
    fix: `copy the etcd members' etcd/ca.crt to ${etcdCa.file} and reissue ${client.file} from that CA (kpki renew apiserver-etcd-client)`,
  });
}

/** Where a member listening on the wildcard address is reached from its own node. */
const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

/**
 * The --etcd-servers URLs that reach the etcd member checked here: each member presents its own
 * certificate, so only the URLs whose host is this member's (its client and peer URLs, or
 * loopback when it listens on every address) must be in its SANs; the others are other members',
 * checked on their nodes. A single URL is the apiserver's only etcd: this one.
 */
function ownEtcdServers(api: ComponentArgs, etcd: ComponentArgs): { dialed: DialedHost[]; others: string[] } {
  const servers = flagList(api, 'etcd-servers');
  const own = new Set(
    hostsOf(etcd, ['advertise-client-urls', 'listen-client-urls', 'initial-advertise-peer-urls', 'listen-peer-urls'], '').map(
      (h) => h.host,
    ),
  );
  for (const h of ownInitialCluster(etcd)) own.add(h.host);
  const wildcard = flagList(etcd, 'listen-client-urls')
    .map(hostOfUrl)
    .some((h) => h === '0.0.0.0' || h === '::');
  if (wildcard) for (const host of LOOPBACK) own.add(host);
  const dialed: DialedHost[] = [];
  const others: string[] = [];
  for (const url of servers) {
    const host = hostOfUrl(url);
    if (!host) continue;
    if (servers.length === 1 || own.has(host)) dialed.push({ host, who: `kube-apiserver (--etcd-servers ${url}, this member's URL)` });
    else others.push(url);
  }
  return { dialed, others };
}

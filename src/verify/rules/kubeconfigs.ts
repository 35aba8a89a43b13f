import { FindingCode, type Finding } from '../findings.js';
import { isNodeIdentity, nodeIdentity, type Profile } from '../../model/profile.js';
import type { KubeconfigRole } from '../model.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { adminGroups, certFromFlag, CLIENT_TLS_PREFIX, hostFindings, keyPairFindings, trustFindings, type NamedCert } from './common.js';
import { issuerFile, reissueWithSans } from './fixes.js';

interface Identity {
  /** What RBAC or NodeRestriction needs, in words. */
  expected: string;
  ok: (cn: string, orgs: string[]) => boolean;
}

/**
 * The identities Kubernetes' default RBAC and NodeRestriction expect of the standard kubeconfigs;
 * an admin's groups and a node's identity are the profile's.
 */
const identities = (
  profile: Profile,
  nodeName: string | undefined,
  admins = adminGroups(profile),
): Partial<Record<KubeconfigRole, Identity>> => ({
  admin: { expected: admins.expected, ok: (_, o) => admins.groups.some((g) => o.includes(g)) },
  'super-admin': { expected: 'O=system:masters', ok: (_, o) => o.includes('system:masters') },
  'controller-manager': { expected: 'CN=system:kube-controller-manager', ok: (cn) => cn === 'system:kube-controller-manager' },
  scheduler: { expected: 'CN=system:kube-scheduler', ok: (cn) => cn === 'system:kube-scheduler' },
  // A known node must carry its own name: the Node authorizer lets system:node:X touch only Node X.
  kubelet: nodeName
    ? {
        expected: describeIdentity(nodeIdentity(profile, nodeName)),
        ok: (cn, o) => isNodeIdentity(profile, cn, o) && cn === nodeIdentity(profile, nodeName)?.commonName,
      }
    : { expected: describeIdentity(nodeIdentity(profile, '<node name>')), ok: (cn, o) => isNodeIdentity(profile, cn, o) },
});

function describeIdentity(identity: { commonName: string; organizations: string[] } | undefined): string {
  return identity
    ? [`CN=${identity.commonName}`, ...(identity.organizations.length ? [`O=${identity.organizations.join(', ')}`] : [])].join(', ')
    : 'a kubelet identity (the profile describes none)';
}

/** The identity NodeRestriction expects of the kubelet registering Node `nodeName`. */
function ownNodeIdentity(profile: Profile, nodeName: string): Identity | undefined {
  const identity = nodeIdentity(profile, nodeName);
  return (
    identity && {
      expected: describeIdentity(identity),
      ok: (cn, o) => cn === identity.commonName && identity.organizations.every((g) => o.includes(g)),
    }
  );
}

/** How a kubeconfig's failures show: kubectl's words, or the kubelet's log line when it is a kubelet's. */
function kubeletWords(profile: Profile, nodeName: string | undefined) {
  if (!nodeName) {
    return {
      untrusted: (_server: string, e: string) => `Unable to connect to the server: ${CLIENT_TLS_PREFIX}${e}`,
      forbidden: (cn: string) => `Error from server (Forbidden): … is forbidden: User "${cn}" cannot …`,
    };
  }
  const unable = `kubelet: Unable to register node "${nodeName}" with API server:`;
  return {
    untrusted: (server: string, e: string) => `${unable} Post "${server}/api/v1/nodes": ${CLIENT_TLS_PREFIX}${e}`,
    forbidden: (cn: string, orgs: string[]) => {
      // Another node's identity: the Node authorizer lets it in, NodeRestriction keeps it off this Node.
      const prefix = nodeIdentity(profile, '')?.commonName ?? '';
      const node = prefix && cn.startsWith(prefix) && isNodeIdentity(profile, cn, orgs) ? cn.slice(prefix.length) : undefined;
      return node && node !== nodeName
        ? `${unable} nodes "${nodeName}" is forbidden: node "${node}" is not allowed to modify node "${nodeName}"`
        : `${unable} nodes is forbidden: User "${cn}" cannot create resource "nodes" in API group "" at the cluster scope`;
    },
  };
}

/** Rule: each kubeconfig reaches the apiserver: CA, server name, client certificate, identity. */
export const kubeconfigs = defineRule({
  id: 'kubeconfigs',
  codes: [
    FindingCode.ChainUntrusted,
    FindingCode.UsageIncompatible,
    FindingCode.SanMissing,
    FindingCode.KeyMismatch,
    FindingCode.IdentityUnexpected,
  ],
  async check(facts) {
    const api = facts.inputs.apiserver;
    const serving = api && certFromFlag(facts, api, 'tls-cert-file');
    const node = facts.inputs.node;
    // Where no apiserver runs (a worker, the shared set), the cluster CA the directory holds stands for its --client-ca-file.
    const clusterCa = !api && node?.clusterCa ? facts.certificates.get(node.clusterCa) : undefined;
    const clientCa = api
      ? certFromFlag(facts, api, 'client-ca-file')
      : clusterCa && {
          label: `${node!.clusterCa} (the cluster CA, kube-apiserver --client-ca-file)`,
          file: node!.clusterCa!,
          certs: clusterCa,
        };
    const out: Finding[] = [];
    const expected = identities(facts.inputs.profile, node?.name);
    const kubelet = facts.inputs.kubelet;
    for (const kc of facts.inputs.kubeconfigs) {
      // The kubelet's own kubeconfig, when its node name is known: NodeRestriction lets it touch only that Node.
      const ownNode = kc.role === 'kubelet' && kubelet?.nodeName && kc.file === kubelet.kubeconfig ? kubelet.nodeName : undefined;
      const says = kubeletWords(facts.inputs.profile, ownNode ?? (kc.role === 'kubelet' ? '<node name>' : undefined));
      const loaded = facts.kubeconfigs.get(kc.file);
      if (!loaded) continue;
      const { credentials } = loaded;
      const label = `${kc.file} (user ${credentials.userName})`;
      if (
        loaded.authorities &&
        !serving &&
        clusterCa &&
        !clusterCa.some((ca) => loaded.authorities!.some((a) => Buffer.from(a.rawData).equals(Buffer.from(ca.rawData))))
      ) {
        out.push(
          finding({
            code: FindingCode.ChainUntrusted,
            severity: 'error',
            subject: `${kc.file} certificate-authority-data`,
            symptom: `${kc.role === 'kubelet' ? 'kubelet log' : 'kubectl'}: Unable to connect to the server: ${CLIENT_TLS_PREFIX}x509: certificate signed by unknown authority`,
            diagnosis: `${kc.file} does not trust the cluster CA in ${node!.clusterCa}, which signs every apiserver's certificate, so ${kc.role === 'kubelet' ? 'the kubelet cannot reach the apiserver and the node never registers' : 'clients using it cannot reach the apiserver'}`,
            fix: `kubectl config set-cluster ${credentials.clusterName} --kubeconfig ${kc.file} --certificate-authority ${node!.clusterCa} --embed-certs`,
            files: [kc.file, node!.clusterCa!],
          }),
        );
      }
      if (kc.role === 'kubelet' && node?.kubeletServer && credentials.server !== node.kubeletServer) {
        out.push(
          finding({
            code: FindingCode.ServerUnexpected,
            severity: 'error',
            subject: `${kc.file} server`,
            symptom: '',
            diagnosis: `${kc.file} names ${credentials.server || 'no server'}, but the cluster's apiservers are reached at ${node.kubeletServer}: the kubelet talks to another apiserver or none, and the node does not register`,
            fix: `kubectl config set-cluster ${credentials.clusterName} --kubeconfig ${kc.file} --server ${node.kubeletServer}`,
            files: [kc.file],
          }),
        );
      }
      if (loaded.authorities && serving) {
        const roots: NamedCert = { label: `${kc.file} certificate-authority-data`, file: kc.file, certs: loaded.authorities };
        const host = new URL(credentials.server || 'https://invalid').hostname.replace(/^\[|\]$/g, '');
        // The kubeconfig trusts the wrong CA: give it the one that signed the apiserver's certificate.
        const servingCa = issuerFile(facts, serving.certs[0]!, false);
        const untrusted = await trustFindings(facts, {
          leaf: serving,
          roots,
          usage: 'serverAuth',
          relation: `kubectl using ${kc.file}`,
          symptom: (e) => says.untrusted(credentials.server, e),
          fix:
            servingCa &&
            `kubectl config set-cluster ${credentials.clusterName} --kubeconfig ${kc.file} --certificate-authority ${servingCa} --embed-certs`,
        });
        out.push(...untrusted);
        if (!untrusted.length) {
          out.push(
            ...hostFindings(
              serving,
              [{ host, who: `${kc.file} (server ${credentials.server})`, fix: reissueWithSans(facts, serving, [host]) }],
              says.untrusted(credentials.server, ''),
            ),
          );
        }
      }
      const certs = loaded.clientCertificates;
      if (!certs) continue;
      const client: NamedCert = { label, file: kc.file, certs };
      if (loaded.clientKey) out.push(...keyPairFindings(client, loaded.clientKey, kc.file, `${kc.file} client-key`));
      if (clientCa) {
        out.push(
          ...(await trustFindings(facts, {
            leaf: client,
            roots: clientCa,
            usage: 'clientAuth',
            relation: 'kube-apiserver authenticating clients (--client-ca-file)',
            symptom: (e) => `error: You must be logged in to the server (Unauthorized); kube-apiserver log: ${e}`,
          })),
        );
      }
      const info = infoOf(certs[0]!);
      const identity = ownNode ? ownNodeIdentity(facts.inputs.profile, ownNode) : expected[kc.role];
      if (!info.commonName || (identity && !identity.ok(info.commonName, info.organizations))) {
        out.push(
          finding({
            code: FindingCode.IdentityUnexpected,
            severity: 'error',
            subject: label,
            symptom: info.commonName
              ? says.forbidden(info.commonName, info.organizations)
              : 'error: You must be logged in to the server (Unauthorized)',
            diagnosis: info.commonName
              ? `${kc.file} authenticates as CN=${info.commonName}, O=[${info.organizations.join(', ')}]; its role needs ${identity!.expected}`
              : `${kc.file}'s client certificate has no CN, so the apiserver treats it as anonymous`,
            fix: ownNode
              ? `reissue it for node ${ownNode} (kpki kubeconfig node --node-name ${ownNode} --out ${kc.file} --force)`
              : `reissue it (kpki init --renew ${kc.file.split('/').pop()})`,
            files: [kc.file],
          }),
        );
      }
    }
    return out;
  },
});

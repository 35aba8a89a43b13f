import { certificateFacts } from '../../pki/certificate.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import type { ClusterInputs, KubeconfigRole } from '../model.js';
import { certFromFlag, checkHosts, checkKeyPair, checkTrust, CLIENT_TLS_PREFIX, type NamedCert } from './common.js';

interface Identity {
  /** What RBAC or NodeRestriction needs, in words. */
  expected: string;
  ok: (cn: string, orgs: string[]) => boolean;
}

/** The identities Kubernetes' default RBAC and NodeRestriction expect of the standard kubeconfigs. */
const IDENTITIES: Partial<Record<KubeconfigRole, Identity>> = {
  admin: { expected: 'O=kubeadm:cluster-admins (or system:masters)', ok: (_, o) => o.includes('kubeadm:cluster-admins') || o.includes('system:masters') },
  'super-admin': { expected: 'O=system:masters', ok: (_, o) => o.includes('system:masters') },
  'controller-manager': { expected: 'CN=system:kube-controller-manager', ok: (cn) => cn === 'system:kube-controller-manager' },
  scheduler: { expected: 'CN=system:kube-scheduler', ok: (cn) => cn === 'system:kube-scheduler' },
  kubelet: { expected: 'CN=system:node:<node name>, O=system:nodes', ok: (cn, o) => cn.startsWith('system:node:') && o.includes('system:nodes') },
};

/** Rule: each kubeconfig reaches the apiserver: CA, server name, client certificate, identity. */
export async function kubeconfigs(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const api = inputs.apiserver;
  const serving = api && (await certFromFlag(ctx, api, 'tls-cert-file'));
  const clientCa = api && (await certFromFlag(ctx, api, 'client-ca-file'));
  for (const kc of inputs.kubeconfigs) {
    const loaded = await ctx.kubeconfig(kc.file, kc.label);
    if (!loaded) continue;
    const { credentials } = loaded;
    const label = `${kc.file} (user ${credentials.userName})`;
    if (loaded.authorities && serving) {
      const roots: NamedCert = { label: `${kc.file} certificate-authority-data`, file: kc.file, certs: loaded.authorities };
      const host = new URL(credentials.server || 'https://invalid').hostname.replace(/^\[|\]$/g, '');
      const trusted = await checkTrust(ctx, {
        leaf: serving,
        roots,
        usage: 'serverAuth',
        relation: `kubectl using ${kc.file}`,
        symptom: (e) => `Unable to connect to the server: ${CLIENT_TLS_PREFIX}${e}`,
      });
      if (trusted) checkHosts(ctx, serving, [{ host, who: `${kc.file} (server ${credentials.server})` }], `Unable to connect to the server: ${CLIENT_TLS_PREFIX}`);
    }
    const certs = loaded.clientCertificates;
    if (!certs) continue;
    const client: NamedCert = { label, file: kc.file, certs };
    if (loaded.clientKey) checkKeyPair(ctx, client, loaded.clientKey, kc.file, `${kc.file} client-key`);
    if (clientCa) {
      await checkTrust(ctx, {
        leaf: client,
        roots: clientCa,
        usage: 'clientAuth',
        relation: 'kube-apiserver authenticating clients (--client-ca-file)',
        symptom: (e) => `error: You must be logged in to the server (Unauthorized); kube-apiserver log: ${e}`,
      });
    }
    const facts = certificateFacts(certs[0]!);
    const identity = IDENTITIES[kc.role];
    if (!facts.commonName || (identity && !identity.ok(facts.commonName, facts.organizations))) {
      ctx.report({
        code: FindingCode.IdentityUnexpected,
        severity: 'error',
        subject: label,
        symptom: facts.commonName
          ? `Error from server (Forbidden): … is forbidden: User "${facts.commonName}" cannot …`
          : 'error: You must be logged in to the server (Unauthorized)',
        diagnosis: facts.commonName
          ? `${kc.file} authenticates as CN=${facts.commonName}, O=[${facts.organizations.join(', ')}]; its role needs ${identity!.expected}`
          : `${kc.file}'s client certificate has no CN, so the apiserver treats it as anonymous`,
        fix: `reissue it (kpki init --renew ${kc.file.split('/').pop()})`,
        files: [kc.file],
      });
    }
  }
}

import { indexedIp, parseCidr } from '../../model/net.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag, flagList } from '../inputs/args.js';
import type { ClusterInputs } from '../model.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { certFromFlag, CLIENT_TLS_PREFIX, hostFindings, type DialedHost } from './common.js';
import { reissueWithSans } from './fixes.js';

/** --bind-address values that listen on every address. */
export const WILDCARD_BIND = new Set(['', '0.0.0.0', '::']);

/** The cluster DNS domain: from the kubeadm-style issuer URL, the kubelet, or Kubernetes' default. */
export function dnsDomain(inputs: ClusterInputs): string {
  const issuer = inputs.apiserver && flag(inputs.apiserver, 'service-account-issuer');
  const fromIssuer = issuer && /^https:\/\/kubernetes\.default\.svc\.([^/:]+)/.exec(issuer)?.[1];
  return fromIssuer || inputs.kubelet?.clusterDomain?.replace(/\.$/, '') || 'cluster.local';
}

/** Rule: the apiserver's serving certificate covers every name clients dial, and its key matches. */
export const apiserverServing = defineRule({
  id: 'apiserver-serving',
  codes: [FindingCode.UsageIncompatible, FindingCode.SanMissing],
  check(facts) {
    const args = facts.inputs.apiserver;
    if (!args) return [];
    const out: Finding[] = [];
    const serving = certFromFlag(facts, args, 'tls-cert-file');
    if (!serving) return out;
    const info = infoOf(serving.certs[0]!);
    if (info.extKeyUsages.length && !info.extKeyUsages.includes('serverAuth')) {
      out.push(
        finding({
          code: FindingCode.UsageIncompatible,
          severity: 'error',
          subject: serving.label,
          symptom: `Unable to connect to the server: ${CLIENT_TLS_PREFIX}x509: certificate specifies an incompatible key usage`,
          diagnosis: `${serving.file} lacks ExtKeyUsage serverAuth, so no client accepts it as the apiserver's certificate`,
          fix: `reissue ${serving.file} as a server certificate (kpki init --renew apiserver)`,
          files: [serving.file],
        }),
      );
    }
    const hosts: DialedHost[] = [];
    const advertise = flag(args, 'advertise-address');
    if (advertise) hosts.push({ host: advertise, who: 'every node and pod (--advertise-address, the kubernetes endpoint)' });
    const bind = flag(args, 'bind-address');
    if (bind && !WILDCARD_BIND.has(bind)) hosts.push({ host: bind, who: 'clients of --bind-address' });
    // The `kubernetes` Service gets the first IP of the primary (first) range only, dual-stack or
    // not: kube-apiserver's getServiceIPAndRanges and kubeadm's GetAPIServerVirtualIP both take
    // range [0]; the secondary family has no apiserver service IP to dial.
    const [primary] = flagList(args, 'service-cluster-ip-range');
    const cidr = primary ? parseCidr(primary) : undefined;
    if (cidr) {
      const host = indexedIp(cidr, 1);
      // The service IP follows the service CIDR: reissue with it, and give kpki init the CIDR so renewals keep it.
      const reissue = reissueWithSans(facts, serving, [host]);
      const cidrs = flagList(args, 'service-cluster-ip-range').join(',');
      const fix = reissue
        ? `${reissue}  # and pass --service-cidr ${cidrs} to every later kpki init, which derives ${host} from it`
        : `kpki init --service-cidr ${cidrs} --renew apiserver`;
      hosts.push({ host, who: 'in-cluster clients (the kubernetes service IP, from the primary --service-cluster-ip-range)', fix });
    }
    const domain = dnsDomain(facts.inputs);
    for (const name of ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${domain}`]) {
      hosts.push({ host: name, who: 'in-cluster clients' });
    }
    for (const host of hosts) host.fix ??= reissueWithSans(facts, serving, [host.host]);
    // The hosts in kubeconfigs' `server` are checked with each kubeconfig (rules/kubeconfigs.ts).
    out.push(...hostFindings(serving, hosts, `Unable to connect to the server: ${CLIENT_TLS_PREFIX}`));
    return out;
  },
});

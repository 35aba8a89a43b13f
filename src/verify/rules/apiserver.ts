import { certificateFacts } from '../../pki/certificate.js';
import { sameKeyPair } from '../../pki/keys.js';
import { indexedIp, parseCidr } from '../../model/net.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import { flag, flagList, type ComponentArgs } from '../inputs.js';
import type { ClusterInputs } from '../model.js';
import { certFromFlag, checkHosts, checkTrust, CLIENT_TLS_PREFIX, flagSubject, pairFromFlags, type NamedCert } from './common.js';

const WILDCARD_BIND = new Set(['', '0.0.0.0', '::']);

/** The cluster DNS domain: from the kubeadm-style issuer URL, the kubelet, or Kubernetes' default. */
export function dnsDomain(inputs: ClusterInputs): string {
  const issuer = inputs.apiserver && flag(inputs.apiserver, 'service-account-issuer');
  const fromIssuer = issuer && /^https:\/\/kubernetes\.default\.svc\.([^/:]+)/.exec(issuer)?.[1];
  return fromIssuer || inputs.kubelet?.clusterDomain?.replace(/\.$/, '') || 'cluster.local';
}

/** Rule: the apiserver's serving certificate covers every name clients dial, and its key matches. */
export async function apiserverServing(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const args = inputs.apiserver;
  if (!args) return;
  const serving = await pairFromFlags(ctx, args, 'tls-cert-file', 'tls-private-key-file');
  if (!serving) return;
  const facts = certificateFacts(serving.certs[0]!);
  if (facts.extKeyUsages.length && !facts.extKeyUsages.includes('serverAuth')) {
    ctx.report({
      code: FindingCode.UsageIncompatible,
      severity: 'error',
      subject: serving.label,
      symptom: `Unable to connect to the server: ${CLIENT_TLS_PREFIX}x509: certificate specifies an incompatible key usage`,
      diagnosis: `${serving.file} lacks ExtKeyUsage serverAuth, so no client accepts it as the apiserver's certificate`,
      fix: `reissue ${serving.file} as a server certificate (kpki init --renew apiserver)`,
      files: [serving.file],
    });
  }
  const hosts: { host: string; who: string }[] = [];
  const advertise = flag(args, 'advertise-address');
  if (advertise) hosts.push({ host: advertise, who: 'every node and pod (--advertise-address, the kubernetes endpoint)' });
  const bind = flag(args, 'bind-address');
  if (bind && !WILDCARD_BIND.has(bind)) hosts.push({ host: bind, who: 'clients of --bind-address' });
  for (const text of flagList(args, 'service-cluster-ip-range')) {
    const cidr = parseCidr(text);
    if (cidr) hosts.push({ host: indexedIp(cidr, 1), who: 'in-cluster clients (the kubernetes service IP)' });
  }
  const domain = dnsDomain(inputs);
  for (const name of ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${domain}`]) {
    hosts.push({ host: name, who: 'in-cluster clients' });
  }
  // The hosts in kubeconfigs' `server` are checked with each kubeconfig (rules/kubeconfigs.ts).
  checkHosts(ctx, serving, hosts, `Unable to connect to the server: ${CLIENT_TLS_PREFIX}`);
}

/** The CA file the kubelets trust for client certificates; kubeadm gives them the apiserver's. */
async function kubeletClientCa(ctx: VerifyContext, inputs: ClusterInputs): Promise<NamedCert | undefined> {
  const kubeletCa = inputs.kubelet?.clientCAFile;
  if (kubeletCa) {
    const certs = await ctx.certificates(kubeletCa, 'kubelet clientCAFile');
    return certs && { label: 'kubelet clientCAFile', file: kubeletCa, certs };
  }
  return inputs.apiserver && certFromFlag(ctx, inputs.apiserver, 'client-ca-file');
}

const KUBELET_API_GROUPS = ['system:masters', 'kubeadm:cluster-admins'];

/** Rule: kubectl logs/exec work: the kubelet trusts the apiserver's client cert and authorises it. */
export async function apiserverToKubelet(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const args = inputs.apiserver;
  if (!args) return;
  const client = await pairFromFlags(ctx, args, 'kubelet-client-certificate', 'kubelet-client-key');
  if (client) {
    const roots = await kubeletClientCa(ctx, inputs);
    if (roots) {
      await checkTrust(ctx, {
        leaf: client,
        roots,
        usage: 'clientAuth',
        relation: 'the kubelet authenticating the apiserver',
        symptom: (e) => `kubectl logs/exec: error: You must be logged in to the server (the server has asked for the client to provide credentials); kubelet log: ${e}`,
      });
    }
    const facts = certificateFacts(client.certs[0]!);
    if (!facts.organizations.some((o) => KUBELET_API_GROUPS.includes(o))) {
      ctx.report({
        code: FindingCode.IdentityUnexpected,
        severity: 'warning',
        subject: client.label,
        symptom: `Error from server (Forbidden): Forbidden (user=${facts.commonName}, verb=get, resource=nodes, subresource=proxy)`,
        diagnosis: `${client.file} is CN=${facts.commonName}, O=[${facts.organizations.join(', ')}]; kubeadm clusters authorise the kubelet API for O=kubeadm:cluster-admins (or system:masters)`,
        fix: 'reissue it with O=kubeadm:cluster-admins (kpki init --renew apiserver-kubelet-client) or bind its user to system:kubelet-api-admin',
        files: [client.file],
      });
    }
  }
  const kubeletCa = await certFromFlag(ctx, args, 'kubelet-certificate-authority');
  const servingFile = inputs.kubelet?.tlsCertFile;
  if (kubeletCa && servingFile) {
    const certs = await ctx.certificates(servingFile, 'kubelet tlsCertFile');
    if (certs) {
      await checkTrust(ctx, {
        leaf: { label: 'kubelet tlsCertFile', file: servingFile, certs },
        roots: kubeletCa,
        usage: 'serverAuth',
        relation: 'kube-apiserver connecting to the kubelet',
        symptom: (e) => `kubectl logs/exec: Error from server: Get "https://<node>:10250/...": ${CLIENT_TLS_PREFIX}${e}`,
      });
    }
  } else if (kubeletCa) {
    ctx.report({
      code: FindingCode.Unchecked,
      severity: 'info',
      subject: kubeletCa.label,
      symptom: '',
      diagnosis: 'the kubelets\' serving certificates were not given, so kpki cannot tell whether this CA signed them',
      fix: 'pass --kubelet-config with tlsCertFile to check it',
      files: [kubeletCa.file],
    });
  }
}

/** Rule: the aggregation layer authenticates to extension apiservers through the front proxy. */
export async function frontProxy(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const args = inputs.apiserver;
  if (!args) return;
  const proxy = await pairFromFlags(ctx, args, 'proxy-client-cert-file', 'proxy-client-key-file');
  const caFile = flag(args, 'requestheader-client-ca-file');
  const missing = (what: string, diagnosis: string, fix: string) =>
    ctx.report({
      code: FindingCode.RequestHeaderIncomplete,
      severity: 'error',
      subject: flagSubject(args, what),
      symptom: 'Error from server (ServiceUnavailable) / 401 Unauthorized from aggregated APIs (metrics.k8s.io, …)',
      diagnosis,
      fix,
      files: [],
    });
  if (proxy && !caFile) {
    missing('requestheader-client-ca-file', '--proxy-client-cert-file is set but --requestheader-client-ca-file is not: extension apiservers have no CA to check the aggregator with', 'set --requestheader-client-ca-file to the front-proxy CA (front-proxy-ca.crt)');
  }
  if (caFile && !proxy) {
    missing('proxy-client-cert-file', '--requestheader-client-ca-file is set but the apiserver has no --proxy-client-cert-file to call extension apiservers with', 'set --proxy-client-cert-file/--proxy-client-key-file to front-proxy-client.crt/.key');
  }
  if (caFile && flagList(args, 'requestheader-username-headers').length === 0) {
    missing('requestheader-username-headers', 'no --requestheader-username-headers: proxied requests carry no user, so they fall through to x509 authentication and fail', 'set --requestheader-username-headers=X-Remote-User (and the group/extra headers)');
  }
  if (!proxy || !caFile) return;
  const ca = await certFromFlag(ctx, args, 'requestheader-client-ca-file');
  if (ca) {
    await checkTrust(ctx, {
      leaf: proxy,
      roots: ca,
      usage: 'clientAuth',
      relation: 'extension apiservers authenticating the aggregator (requestheader CA)',
      symptom: (e) => `401 Unauthorized from aggregated APIs; extension apiserver log: ${e}`,
    });
  }
  const cn = certificateFacts(proxy.certs[0]!).commonName;
  const allowed = flagList(args, 'requestheader-allowed-names');
  if (allowed.length === 0) {
    ctx.report({
      code: FindingCode.ProxyAnyNameAllowed,
      severity: 'info',
      subject: flagSubject(args, 'requestheader-allowed-names'),
      symptom: '',
      diagnosis: 'the list is empty: any client certificate from the requestheader CA may assert any user to this apiserver and to extension apiservers',
      fix: `set --requestheader-allowed-names=${cn || 'front-proxy-client'} to accept only the aggregator`,
      files: [],
    });
  } else if (!allowed.includes(cn)) {
    ctx.report({
      code: FindingCode.ProxyNameNotAllowed,
      severity: 'error',
      subject: flagSubject(args, 'requestheader-allowed-names'),
      symptom: `401 Unauthorized from aggregated APIs; extension apiserver log: x509: subject with cn=${cn} is not in the allowed list`,
      diagnosis: `${proxy.file} has CN "${cn}", which is not in --requestheader-allowed-names (${allowed.join(', ')}); names compare exactly, case-sensitively`,
      fix: `add ${cn} to --requestheader-allowed-names, or reissue the proxy certificate with CN ${allowed[0]}`,
      files: [proxy.file],
    });
  }
}

async function signingKeys(ctx: VerifyContext, args: ComponentArgs | undefined, name: string) {
  const file = args && flag(args, name);
  if (!file) return undefined;
  const key = await ctx.privateKey(file, flagSubject(args, name));
  return key && { key, file, label: flagSubject(args, name) };
}

/** Rule: tokens signed by the apiserver and controller-manager verify with --service-account-key-file. */
export async function serviceAccountKeys(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const args = inputs.apiserver;
  const files = args ? flagList(args, 'service-account-key-file') : [];
  if (!args || files.length === 0) return;
  const verifying = (await Promise.all(files.map((f) => ctx.publicKeys(f, flagSubject(args, 'service-account-key-file'))))).flat();
  if (verifying.some((k) => k === undefined)) return;
  const signers = [
    await signingKeys(ctx, args, 'service-account-signing-key-file'),
    await signingKeys(ctx, inputs.controllerManager, 'service-account-private-key-file'),
  ];
  for (const signer of signers) {
    if (!signer || verifying.some((k) => sameKeyPair(signer.key, k!))) continue;
    ctx.report({
      code: FindingCode.ServiceAccountKeyMismatch,
      severity: 'error',
      subject: signer.label,
      symptom: 'error: You must be logged in to the server (Unauthorized) for every pod using a service-account token; apiserver log: "invalid bearer token"',
      diagnosis: `the public half of ${signer.file} is not in --service-account-key-file (${files.join(', ')}), so the tokens it signs never verify`,
      fix: `derive the public key from ${signer.file} (openssl pkey -pubout) into the --service-account-key-file, or use the matching sa.key`,
      files: [signer.file, ...files],
    });
  }
}

import { canonicalIp } from '../model/net.js';
import { x509 } from '../pki/crypto.js';
import { publicKeyFromDer } from '../pki/keys.js';

export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
const NODE_PREFIX = 'system:node:';
const NODES_GROUP = 'system:nodes';
/** The usages the kubelet-serving signer accepts: exactly these, key encipherment only with RSA keys. */
const RSA_USAGES = ['digital signature', 'key encipherment', 'server auth'];
const NON_RSA_USAGES = ['digital signature', 'server auth'];
/** Node address types that name the node itself; kubelets put exactly these into their serving CSRs. */
const DNS_ADDRESS_TYPES = ['Hostname', 'InternalDNS', 'ExternalDNS'];
const IP_ADDRESS_TYPES = ['InternalIP', 'ExternalIP'];

/** What a CertificateSigningRequest object and its PKCS#10 request say, as the decision reads them. */
export interface ServingRequest {
  name: string;
  signerName: string;
  username: string;
  groups: string[];
  usages: string[];
  commonName: string;
  organizations: string[];
  /** Subject attributes other than CN and O, as `OU=…`. */
  otherSubject: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
  uris: string[];
  /** The request's key algorithm: `rsa`, `ec`, `ed25519` … */
  keyAlgorithm: string;
}

export interface NodeAddresses {
  name: string;
  addresses: { type: string; address: string }[];
}

export type ServingDecision = { approve: true; node: string } | { approve: false; node: string | undefined; reasons: string[] };

/** The node a request claims to come from: the requester's name, when it is a node's. */
export function requestingNode(request: Pick<ServingRequest, 'username'>): string | undefined {
  return request.username.startsWith(NODE_PREFIX) ? request.username.slice(NODE_PREFIX.length) : undefined;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && b.every((x) => a.includes(x));

/**
 * Whether a kubelet-serving CSR may be approved: requested by node NAME for itself, and naming
 * nothing but the Node object's own addresses. Every reason to refuse is listed.
 */
export function kubeletServingDecision(request: ServingRequest, node: NodeAddresses | undefined): ServingDecision {
  const nodeName = requestingNode(request);
  const reasons: string[] = [];
  if (request.signerName !== KUBELET_SERVING_SIGNER) reasons.push(`signer is ${request.signerName}, not ${KUBELET_SERVING_SIGNER}`);
  if (!nodeName) reasons.push(`requested by ${request.username}, not by a node (system:node:NAME)`);
  if (!request.groups.includes(NODES_GROUP)) reasons.push(`requester is not in group ${NODES_GROUP}`);
  if (nodeName && request.commonName !== request.username)
    reasons.push(`subject CN is "${request.commonName}", not the requester ${request.username}`);
  if (!sameSet(request.organizations, [NODES_GROUP]))
    reasons.push(`subject O is [${request.organizations.join(', ')}], not [${NODES_GROUP}]`);
  if (request.otherSubject.length) reasons.push(`subject has other attributes: ${request.otherSubject.join(', ')}`);
  const allowed = request.keyAlgorithm === 'rsa' ? [RSA_USAGES] : [NON_RSA_USAGES, RSA_USAGES];
  if (!allowed.some((usages) => sameSet(request.usages, usages))) {
    reasons.push(
      `usages are [${request.usages.join(', ')}], not [${(request.keyAlgorithm === 'rsa' ? RSA_USAGES : NON_RSA_USAGES).join(', ')}]`,
    );
  }
  if (request.emails.length) reasons.push(`has email SANs: ${request.emails.join(', ')}`);
  if (request.uris.length) reasons.push(`has URI SANs: ${request.uris.join(', ')}`);
  if (!request.dnsNames.length && !request.ipAddresses.length) reasons.push('names no DNS name or IP address');
  if (nodeName && !node) reasons.push(`there is no Node object ${nodeName}`);
  if (node) {
    const of = (types: string[]) => node.addresses.filter((a) => types.includes(a.type)).map((a) => a.address);
    const dns = of(DNS_ADDRESS_TYPES).map((d) => d.toLowerCase());
    const ips = of(IP_ADDRESS_TYPES).map((ip) => canonicalIp(ip) ?? ip);
    for (const name of request.dnsNames)
      if (!dns.includes(name.toLowerCase())) reasons.push(`DNS name ${name} is not an address of Node ${node.name}`);
    for (const ip of request.ipAddresses)
      if (!ips.includes(canonicalIp(ip) ?? ip)) reasons.push(`IP ${ip} is not an address of Node ${node.name}`);
  }
  return reasons.length ? { approve: false, node: nodeName, reasons } : { approve: true, node: nodeName! };
}

/** The subject, SANs and key algorithm of a PEM PKCS#10 request; throws on anything unparsable. */
export function requestFacts(
  pem: string,
): Pick<ServingRequest, 'commonName' | 'organizations' | 'otherSubject' | 'dnsNames' | 'ipAddresses' | 'emails' | 'uris' | 'keyAlgorithm'> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  const subject = csr.subjectName
    .toJSON()
    .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type, value }))));
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const ofType = (type: string) => names.filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: subject.find((a) => a.type === 'CN')?.value ?? '',
    organizations: subject.filter((a) => a.type === 'O').map((a) => a.value),
    otherSubject: subject.filter((a) => a.type !== 'CN' && a.type !== 'O').map((a) => `${a.type}=${a.value}`),
    dnsNames: ofType('dns'),
    ipAddresses: ofType('ip').map((ip) => canonicalIp(ip) ?? ip),
    emails: ofType('email'),
    uris: ofType('url'),
    keyAlgorithm: publicKeyFromDer(Buffer.from(csr.publicKey.rawData)).asymmetricKeyType ?? 'unknown',
  };
}

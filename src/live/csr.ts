import { DEFAULTS } from '../model/defaults.js';
import type * as Kubernetes from '@kubernetes/client-node';
import { badFlag, ErrorCode, KpkiError } from '../errors.js';
import { refuseOverwrite } from '../issue/leaf.js';
import { buildKubeconfig } from '../kubeconfig/kubeconfig.js';
import { mergeKubeconfig } from '../kubeconfig/merge.js';
import { parseDuration } from '../model/duration.js';
import { parseKeyType } from '../model/settings.js';
import { certificateFacts, publicKeyObject, subjectName } from '../pki/certificate.js';
import { x509 } from '../pki/crypto.js';
import {
  certificatePublicKey,
  generateKeyPair,
  keyTypeOf,
  privateKeyPem,
  signatureAlgorithm,
  signingKey,
  type KeyPair,
} from '../pki/keys.js';
import { parseCertificates } from '../pki/pem.js';
import { readOptional, writeFileAtomic } from '../store/files.js';
import { apiErrorCode, apiErrorMessage, approveCsr, clusterRefused, connect, csrCondition, type ApiConnection } from './client.js';
import { timeoutMs } from './timeout.js';

export interface ViaApiOptions {
  kind: string;
  clientName?: string;
  organizations?: string[];
  nodeName?: string;
  /** The kubeconfig that creates (and with `approve`, approves) the CSR; its cluster CA goes into the result. */
  kubeconfig?: string;
  /** Requested lifetime (`expirationSeconds`, Kubernetes 1.22+: refused before, as it would be ignored); default: the signer's. */
  validity?: string;
  keyType?: string;
  approve?: boolean;
  /** How long to wait for approval and issuance; default 2m. */
  timeout?: string;
  server?: string;
  clusterName?: string;
  contextName?: string;
  out?: string;
  mergeInto?: string;
  force?: boolean;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
  /** Poll interval, for tests; default 1 s. */
  pollMs?: number;
}

export interface ViaApiResult {
  csrName: string;
  clientName: string;
  organizations: string[];
  server: string;
  clusterName: string;
  contextName: string;
  notAfter: string;
  kubeconfig: string;
  files: string[];
}

/** Groups the cluster would sign into a certificate that bypasses authorization and cannot be revoked. */
const UNREVOCABLE_GROUPS = ['system:masters'];
/** The signer's minimum for expirationSeconds. */
const MIN_EXPIRATION_SECONDS = 600;

export interface Request {
  commonName: string;
  organizations: string[];
  signerName: string;
  /** Usages the signer requires: the kubelet client signer of 1.20 accepts exactly these three. */
  usages: string[];
}

function requestFor(options: ViaApiOptions): Request {
  if (options.kind === 'user') {
    if (!options.clientName)
      throw badFlag('--client-name', 'is required for a user kubeconfig', 'e.g. --client-name alice --org developers');
    const organizations = options.organizations ?? [];
    const dangerous = organizations.filter((o) => UNREVOCABLE_GROUPS.includes(o));
    if (dangerous.length) {
      throw badFlag(
        '--org',
        `${dangerous.join(', ')} bypasses all authorization, and a certificate in it cannot be revoked before it expires`,
        'use a group bound by RBAC (e.g. kubeadm:cluster-admins)',
      );
    }
    return {
      commonName: options.clientName,
      organizations,
      signerName: 'kubernetes.io/kube-apiserver-client',
      usages: ['digital signature', 'key encipherment', 'client auth'],
    };
  }
  if (options.kind === 'node') {
    const node = options.nodeName?.toLowerCase();
    if (!node) throw badFlag('--node-name', 'is required for a node kubeconfig');
    return {
      commonName: `system:node:${node}`,
      organizations: ['system:nodes'],
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'key encipherment', 'client auth'],
    };
  }
  throw badFlag(
    '--via-api',
    `works for kinds user and node, not "${options.kind}"`,
    'the standard kubeconfigs are issued from the CA on disk',
  );
}

/**
 * The CertificateSigningRequest object for a key pair: a PKCS#10 request signed with it, and the
 * usages the signer accepts (key encipherment only with RSA keys, except for the kubelet client signer).
 */
export async function csrObject(
  request: Request,
  pair: KeyPair,
  expirationSeconds?: number,
): Promise<Kubernetes.V1CertificateSigningRequest> {
  const usages =
    pair.keyType.startsWith('rsa') || request.signerName.endsWith('-kubelet')
      ? request.usages
      : request.usages.filter((u) => u !== 'key encipherment');
  const pkcs10 = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(request.commonName, request.organizations),
    keys: { privateKey: await signingKey(pair.privateKey), publicKey: await certificatePublicKey(pair.publicKey) },
    signingAlgorithm: signatureAlgorithm(pair.privateKey),
  });
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: `kpki-${request.commonName.replace(/[^a-z0-9.-]/gi, '-').toLowerCase()}-` },
    spec: { request: Buffer.from(pkcs10.toString('pem')).toString('base64'), signerName: request.signerName, usages, expirationSeconds },
  };
}

/**
 * Asks the cluster to sign a client certificate for a key generated here (the key never leaves
 * this machine) and wraps it in a kubeconfig trusting the given kubeconfig's cluster CA.
 */
export async function kubeconfigViaApi(options: ViaApiOptions): Promise<ViaApiResult> {
  const request = requestFor(options);
  const progress = options.progress ?? (() => {});
  const waitMs = timeoutMs('--timeout', options.timeout ?? DEFAULTS.csrTimeout);
  let expirationSeconds: number | undefined;
  if (options.validity !== undefined) {
    expirationSeconds = parseDuration(options.validity);
    if (!expirationSeconds || expirationSeconds < MIN_EXPIRATION_SECONDS)
      throw badFlag(
        '--validity',
        `"${options.validity}" is not a duration of at least 10m`,
        'the signers require expirationSeconds >= 600; use e.g. 24h, 30d',
      );
  }
  if (options.out) await refuseOverwrite([options.out], options.force);
  const api = await connect(options.kubeconfig);
  const caKeyType = keyTypeOf(publicKeyObject(parseCertificates(Buffer.from(api.caPem), api.file)[0]!));
  const pair = await generateKeyPair(parseKeyType(options.keyType ?? caKeyType ?? DEFAULTS.keyType));
  const certificates = api.config.makeApiClient(api.k8s.CertificatesV1Api);
  const body: Kubernetes.V1CertificateSigningRequest = await csrObject(request, pair, expirationSeconds);
  let created: Kubernetes.V1CertificateSigningRequest;
  try {
    created = await certificates.createCertificateSigningRequest({ body });
  } catch (error) {
    throw clusterRefused(`creating a CertificateSigningRequest with ${api.file}`, error, 'create on certificatesigningrequests');
  }
  const name = created.metadata!.name!;
  progress(`CSR ${name} created for ${request.commonName} (signer ${request.signerName})`);
  if (expirationSeconds && created.spec.expirationSeconds === undefined) {
    // Before 1.22 the field does not exist and the apiserver drops it: the signer would use its own
    // duration (a year by default). Withdraw the request before anyone approves it.
    const withdrawn = await certificates.deleteCertificateSigningRequest({ name }).then(
      () => `CSR ${name} deleted`,
      (error) => `delete CSR ${name} yourself (${apiErrorMessage(error)})`,
    );
    throw badFlag(
      '--validity',
      `this apiserver (Kubernetes before 1.22) dropped expirationSeconds, so the certificate would get the signer's --cluster-signing-duration instead; ${withdrawn}`,
      "omit --validity to accept the signer's duration",
    );
  }
  if (options.approve) await approve(api, certificates, created, progress);
  else progress(`waiting for approval: kubectl certificate approve ${name}`);

  const csr = await awaitCertificate(certificates, name, waitMs, options.pollMs ?? 1000, progress);
  const cert = parseCertificates(Buffer.from(csr.status!.certificate!, 'base64'), `CSR ${name}`)[0]!;
  const notAfter = certificateFacts(cert).notAfter.toISOString();
  progress(`CSR ${name} issued, valid until ${notAfter}`);

  const server = options.server ?? api.credentials.server;
  const clusterName = options.clusterName ?? api.credentials.clusterName;
  const contextName = options.contextName ?? `${request.commonName}@${clusterName}`;
  const kubeconfig = buildKubeconfig({
    clusterName,
    server,
    userName: request.commonName,
    contextName,
    ca: { pem: api.caPem },
    cert: { pem: `${cert.toString('pem').trimEnd()}\n` },
    key: { pem: privateKeyPem(pair.privateKey) },
  });
  const files: string[] = [];
  if (options.mergeInto) {
    const current = await readOptional(options.mergeInto);
    await writeFileAtomic(options.mergeInto, mergeKubeconfig(current?.toString('utf8') ?? '', kubeconfig, options.mergeInto), 0o600);
    files.push(options.mergeInto);
  } else if (options.out) {
    await writeFileAtomic(options.out, kubeconfig, 0o600);
    files.push(options.out);
  }
  return {
    csrName: name,
    clientName: request.commonName,
    organizations: request.organizations,
    server,
    clusterName,
    contextName,
    notAfter,
    kubeconfig,
    files,
  };
}

/** Approves the CSR kpki created; a 403 leaves it to another approver, said on stderr. */
async function approve(
  api: ApiConnection,
  certificates: Kubernetes.CertificatesV1Api,
  csr: Kubernetes.V1CertificateSigningRequest,
  progress: (line: string) => void,
): Promise<void> {
  const name = csr.metadata!.name!;
  try {
    if (await approveCsr(certificates, csr, 'KpkiApprove', `Approved by kpki with ${api.file}`)) progress(`CSR ${name} approved`);
  } catch (error) {
    if (apiErrorCode(error) !== 403) throw clusterRefused(`approving CSR ${name}`, error);
    progress(`cannot approve CSR ${name} with ${api.file} (${apiErrorMessage(error)}); waiting for an approver`);
  }
}

async function awaitCertificate(
  certificates: Kubernetes.CertificatesV1Api,
  name: string,
  waitMs: number,
  pollMs: number,
  progress: (line: string) => void,
): Promise<Kubernetes.V1CertificateSigningRequest> {
  const deadline = Date.now() + waitMs;
  let state = '';
  for (;;) {
    let csr: Kubernetes.V1CertificateSigningRequest;
    try {
      csr = await certificates.readCertificateSigningRequest({ name });
    } catch (error) {
      throw clusterRefused(`reading CSR ${name}`, error);
    }
    const denied = csrCondition(csr, 'Denied');
    const failed = csrCondition(csr, 'Failed');
    if (denied || failed) {
      const c = (denied ?? failed)!;
      throw new KpkiError(
        ErrorCode.ClusterRefused,
        `CSR ${name} was ${denied ? 'denied' : 'not signed (Failed)'}: ${[c.reason, c.message].filter(Boolean).join(': ') || 'no reason given'}`,
        { subject: name },
      );
    }
    if (csr.status?.certificate) return csr;
    const now = csrCondition(csr, 'Approved') ? 'approved; waiting for the signer' : 'pending approval';
    if (now !== state) progress(`CSR ${name} ${(state = now)}`);
    if (Date.now() >= deadline) {
      throw new KpkiError(ErrorCode.ClusterRefused, `CSR ${name} was not issued within ${waitMs / 1000}s (${state})`, {
        subject: name,
        hint: state.startsWith('approved')
          ? 'is kube-controller-manager running with --cluster-signing-cert-file?'
          : `approve it (kubectl certificate approve ${name}) or pass --approve`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

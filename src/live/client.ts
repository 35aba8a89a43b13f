import path from 'node:path';
import type * as Kubernetes from '@kubernetes/client-node';
import { badFlag, badInput, ErrorCode, KpkiError } from '../errors.js';
import { parseKubeconfig, type KubeconfigCredentials } from '../kubeconfig/kubeconfig.js';
import { parseCertificates } from '../pki/pem.js';
import { readOptional, readRequired } from '../store/files.js';

/** An API connection made from a kubeconfig, with what kpki reads from that kubeconfig itself. */
export interface ApiConnection {
  k8s: typeof Kubernetes;
  config: Kubernetes.KubeConfig;
  file: string;
  credentials: KubeconfigCredentials;
  /** The cluster CA of the kubeconfig, PEM: what kubeconfigs kpki writes for this cluster trust. */
  caPem: string;
}

/**
 * Loads the official client (about half a second of module loading, so only the commands that
 * talk to the API pay it) and connects it with a kubeconfig.
 */
export async function connect(file: string | undefined, flagName = '--kubeconfig'): Promise<ApiConnection> {
  if (!file)
    throw badFlag(flagName, 'is required: the kubeconfig to reach the cluster with', 'e.g. --kubeconfig /etc/kubernetes/admin.conf');
  const credentials = parseKubeconfig((await readRequired(file, 'kubeconfig')).toString('utf8'), file);
  const ca = credentials.certificateAuthority;
  const caData = ca?.data ?? (ca?.path ? await readOptional(path.resolve(path.dirname(file), ca.path)) : undefined);
  if (!caData)
    throw badInput(
      file,
      `cluster ${credentials.clusterName} has no readable certificate-authority`,
      'kpki writes its CA into the new kubeconfig; give a kubeconfig that names the cluster CA',
    );
  const caPem = parseCertificates(caData, ca!.origin)
    .map((c) => c.toString('pem'))
    .join('\n');
  const k8s = await loadKubernetesClient();
  const config = new k8s.KubeConfig();
  try {
    config.loadFromFile(file);
  } catch (error) {
    throw badInput(file, `cannot be used: ${(error as Error).message}`);
  }
  return { k8s, config, file, credentials, caPem: `${caPem.trimEnd()}\n` };
}

/** The official client: an optional peer dependency, so `npm install kpki` stays small for the offline commands. */
const KUBERNETES_CLIENT = '@kubernetes/client-node';

async function loadKubernetesClient(): Promise<typeof Kubernetes> {
  try {
    return await import('@kubernetes/client-node');
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    // Only the client itself missing means "not installed"; anything else is reported as it is.
    const notInstalled = (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && message?.includes(`'${KUBERNETES_CLIENT}'`);
    const why = notInstalled ? 'is not installed' : `cannot be loaded: ${message?.split('\n')[0]}`;
    throw new KpkiError(ErrorCode.MissingPackage, `the commands that talk to the Kubernetes API need ${KUBERNETES_CLIENT}, which ${why}`, {
      subject: KUBERNETES_CLIENT,
      hint: `install it beside kpki: npm install ${KUBERNETES_CLIENT}@1 (npx: npx -p kpki -p ${KUBERNETES_CLIENT}@1 kpki …)`,
    });
  }
}

export interface CsrPolling {
  /** Keep looking at new requests until `signal` aborts. */
  watch?: boolean;
  signal?: AbortSignal;
  /** Poll interval with `watch`; default 2 s. */
  pollMs?: number;
}

/**
 * Lists the cluster's CSRs and hands them to `pass`; with `watch`, again every pollMs until the
 * signal aborts (a pass under way finishes first).
 */
export async function pollCsrs(
  api: ApiConnection,
  certificates: Kubernetes.CertificatesV1Api,
  polling: CsrPolling,
  pass: (items: Kubernetes.V1CertificateSigningRequest[]) => Promise<void>,
): Promise<void> {
  for (;;) {
    let list: Kubernetes.V1CertificateSigningRequestList;
    try {
      list = await certificates.listCertificateSigningRequest();
    } catch (error) {
      throw clusterRefused(`listing CSRs with ${api.file}`, error, 'list on certificatesigningrequests');
    }
    await pass(list.items);
    if (!polling.watch || polling.signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, polling.pollMs ?? 2000);
      polling.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (polling.signal?.aborted) return;
  }
}

/** The message of a Kubernetes Status in an API error, else the error's own. */
export function apiErrorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      // Not a Status; fall back to the error message.
    }
  }
  const code = (error as { code?: unknown }).code;
  const message = (error as Error)?.message ?? String(error);
  return typeof code === 'number' ? `HTTP ${code}: ${message.split('\n')[0]}` : message.split('\n')[0]!;
}

/** HTTP status of an API error, if it has one. */
export const apiErrorCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
};

/**
 * One-line error for a request the cluster refused or never answered; `permission` is what the
 * kubeconfig's user needs, offered as the fix when the answer is 403.
 */
export function clusterRefused(what: string, error: unknown, permission?: string): KpkiError {
  const code = apiErrorCode(error);
  const hint =
    code === 403
      ? permission && `the kubeconfig needs ${permission}`
      : code === 401
        ? "the apiserver rejects the kubeconfig's credentials; kpki verify --live --kubeconfig FILE tells why"
        : code === undefined
          ? 'is the apiserver reachable from here?'
          : undefined;
  return new KpkiError(ErrorCode.ClusterRefused, `${what}: ${apiErrorMessage(error)}`, { subject: what, hint });
}

/** A condition of the CSR that is set (status not False). */
export const csrCondition = (csr: Kubernetes.V1CertificateSigningRequest, type: string) =>
  csr.status?.conditions?.find((c) => c.type === type && c.status !== 'False');

/**
 * Adds an Approved condition, re-reading and retrying when a controller updated the CSR meanwhile
 * (409 Conflict). False when someone else approved or denied it first; other API errors are thrown.
 */
export async function approveCsr(
  certificates: Kubernetes.CertificatesV1Api,
  csr: Kubernetes.V1CertificateSigningRequest,
  reason: string,
  message: string,
): Promise<boolean> {
  const name = csr.metadata!.name!;
  const condition = { type: 'Approved', status: 'True', reason, message, lastUpdateTime: new Date() };
  let current = csr;
  for (let attempt = 1; ; attempt++) {
    if (csrCondition(current, 'Approved') || csrCondition(current, 'Denied')) return false;
    try {
      await certificates.replaceCertificateSigningRequestApproval({
        name,
        body: { ...current, status: { ...current.status, conditions: [...(current.status?.conditions ?? []), condition] } },
      });
      return true;
    } catch (error) {
      if (apiErrorCode(error) !== 409 || attempt >= 5) throw error;
      current = await certificates.readCertificateSigningRequest({ name });
    }
  }
}

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
  if (!file) throw badFlag(flagName, 'is required: the kubeconfig to reach the cluster with', 'e.g. --kubeconfig /etc/kubernetes/admin.conf');
  const credentials = parseKubeconfig((await readRequired(file, 'kubeconfig')).toString('utf8'), file);
  const ca = credentials.certificateAuthority;
  const caData = ca?.data ?? (ca?.path ? await readOptional(path.resolve(path.dirname(file), ca.path)) : undefined);
  if (!caData) throw badInput(file, `cluster ${credentials.clusterName} has no readable certificate-authority`, 'kpki writes its CA into the new kubeconfig; give a kubeconfig that names the cluster CA');
  const caPem = parseCertificates(caData, ca!.origin).map((c) => c.toString('pem')).join('\n');
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  try {
    config.loadFromFile(file);
  } catch (error) {
    throw badInput(file, `cannot be used: ${(error as Error).message}`);
  }
  return { k8s, config, file, credentials, caPem: `${caPem.trimEnd()}\n` };
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

/** One-line error for a request the cluster refused or never answered. */
export function clusterRefused(what: string, error: unknown, hint?: string): KpkiError {
  return new KpkiError(ErrorCode.ClusterRefused, `${what}: ${apiErrorMessage(error)}`, { subject: what, hint });
}

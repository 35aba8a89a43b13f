import { badFlag } from '../errors.js';
import { listValue } from '../model/settings.js';
import { flagString, type Output } from './output.js';

/** Flags of local issuance that mean nothing when the cluster signs. */
const LOCAL_ONLY = { caCert: '--ca-cert', caKey: '--ca-key', certDir: '--cert-dir', kubeconfigDir: '--kubeconfig-dir', csrOnly: '--csr-only', allowSystemMasters: '--allow-system-masters' } as const;

/** Flags that only mean something with --via-api. */
const API_ONLY = { kubeconfig: '--kubeconfig', approve: '--approve', timeout: '--timeout' } as const;

export function refuseApiFlags(flags: Record<string, unknown>): void {
  for (const [key, flag] of Object.entries(API_ONLY)) {
    if (flags[key] !== undefined) throw badFlag(flag, 'needs --via-api', `kpki kubeconfig user --via-api ${flag} …`);
  }
}

/** `kpki kubeconfig user|node --via-api`: the cluster signs through the CSR API; progress on stderr. */
export async function kubeconfigViaApiCommand(kind: string, flags: Record<string, unknown>, output: Output, json: boolean): Promise<number> {
  for (const [key, flag] of Object.entries(LOCAL_ONLY)) {
    if (flags[key] !== undefined && flags[key] !== false) throw badFlag(flag, 'cannot be used with --via-api: the cluster signs, no CA on disk is read');
  }
  if (flags.embed === false) throw badFlag('--no-embed', 'cannot be used with --via-api: the key is written into the kubeconfig only');
  const { kubeconfigViaApi } = await import('../live/csr.js');
  const result = await kubeconfigViaApi({
    kind,
    clientName: flagString(flags.clientName),
    organizations: listValue(flags.org as string[] | string | undefined),
    nodeName: flagString(flags.nodeName),
    kubeconfig: flagString(flags.kubeconfig),
    validity: flagString(flags.validity),
    keyType: flagString(flags.keyType),
    approve: Boolean(flags.approve),
    timeout: flagString(flags.timeout),
    server: flagString(flags.server),
    clusterName: flagString(flags.clusterName),
    contextName: flagString(flags.contextName),
    out: flagString(flags.out),
    mergeInto: flagString(flags.mergeInto),
    force: Boolean(flags.force),
    progress: (line) => output.stderr(`kpki: ${line}\n`),
  });
  if (json) output.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.files.length) output.stderr(`kpki: wrote ${result.files.join(', ')}\n`);
  else output.stdout(result.kubeconfig);
  return 0;
}

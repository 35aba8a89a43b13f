import { badFlag } from '../errors.js';
import { FLAGS } from './flags.js';
import type { KubeconfigFlags } from './kubeconfig.js';
import type { Output } from './output.js';

/** Flags of local issuance that mean nothing when the cluster signs. */
const LOCAL_ONLY = ['caCert', 'caKey', 'certDir', 'kubeconfigDir', 'profile', 'csrOnly', 'allowSystemMasters', 'noEmbed'] as const;

/** Flags that only mean something with --via-api. */
const API_ONLY = ['csrKubeconfig', 'approveCsr', 'csrTimeout'] as const;

const given = (value: unknown) => value !== undefined && value !== false;

export function refuseApiFlags(flags: KubeconfigFlags): void {
  for (const id of API_ONLY) {
    const flag = `--${FLAGS[id].name}`;
    if (given(flags[id])) throw badFlag(flag, 'needs --via-api', `kpki kubeconfig user --via-api ${flag} …`);
  }
}

/** `kpki kubeconfig user|node --via-api`: the cluster signs through the CSR API; progress on stderr. */
export async function kubeconfigViaApiCommand(kind: string, flags: KubeconfigFlags, output: Output): Promise<number> {
  for (const id of LOCAL_ONLY) {
    if (!given(flags[id])) continue;
    const why = id === 'noEmbed' ? 'the key is written into the kubeconfig only' : 'the cluster signs, no CA or profile on disk is read';
    throw badFlag(`--${FLAGS[id].name}`, `cannot be used with --via-api: ${why}`);
  }
  const { kubeconfigViaApi } = await import('../live/csr.js');
  const result = await kubeconfigViaApi({
    kind,
    clientName: flags.clientName,
    organizations: flags.org,
    nodeName: flags.kubeletNodeName,
    kubeconfig: flags.csrKubeconfig,
    validity: flags.leafValidity,
    keyType: flags.leafKeyType,
    approve: flags.approveCsr,
    timeout: flags.csrTimeout,
    server: flags.server,
    clusterName: flags.kubeconfigClusterName,
    contextName: flags.contextName,
    out: flags.kubeconfigOut,
    mergeInto: flags.mergeInto,
    force: flags.overwrite,
    progress: (line) => output.stderr(`kpki: ${line}\n`),
  });
  if (flags.json) output.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.files.length) output.stderr(`kpki: wrote ${result.files.join(', ')}\n`);
  else output.stdout(result.kubeconfig);
  return 0;
}

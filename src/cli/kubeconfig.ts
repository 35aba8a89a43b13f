import { defineCommand } from './command.js';
import { pinSource } from './pin.js';
import type { FlagValues } from './flags.js';
import { kubeconfigViaApiCommand, refuseApiFlags } from './kubeconfig-api.js';

const KUBECONFIG_FLAGS = [
  'clientName',
  'org',
  'kubeletNodeName',
  'server',
  'kubeconfigClusterName',
  'contextName',
  'userName',
  'leafValidity',
  'leafKeyType',
  'certDir',
  'kubeconfigDir',
  'profile',
  'caCert',
  'caKey',
  'kubeconfigOut',
  'noEmbed',
  'csrOnly',
  'mergeInto',
  'allowSystemMasters',
  'overwrite',
  'viaApi',
  'csrKubeconfig',
  'approveCsr',
  'csrTimeout',
  'json',
  'pkcs11Module',
  'pinFile',
] as const;

export type KubeconfigFlags = FlagValues<(typeof KUBECONFIG_FLAGS)[number]>;

export const kubeconfigCommand = defineCommand({
  usage: 'kubeconfig <kind>',
  description: 'Issue a kubeconfig: user, node, or admin|super-admin|controller-manager|scheduler|kubelet',
  flags: KUBECONFIG_FLAGS,
  examples: [
    'kpki kubeconfig user --client-name alice --org developers > alice.conf',
    'kpki kubeconfig user --client-name ci --validity 24h --merge-into ~/.kube/config',
    'kpki kubeconfig user --client-name ci --cluster-name staging --merge-into ~/.kube/config   # beside another "kubernetes"',
    'kpki kubeconfig node --node-name worker-1 --out worker-1.conf',
    'kpki kubeconfig admin            # rewrite ./admin.conf from ./pki',
    'kpki kubeconfig user --via-api --kubeconfig admin.conf --client-name alice --org devs --validity 24h --approve',
  ],
  async run([kind], flags, output) {
    if (flags.viaApi) return kubeconfigViaApiCommand(kind!, flags, output);
    refuseApiFlags(flags);
    const { issueKubeconfig } = await import('../commands/kubeconfig.js');
    const result = await issueKubeconfig({
      kind: kind!,
      clientName: flags.clientName,
      organizations: flags.org,
      nodeName: flags.kubeletNodeName,
      server: flags.server,
      clusterName: flags.kubeconfigClusterName,
      contextName: flags.contextName,
      userName: flags.userName,
      validity: flags.leafValidity,
      keyType: flags.leafKeyType,
      certDir: flags.certDir,
      kubeconfigDir: flags.kubeconfigDir,
      profile: flags.profile,
      caCert: flags.caCert,
      caKey: flags.caKey,
      out: flags.kubeconfigOut,
      embed: !flags.noEmbed,
      csrOnly: flags.csrOnly,
      mergeInto: flags.mergeInto,
      allowSystemMasters: flags.allowSystemMasters,
      force: flags.overwrite,
      token: { pin: pinSource(flags.pinFile), pkcs11Module: flags.pkcs11Module },
    });
    if (flags.json) output.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else if (result.files.length) output.stderr(`kpki: wrote ${result.files.join(', ')}\n`);
    else output.stdout(result.kubeconfig!);
    return 0;
  },
});

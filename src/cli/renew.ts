import { defineCommand } from './command.js';
import { textStyles } from './output.js';
import type { FlagValues } from './flags.js';
import { pinSource } from './pin.js';

/** The flags that find a PKI and its cluster, taken by every day-2 command. */
export const LAYOUT_FLAGS = [
  'certDir',
  'clusterKubeconfigDir',
  'recordedNodesDir',
  'clusterProfile',
  'keptKubeconfig',
  'pkcs11Module',
  'pinFile',
  'json',
] as const;

/** The layout flags as the day-2 library's options. */
export function layoutOptions(flags: FlagValues<(typeof LAYOUT_FLAGS)[number]>) {
  return {
    certDir: flags.certDir,
    kubeconfigDir: flags.clusterKubeconfigDir,
    nodesDir: flags.recordedNodesDir,
    profile: flags.clusterProfile,
    kubeconfigs: flags.keptKubeconfig,
    token: { pin: pinSource(flags.pinFile), pkcs11Module: flags.pkcs11Module },
  };
}

export const renewCommand = defineCommand({
  usage: 'renew [...names]',
  description: 'Renew leaf certificates and kubeconfigs with the current CAs (shared set and every node)',
  flags: [...LAYOUT_FLAGS, 'all', 'addSan', 'keepKey', 'newKey', 'renewValidity', 'renewCsrOnly', 'csrDir', 'dryRun'],
  examples: [
    'kpki renew --all',
    'kpki renew apiserver --add-san k8s-api.example.com,10.0.0.100',
    'kpki renew admin.conf --validity 90d',
    'kpki renew apiserver --new-key',
  ],
  async run(names, flags, output) {
    const [{ renew }, { renderRenewResult }] = await Promise.all([import('../commands/renew.js'), import('../render/day2.js')]);
    const result = await renew({
      ...layoutOptions(flags),
      names: names.length ? names : undefined,
      all: flags.all,
      addSans: flags.addSan,
      keepKey: flags.keepKey,
      newKey: flags.newKey,
      validity: flags.renewValidity,
      csrOnly: flags.renewCsrOnly,
      csrDir: flags.csrDir,
      dryRun: flags.dryRun,
    });
    for (const warning of result.warnings) output.stderr(`kpki: warning: ${warning}\n`);
    output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderRenewResult(result, await textStyles()));
    return 0;
  },
});

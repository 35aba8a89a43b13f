import type { CAC } from 'cac';
import { renew } from '../day2/renew.js';
import { renderRenewResult } from '../render/day2.js';
import { flagList, flagString, type Output, type Runner } from './output.js';

/** Directory flags every day-2 command takes. */
export function layoutFlags(flags: Record<string, unknown>) {
  return { certDir: flagString(flags.certDir), kubeconfigDir: flagString(flags.kubeconfigDir), nodesDir: flagString(flags.nodesDir), profile: flagString(flags.profile), kubeconfigs: flagList(flags.kubeconfig) };
}

/** Declares the directory flags on a day-2 command. */
export function withLayoutFlags<T extends { option: (name: string, help: string) => T }>(command: T): T {
  return command
    .option('--cert-dir <dir>', 'PKI directory (default: ./pki); for a cluster, its shared directory')
    .option('--kubeconfig-dir <dir>', "Kubeconfig directory, where kpki-cluster.json is for a cluster (default: the cert dir's parent)")
    .option('--nodes-dir <dir>', "A cluster's node directories (default: from kpki-cluster.json)")
    .option('--profile <name|file>', 'Certificate set (default: the cluster\'s, else kubeadm)')
    .option('--kubeconfig <file>', 'A user kubeconfig kpki made to keep in step too: CA data and client certificate (repeatable)')
    .option('--json', 'Print a machine-readable result on stdout');
}

export function registerRenew(cli: CAC, output: Output, run: Runner): void {
  withLayoutFlags(cli.command('renew [...names]', 'Renew leaf certificates and kubeconfigs with the current CAs (shared set and every node)'))
    .option('--all', 'Renew every leaf certificate and kubeconfig')
    .option('--add-san <sans>', 'Add SANs to the apiserver certificates (or to etcd-server/etcd-peer when named); remembered for later runs')
    .option('--keep-key', 'Re-sign the existing keys instead of generating new ones')
    .option('--validity <duration>', "New certificates' lifetime (default: the cluster's, else 1y; never past the CA)")
    .option('--csr-only', 'For leaves an external CA signed: write a new key and a CSR for each instead of refusing')
    .option('--csr-dir <dir>', 'Where --csr-only writes (default: <kubeconfig dir>/csr)')
    .option('--dry-run', 'Show what would be renewed and restarted; write nothing')
    .example('kpki renew --all')
    .example('kpki renew apiserver --add-san k8s-api.example.com,10.0.0.100')
    .example('kpki renew admin.conf --keep-key --validity 90d')
    .action(async (names: string[], flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        const result = await renew({
          ...layoutFlags(flags),
          names: names.length ? names : undefined,
          all: Boolean(flags.all),
          addSans: flagList(flags.addSan),
          keepKey: Boolean(flags.keepKey),
          validity: flagString(flags.validity),
          csrOnly: Boolean(flags.csrOnly),
          csrDir: flagString(flags.csrDir),
          dryRun: Boolean(flags.dryRun),
        });
        output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderRenewResult(result));
        return 0;
      });
    });
}

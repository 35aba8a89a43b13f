import type { CAC } from 'cac';
import { badFlag } from '../errors.js';
import { flagString, type Output, type Runner } from './output.js';

export function registerApprove(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('approve <kind>', 'Approve pending kubelet-serving CSRs that name only their own Node\'s addresses (kind: kubelet-serving)')
    .option('--kubeconfig <file>', 'Kubeconfig allowed to list CSRs, read Nodes and approve kubelet-serving (e.g. admin.conf)')
    .option('--watch', 'Keep approving new requests until interrupted')
    .option('--dry-run', 'Print the decisions, approve nothing')
    .option('--json', 'Print the decisions as JSON')
    .example('kpki approve kubelet-serving --kubeconfig /etc/kubernetes/admin.conf --dry-run')
    .example('kpki approve kubelet-serving --kubeconfig /etc/kubernetes/admin.conf --watch')
    .action(async (kind: string, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (kind !== 'kubelet-serving') throw badFlag('kind', `"${kind}" is not kubelet-serving`, 'kpki approve kubelet-serving --kubeconfig admin.conf');
        const watching = new AbortController();
        const stop = () => watching.abort();
        process.once('SIGINT', stop);
        try {
          const { approveKubeletServing } = await import('../live/approve.js');
          const outcomes = await approveKubeletServing({
            kubeconfig: flagString(flags.kubeconfig),
            dryRun: Boolean(flags.dryRun),
            watch: Boolean(flags.watch),
            signal: watching.signal,
            report: (line) => (json ? undefined : output.stdout(`${line}\n`)),
          });
          if (json) output.stdout(`${JSON.stringify(outcomes, null, 2)}\n`);
          else if (!outcomes.length) output.stderr('kpki: no pending kubelet-serving CSRs\n');
        } finally {
          process.removeListener('SIGINT', stop);
        }
        return 0;
      });
    });
}

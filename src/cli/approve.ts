import { badFlag } from '../errors.js';
import { defineCommand } from './command.js';

export const approveCommand = defineCommand({
  usage: 'approve <kind>',
  description: "Approve pending kubelet-serving CSRs that name only their own Node's addresses (kind: kubelet-serving)",
  flags: ['approverKubeconfig', 'watch', 'decideOnly', 'json'],
  examples: [
    'kpki approve kubelet-serving --kubeconfig /etc/kubernetes/admin.conf --dry-run',
    'kpki approve kubelet-serving --kubeconfig /etc/kubernetes/admin.conf --watch',
  ],
  async run([kind], flags, output) {
    if (kind !== 'kubelet-serving')
      throw badFlag('kind', `"${kind}" is not kubelet-serving`, 'kpki approve kubelet-serving --kubeconfig admin.conf');
    const watching = new AbortController();
    const stop = () => watching.abort();
    process.once('SIGINT', stop);
    try {
      const { approveKubeletServing } = await import('../live/approve.js');
      const outcomes = await approveKubeletServing({
        kubeconfig: flags.approverKubeconfig,
        dryRun: flags.decideOnly,
        watch: flags.watch,
        signal: watching.signal,
        report: (line) => (flags.json ? undefined : output.stdout(`${line}\n`)),
      });
      if (flags.json) output.stdout(`${JSON.stringify(outcomes, null, 2)}\n`);
      else if (!outcomes.length) output.stderr('kpki: no pending kubelet-serving CSRs\n');
    } finally {
      process.removeListener('SIGINT', stop);
    }
    return 0;
  },
});

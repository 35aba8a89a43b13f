import { badFlag } from '../errors.js';
import { checkExpiration, inspect } from '../commands/inspect.js';
import { renderExpiration, renderInspect } from '../render/inspect.js';
import { formatDuration, parseDuration } from '../model/duration.js';
import { defineCommand } from './command.js';

export const inspectCommand = defineCommand({
  usage: 'inspect [...paths]',
  description: 'Show what certificates, keys, CSRs, kubeconfigs or PKI directories really hold',
  flags: ['json'],
  examples: ['kpki inspect /etc/kubernetes/pki', 'kpki inspect ~/.kube/config apiserver.crt'],
  async run(paths, flags, output) {
    if (!paths.length) throw badFlag('PATH', 'give at least one file or directory to inspect');
    const result = await inspect(paths);
    output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderInspect(result));
    return 0;
  },
});

export const checkExpirationCommand = defineCommand({
  usage: 'check-expiration',
  description: "kubeadm's expiry table for a PKI and its kubeconfigs",
  flags: ['nodeCertDir', 'kubeconfigDir', 'failWithin', 'profile', 'json'],
  examples: ['kpki check-expiration --warn-within 30d || mail -s "renew certificates" ops@example.com'],
  async run(_args, flags, output) {
    const warnText = flags.failWithin;
    const report = await checkExpiration({
      certDir: flags.nodeCertDir,
      kubeconfigDir: flags.kubeconfigDir,
      profile: flags.profile,
      warnWithinSeconds: warnText === undefined ? undefined : parseDuration(warnText),
    });
    output.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderExpiration(report));
    for (const row of report.expiringSoon) {
      const when = row.secondsLeft! < 0 ? `expired ${formatDuration(-row.secondsLeft!)} ago` : `expires in ${formatDuration(row.secondsLeft!)}`;
      output.stderr(`kpki: ${row.name} (${row.file}) ${when}, within ${warnText}\n`);
    }
    return report.expiringSoon.length ? 1 : 0;
  },
});

import { formatDuration, parseDuration } from '../model/duration.js';
import { defineCommand } from './command.js';
import { textStyles } from './output.js';

export const checkExpirationCommand = defineCommand({
  usage: 'check-expiration',
  description: "kubeadm's expiry table for a PKI and its kubeconfigs",
  flags: ['nodeCertDir', 'kubeconfigDir', 'failWithin', 'profile', 'json'],
  examples: ['kpki check-expiration --warn-within 30d || mail -s "renew certificates" ops@example.com'],
  async run(_args, flags, output) {
    const warnText = flags.failWithin;
    const [{ checkExpiration }, { renderExpiration }] = await Promise.all([
      import('../commands/check-expiration.js'),
      import('../render/inspect.js'),
    ]);
    const report = await checkExpiration({
      certDir: flags.nodeCertDir,
      kubeconfigDir: flags.kubeconfigDir,
      profile: flags.profile,
      warnWithinSeconds: warnText === undefined ? undefined : parseDuration(warnText),
    });
    output.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderExpiration(report, await textStyles()));
    for (const row of report.expiringSoon) {
      const when =
        row.secondsLeft! < 0 ? `expired ${formatDuration(-row.secondsLeft!)} ago` : `expires in ${formatDuration(row.secondsLeft!)}`;
      output.stderr(`kpki: ${row.name} (${row.file}) ${when}, within ${warnText}\n`);
    }
    return report.expiringSoon.length ? 1 : 0;
  },
});

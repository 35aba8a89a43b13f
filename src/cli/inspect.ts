import type { CAC } from 'cac';
import { badFlag } from '../errors.js';
import { checkExpiration } from '../inspect/expiration.js';
import { inspect } from '../inspect/index.js';
import { renderExpiration, renderInspect } from '../render/inspect.js';
import { formatDuration, parseDuration } from '../model/duration.js';
import { flagString, type Output, type Runner } from './output.js';


export function registerInspect(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('inspect [...paths]', 'Show what certificates, keys, CSRs, kubeconfigs or PKI directories really hold')
    .option('--json', 'Print the result as JSON')
    .example('kpki inspect /etc/kubernetes/pki')
    .example('kpki inspect ~/.kube/config apiserver.crt')
    .action(async (paths: string[], flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (!paths.length) throw badFlag('PATH', 'give at least one file or directory to inspect');
        const result = await inspect(paths);
        output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderInspect(result));
        return 0;
      });
    });

  cli
    .command('check-expiration', "kubeadm's expiry table for a PKI and its kubeconfigs")
    .option('--cert-dir <dir>', 'PKI directory (default: /etc/kubernetes/pki if present, else ./pki)')
    .option('--kubeconfig-dir <dir>', "Kubeconfig directory (default: the cert dir's parent)")
    .option('--warn-within <duration>', 'Exit 1 when anything expires sooner, e.g. 30d (for cron and monitoring)')
    .option('--profile <name|file>', 'Certificate profile whose entries are the rows (default: kubeadm)')
    .option('--json', 'Print the report as JSON')
    .example('kpki check-expiration --warn-within 30d || mail -s "renew certificates" ops@example.com')
    .action(async (flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        const warnText = flagString(flags.warnWithin);
        const warnWithinSeconds = warnText === undefined ? undefined : parseDuration(warnText);
        if (warnText !== undefined && warnWithinSeconds === undefined) throw badFlag('--warn-within', `"${warnText}" is not a duration`, 'e.g. 30d or 720h');
        const report = await checkExpiration({ certDir: flagString(flags.certDir), kubeconfigDir: flagString(flags.kubeconfigDir), profile: flagString(flags.profile), warnWithinSeconds });
        output.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : renderExpiration(report));
        for (const row of report.expiringSoon) {
          const when = row.secondsLeft! < 0 ? `expired ${formatDuration(-row.secondsLeft!)} ago` : `expires in ${formatDuration(row.secondsLeft!)}`;
          output.stderr(`kpki: ${row.name} (${row.file}) ${when}, within ${warnText}\n`);
        }
        return report.expiringSoon.length ? 1 : 0;
      });
    });
}

import type { CAC } from 'cac';
import { renewCa } from '../day2/ca.js';
import { ROTATE_STEPS, type RotateStep } from '../day2/rotate.js';
import { rotateCa } from '../commands/rotate.js';
import { badFlag } from '../errors.js';
import { listValue } from '../model/settings.js';
import { renderCaRenewResult, renderRotateResult } from '../render/day2.js';
import { layoutFlags, withLayoutFlags } from './renew.js';
import { flagList, flagString, type Output, type Runner } from './output.js';

export function registerCa(cli: CAC, output: Output, run: Runner): void {
  withLayoutFlags(cli.command('ca <action> [target]', `CA lifecycle: renew NAME (same key, new validity), rotate ${ROTATE_STEPS.join('|')} (new keys, overlapping trust)`))
    .option('--validity <duration>', 'Lifetime of the renewed or new CA certificates (default: 10y)')
    .option('--apiservice <file>', 'APIService manifest whose caBundle holds the CA (repeatable; kpki cert extension-apiserver --ca cluster)')
    .option('--ca <list>', 'For rotate begin: CAs to rotate, comma-separated: cluster, front-proxy, etcd (default: all; none with --service-account)')
    .option('--service-account', 'For rotate begin: rotate the service-account signing key too')
    .option('--purge', 'For rotate finish: delete the old keys instead of archiving them')
    .option('--dry-run', 'Show the files that would change and what to restart; write nothing')
    .example('kpki ca renew ca')
    .example('kpki ca renew etcd-ca --validity 5y')
    .example('kpki ca rotate begin --service-account   # then restart as printed, then: reissue, finish')
    .example('kpki ca rotate status')
    .action(async (action: string, target: string | undefined, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        const common = { ...layoutFlags(flags), validity: flagString(flags.validity), apiServices: flagList(flags.apiservice), dryRun: Boolean(flags.dryRun) };
        if (action === 'renew') {
          if (!target) throw badFlag('NAME', 'is required: which CA to renew', 'e.g. kpki ca renew ca (or front-proxy-ca, etcd-ca)');
          const result = await renewCa({ ...common, name: target });
          output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderCaRenewResult(result));
          return 0;
        }
        if (action === 'rotate') {
          if (!target || !(ROTATE_STEPS as readonly string[]).includes(target)) throw badFlag('STEP', `"${target ?? ''}" is not one of ${ROTATE_STEPS.join(', ')}`, 'e.g. kpki ca rotate begin');
          const result = await rotateCa({
            ...common,
            step: target as RotateStep,
            cas: flags.ca === undefined ? undefined : listValue(flagList(flags.ca)),
            serviceAccount: Boolean(flags.serviceAccount),
            purge: Boolean(flags.purge),
          });
          output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderRotateResult(result));
          return result.halfApplied ? 1 : 0;
        }
        throw badFlag('action', `"${action}" is not renew or rotate`, 'e.g. kpki ca renew ca, kpki ca rotate begin');
      });
    });
}

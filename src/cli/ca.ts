import { badFlag } from '../errors.js';
import { ROTATE_STEPS, type RotateStep } from '../model/rotation.js';
import { defineCommand } from './command.js';
import { textStyles } from './output.js';
import { LAYOUT_FLAGS, layoutOptions } from './renew.js';

export const caCommand = defineCommand({
  usage: 'ca <action> [target]',
  description: `CA lifecycle: renew NAME (same key, new validity), rotate ${ROTATE_STEPS.join('|')} (new keys, overlapping trust)`,
  flags: [
    ...LAYOUT_FLAGS,
    'caLifetime',
    'caApiservice',
    'rotatedCas',
    'serviceAccount',
    'rotationKeyType',
    'purge',
    'shortenCa',
    'recoverRotation',
    'adminKubeconfig',
    'offline',
    'gateEtcdServers',
    'rotationLive',
    'liveTimeout',
    'dryRun',
  ],
  examples: [
    'kpki ca renew ca',
    'kpki ca renew etcd-ca --validity 5y',
    'kpki ca rotate begin --service-account   # then restart as printed, then: reissue, finish',
    'kpki ca rotate begin --service-account --key-type ecdsa-p384   # every key moves to ECDSA P-384 by finish',
    "kpki ca rotate status --live   # the next step's checks of the live cluster, without writing",
    'kpki ca rotate begin --offline   # node directories of an air-gapped cluster: no live checks',
  ],
  async run([action, target], flags, output) {
    const common = { ...layoutOptions(flags), validity: flags.caLifetime, apiServices: flags.caApiservice, dryRun: flags.dryRun };
    if (flags.rotationKeyType && !(action === 'rotate' && target === 'begin'))
      throw badFlag(
        '--key-type',
        'is for kpki ca rotate begin only',
        'a rotation keeps the algorithm its begin chose; kpki ca renew keeps the key',
      );
    if (action === 'renew') {
      if (!target) throw badFlag('NAME', 'is required: which CA to renew', 'e.g. kpki ca renew ca (or front-proxy-ca, etcd-ca)');
      const [{ renewCa }, { renderCaRenewResult }] = await Promise.all([import('../commands/ca-renew.js'), import('../render/day2.js')]);
      const result = await renewCa({ ...common, name: target, force: flags.shortenCa });
      for (const warning of result.warnings) output.stderr(`kpki: warning: ${warning}\n`);
      output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderCaRenewResult(result, await textStyles()));
      return 0;
    }
    if (action === 'rotate') {
      if (!target || !(ROTATE_STEPS as readonly string[]).includes(target))
        throw badFlag('STEP', `"${target ?? ''}" is not one of ${ROTATE_STEPS.join(', ')}`, 'e.g. kpki ca rotate begin');
      const gates = {
        offline: flags.offline,
        adminKubeconfig: flags.adminKubeconfig,
        etcdServers: flags.gateEtcdServers.length ? flags.gateEtcdServers : undefined,
        timeout: flags.liveTimeout,
        live: flags.rotationLive,
      };
      const [{ rotateCa }, { renderRotateResult }] = await Promise.all([import('../commands/rotate.js'), import('../render/day2.js')]);
      const result = await rotateCa({
        ...common,
        step: target as RotateStep,
        cas: flags.rotatedCas,
        serviceAccount: flags.serviceAccount,
        keyType: flags.rotationKeyType,
        purge: flags.purge,
        recover: flags.recoverRotation,
        gates,
      });
      output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderRotateResult(result, await textStyles()));
      return result.halfApplied || result.gates.report?.findings.length ? 1 : 0;
    }
    throw badFlag('action', `"${action}" is not renew or rotate`, 'e.g. kpki ca renew ca, kpki ca rotate begin');
  },
});

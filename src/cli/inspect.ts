import { badFlag } from '../errors.js';
import { inspect } from '../commands/inspect.js';
import { renderInspect } from '../render/inspect.js';
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

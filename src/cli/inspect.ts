import { badFlag } from '../errors.js';
import { defineCommand } from './command.js';
import { textStyles } from './output.js';

export const inspectCommand = defineCommand({
  usage: 'inspect [...paths]',
  description: 'Show what certificates, keys, CSRs, kubeconfigs or PKI directories really hold',
  flags: ['json'],
  examples: ['kpki inspect /etc/kubernetes/pki', 'kpki inspect ~/.kube/config apiserver.crt'],
  async run(paths, flags, output) {
    if (!paths.length) throw badFlag('PATH', 'give at least one file or directory to inspect');
    const [{ inspect }, { renderInspect }] = await Promise.all([import('../commands/inspect.js'), import('../render/inspect.js')]);
    const result = await inspect(paths);
    output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderInspect(result, await textStyles()));
    return 0;
  },
});

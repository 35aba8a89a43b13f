import kleur from 'kleur';
import { formatDuration } from '../spec/duration.js';
import type { InitAction, InitResult } from '../init/index.js';
import { table } from './table.js';

const ACTION_LABEL: Record<InitAction, string> = {
  create: kleur.green('create'),
  reuse: kleur.dim('reuse'),
  reissue: kleur.yellow('reissue'),
  complete: kleur.cyan('complete'),
  external: kleur.blue('external'),
  conflict: kleur.red('conflict'),
};

const PAST_TENSE: Partial<Record<InitAction, string>> = {
  create: kleur.green('created'),
  reuse: kleur.dim('reused'),
  reissue: kleur.yellow('reissued'),
  complete: kleur.cyan('completed'),
  external: kleur.blue('checked'),
};

/** The summary of a run: one row per entry, files and what happened to them. */
export function renderInitResult(result: InitResult): string {
  const header = result.dryRun
    ? `Plan for ${result.certDir} and ${result.kubeconfigDir} (profile ${result.profile}); nothing is written:`
    : `PKI in ${result.certDir}, kubeconfigs in ${result.kubeconfigDir} (profile ${result.profile}):`;
  const lines = [header];
  if (result.dryRun) {
    const rows = table(result.items.map((item) => [ACTION_LABEL[item.action], kleur.bold(item.name), item.files.join(', ')])).split('\n');
    for (const [index, item] of result.items.entries()) {
      lines.push(rows[index]!);
      const details = [
        item.subject && `subject ${item.subject}`,
        item.issuer && `issuer ${item.issuer}`,
        item.keyType && `key ${item.keyType}`,
        item.validitySeconds && `valid ${formatDuration(item.validitySeconds)}`,
      ].filter(Boolean);
      if (details.length) lines.push(`    ${details.join(', ')}`);
      if (item.sans?.length) lines.push(`    SANs ${item.sans.join(', ')}`);
      for (const reason of item.reasons) lines.push(`    ${kleur.dim('because')} ${reason}`);
    }
  } else {
    lines.push(table(result.items.map((i) => [`  ${PAST_TENSE[i.action] ?? ACTION_LABEL[i.action]}`, i.name, i.files.join(', ')])));
    if (!result.changed) lines.push(kleur.dim('Everything already matched the settings; no file was changed.'));
  }
  return `${lines.join('\n')}\n`;
}

import kleur from 'kleur';
import type { Restart } from '../day2/restart.js';
import type { RenewResult } from '../day2/renew.js';
import { table } from './table.js';

/** The restart plan as numbered steps, or a line saying none is needed. */
export function renderRestarts(restart: Restart[], extra: string[] = []): string {
  if (!restart.length && !extra.length) return 'No component reads the changed files: nothing to restart.\n';
  const lines = ['Restart, one at a time, waiting for each to be ready before the next:'];
  restart.forEach((r, i) => lines.push(`  ${i + 1}. ${kleur.bold(r.node)}: ${r.component}`));
  for (const line of extra) lines.push(`  ${line}`);
  return `${lines.join('\n')}\n`;
}

const LABEL = { renew: kleur.yellow('renew'), copy: kleur.cyan('copy'), csr: kleur.blue('csr') };

export function renderRenewResult(result: RenewResult): string {
  if (result.resumed) return `Completed the interrupted "${result.resumed}" run; nothing new was started.\n${renderRestarts(result.restart)}`;
  const header = result.dryRun ? 'Would renew (nothing is written):' : 'Renewed:';
  const rows = result.items.map((i) => [LABEL[i.action], i.node ?? 'shared', kleur.bold(i.name), i.files.join(', '), i.notAfter ? `until ${i.notAfter}` : '']);
  const lines = [header, table(rows)];
  if (result.items.some((i) => i.action === 'csr')) lines.push('Have the external CA sign each .csr, then put the certificate and the new key in place of the old ones.');
  if (result.remembered) lines.push(`Remembered in ${result.remembered.file}: ${Object.entries(result.remembered.sans).map(([k, v]) => `${k}=${v!.join(',')}`).join(' ')}`);
  return `${lines.join('\n')}\n${renderRestarts(result.restart)}`;
}

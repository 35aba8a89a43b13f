import kleur from 'kleur';
import { restartLine, type Restart } from '../plan/restart.js';
import type { CaRenewResult } from '../plan/ca-renewal.js';
import type { RenewResult } from '../plan/renew.js';
import type { RotateCaResult } from '../commands/rotate.js';
import { table } from './table.js';

const resumedLine = (files: string[]) =>
  `Completed an interrupted run (${files.length} file(s)); nothing new was started: run the command again if you meant a new change.`;

/** The restart plan as numbered steps, or a line saying none is needed. */
export function renderRestarts(restart: Restart[], extra: string[] = []): string {
  if (!restart.length && !extra.length) return 'No component reads the changed files: nothing to restart.\n';
  const lines = ['Restart, one at a time, waiting for each to be ready before the next:'];
  restart.forEach((r, i) => lines.push(`  ${i + 1}. ${restartLine(r, kleur.bold)}`));
  for (const line of extra) lines.push(`  - ${line}`);
  return `${lines.join('\n')}\n`;
}

const LABEL = { renew: kleur.yellow('renew'), copy: kleur.cyan('copy'), csr: kleur.blue('csr') };

export function renderRenewResult(result: RenewResult): string {
  if (result.resumed) return `${resumedLine(result.resumed)}\n${renderRestarts(result.restart)}`;
  const header = result.dryRun ? 'Would renew (nothing is written):' : 'Renewed:';
  const rows = result.items.map((i) => [
    LABEL[i.action],
    i.node ?? 'shared',
    kleur.bold(i.name),
    i.files.join(', '),
    i.notAfter ? `until ${i.notAfter}` : '',
  ]);
  const lines = [header, table(rows)];
  if (result.items.some((i) => i.action === 'csr'))
    lines.push('Have the external CA sign each .csr, then put the certificate and the new key in place of the old ones.');
  if (result.remembered)
    lines.push(
      `Remembered in ${result.remembered.file}: ${Object.entries(result.remembered.sans)
        .map(([k, v]) => `${k}=${v!.join(',')}`)
        .join(' ')}`,
    );
  return `${lines.join('\n')}\n${renderRestarts(result.restart)}`;
}

export function renderCaRenewResult(result: CaRenewResult): string {
  if (result.resumed) return `${resumedLine(result.resumed)}\n${renderRestarts(result.restart)}`;
  const lines = [
    result.dryRun
      ? `Would re-certify ${result.ca} with the same key and subject, valid until ${result.notAfter}; files that would change:`
      : `Re-certified ${result.ca} with the same key and subject, valid until ${result.notAfter}; updated:`,
    ...result.files.map((f) => `  ${f}`),
  ];
  return `${lines.join('\n')}\n${renderRestarts(result.restart, result.notes)}`;
}

/** What the live gates found, or why they did not run. */
export function renderGates(gates: RotateCaResult['gates']): string {
  const { report } = gates;
  if (!report) return gates.note ? `${kleur.yellow(gates.note)}\n` : '';
  const timing = Object.entries(report.timings)
    .map(([what, ms]) => `${what} ${ms} ms`)
    .join(', ');
  if (!report.findings.length)
    return `${kleur.green(`Live gates of ${report.step === 'status' ? 'the next step' : report.step} (phase ${report.phase}): every check passed`)} (${timing})\n`;
  const rows = report.findings.map((f) => [kleur.red(f.code), f.subject, `${f.diagnosis}; fix: ${f.fix}`]);
  return `Live gates of ${report.step === 'status' ? 'the next step' : report.step} (phase ${report.phase}): ${kleur.red(`${report.findings.length} finding(s)`)}\n${table(rows)}\n`;
}

export function renderRotateResult(result: RotateCaResult): string {
  return `${renderRotation(result)}${renderGates(result.gates)}`;
}

function renderRotation(result: RotateCaResult): string {
  if (result.status) {
    if (result.phase === 'none') return 'No CA rotation is under way.\n';
    const rows = result.status.map((f) => [
      f.node ?? 'shared',
      f.file,
      f.state === f.expected ? kleur.green(f.state) : kleur.red(`${f.state} (want ${f.expected})`),
    ]);
    const verdict = result.halfApplied
      ? kleur.red('some files lag behind the phase: rerun the step that led here')
      : kleur.green('every file is where the phase wants it');
    const keyType = result.keyType ? `; every key moves to ${kleur.bold(result.keyType)}` : '';
    return `Rotation of ${[...result.cas, ...(result.serviceAccount ? ['service-account key'] : [])].join(', ')}: phase ${kleur.bold(result.phase)}${keyType}\n${table(rows)}\n${verdict}\n`;
  }
  const head = result.resumed
    ? resumedLine(result.resumed)
    : `${result.dryRun ? 'Would change' : 'Changed'} ${result.files.length} file(s); rotation phase now: ${kleur.bold(result.phase)}.`;
  return `${head}\n${renderRestarts(result.restart, result.notes)}`;
}

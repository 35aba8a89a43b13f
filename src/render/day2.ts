import { restartLine, type Restart } from '../plan/restart.js';
import type { CaRenewResult } from '../plan/ca-renewal.js';
import type { RenewResult } from '../plan/renew.js';
import type { RotateCaResult } from '../commands/rotate.js';
import { PLAIN, type Styles } from './styles.js';
import { table } from './table.js';

const resumedLine = (files: string[]) =>
  `Completed an interrupted run (${files.length} file(s)); nothing new was started: run the command again if you meant a new change.`;

/** The restart plan as numbered steps, or a line saying none is needed. */
export function renderRestarts(restart: Restart[], extra: string[] = [], style: Styles = PLAIN): string {
  if (!restart.length && !extra.length) return 'No component reads the changed files: nothing to restart.\n';
  const lines = ['Restart, one at a time, waiting for each to be ready before the next:'];
  restart.forEach((r, i) => lines.push(`  ${i + 1}. ${restartLine(r, style.bold)}`));
  for (const line of extra) lines.push(`  - ${line}`);
  return `${lines.join('\n')}\n`;
}

const LABEL_STYLE = { renew: 'yellow', copy: 'cyan', csr: 'blue' } as const;

export function renderRenewResult(result: RenewResult, style: Styles = PLAIN): string {
  if (result.resumed) return `${resumedLine(result.resumed)}\n${renderRestarts(result.restart, [], style)}`;
  const header = result.dryRun ? 'Would renew (nothing is written):' : 'Renewed:';
  const rows = result.items.map((i) => [
    style[LABEL_STYLE[i.action]](i.action),
    i.node ?? 'shared',
    style.bold(i.name),
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
  return `${lines.join('\n')}\n${renderRestarts(result.restart, [], style)}`;
}

export function renderCaRenewResult(result: CaRenewResult, style: Styles = PLAIN): string {
  if (result.resumed) return `${resumedLine(result.resumed)}\n${renderRestarts(result.restart, [], style)}`;
  const lines = [
    result.dryRun
      ? `Would re-certify ${result.ca} with the same key and subject, valid until ${result.notAfter}; files that would change:`
      : `Re-certified ${result.ca} with the same key and subject, valid until ${result.notAfter}; updated:`,
    ...result.files.map((f) => `  ${f}`),
  ];
  return `${lines.join('\n')}\n${renderRestarts(result.restart, result.notes, style)}`;
}

/** What the live gates found, or why they did not run. */
export function renderGates(gates: RotateCaResult['gates'], style: Styles = PLAIN): string {
  const { report } = gates;
  if (!report) return gates.note ? `${style.yellow(gates.note)}\n` : '';
  const timing = Object.entries(report.timings)
    .map(([what, ms]) => `${what} ${ms} ms`)
    .join(', ');
  if (!report.findings.length)
    return `${style.green(`Live gates of ${report.step === 'status' ? 'the next step' : report.step} (phase ${report.phase}): every check passed`)} (${timing})\n`;
  const rows = report.findings.map((f) => [style.red(f.code), f.subject, `${f.diagnosis}; fix: ${f.fix}`]);
  return `Live gates of ${report.step === 'status' ? 'the next step' : report.step} (phase ${report.phase}): ${style.red(`${report.findings.length} finding(s)`)}\n${table(rows)}\n`;
}

export function renderRotateResult(result: RotateCaResult, style: Styles = PLAIN): string {
  return `${renderRotation(result, style)}${renderGates(result.gates, style)}`;
}

function renderRotation(result: RotateCaResult, style: Styles): string {
  if (result.status) {
    if (result.phase === 'none') return 'No CA rotation is under way.\n';
    const rows = result.status.map((f) => [
      f.node ?? 'shared',
      f.file,
      f.state === f.expected ? style.green(f.state) : style.red(`${f.state} (want ${f.expected})`),
    ]);
    const verdict = result.halfApplied
      ? style.red('some files lag behind the phase: rerun the step that led here')
      : style.green('every file is where the phase wants it');
    const keyType = result.keyType ? `; every key moves to ${style.bold(result.keyType)}` : '';
    return `Rotation of ${[...result.cas, ...(result.serviceAccount ? ['service-account key'] : [])].join(', ')}: phase ${style.bold(result.phase)}${keyType}\n${table(rows)}\n${verdict}\n`;
  }
  const head = result.resumed
    ? resumedLine(result.resumed)
    : `${result.dryRun ? 'Would change' : 'Changed'} ${result.files.length} file(s); rotation phase now: ${style.bold(result.phase)}.`;
  return `${head}\n${renderRestarts(result.restart, result.notes, style)}`;
}

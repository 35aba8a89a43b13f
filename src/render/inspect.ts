import type { ExpirationReport, ExpirationRow } from '../inspect/expiration-report.js';
import type { InspectResult } from '../inspect/material.js';
import { formatDuration } from '../model/duration.js';
import { PLAIN, type Styles } from './styles.js';
import { table } from './table.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** kubeadm's `Jan 02, 2006 15:04 MST`, in UTC. */
export function kubeadmDate(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())}, ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

const left = (seconds: number, style: Styles) =>
  seconds < 0
    ? style.red(`expired ${formatDuration(-seconds)} ago`)
    : seconds < 30 * 86400
      ? style.yellow(formatDuration(seconds))
      : formatDuration(seconds);

export function renderInspect(result: InspectResult, style: Styles = PLAIN): string {
  const lines: string[] = [];
  for (const item of result.items) {
    lines.push(style.bold(item.file));
    switch (item.kind) {
      case 'certificate':
        lines.push(
          `  certificate  CN=${item.commonName}${item.organizations.length ? `, O=${item.organizations.join('+')}` : ''}${item.isCA ? style.cyan(' (CA)') : ''}`,
          `  issuer       ${item.issuer}${item.signedBy ? ` (signed by ${item.signedBy})` : style.yellow(' (signer not in the inspected set)')}`,
          ...(item.sans.length ? [`  SANs         ${item.sans.join(', ')}`] : []),
          `  key          ${item.key}, ${item.keyFile ? `matching key ${item.keyFile}` : 'no matching key in the set'}`,
          `  usages       ${[...item.keyUsages, ...item.extKeyUsages].join(', ') || '-'}${item.pathLength !== undefined ? `, pathlen ${item.pathLength}` : ''}`,
          `  serial       ${item.serialNumber}, signed ${item.signatureAlgorithm}`,
          `  valid        ${item.notBefore} to ${item.notAfter} (${left(item.secondsLeft, style)})`,
        );
        break;
      case 'private-key':
      case 'public-key':
        lines.push(
          `  ${item.kind}  ${item.key}${item.certificates.length ? `, used by ${item.certificates.join(', ')}` : ', no certificate in the set'}`,
        );
        break;
      case 'csr':
        lines.push(
          `  csr          ${item.subject}, ${item.key}${item.sans.length ? `, SANs ${item.sans.join(', ')}` : ''}${item.signatureValid ? '' : style.red(' (bad signature)')}`,
        );
        break;
      case 'kubeconfig':
        lines.push(`  kubeconfig   context ${item.context}: user ${item.user} → cluster ${item.cluster} at ${item.server}`);
        break;
    }
  }
  for (const problem of result.problems) lines.push(`${style.red('problem')} ${problem.file}: ${problem.message}`);
  return `${lines.join('\n')}\n`;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

function expirationRows(rows: ExpirationRow[], withAuthority: boolean, style: Styles): string[][] {
  return rows.map((r) =>
    r.missing
      ? [`!MISSING! ${r.name}`]
      : [
          r.name,
          kubeadmDate(r.notAfter!),
          left(r.secondsLeft!, style),
          ...(withAuthority ? [r.authority] : []),
          yesNo(r.externallyManaged),
        ],
  );
}

/** kubeadm's two tables: certificates, then certificate authorities. */
export function renderExpiration(report: ExpirationReport, style: Styles = PLAIN): string {
  return `${table([
    ['CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'EXTERNALLY MANAGED'],
    ...expirationRows(report.certificates, true, style),
  ])}\n\n${table([['CERTIFICATE AUTHORITY', 'EXPIRES', 'RESIDUAL TIME', 'EXTERNALLY MANAGED'], ...expirationRows(report.authorities, false, style)])}\n`;
}

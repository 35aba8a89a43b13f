import type { VerifyResult } from '../verify/options.js';
import type { Severity } from '../verify/findings.js';
import { PLAIN, type Styles } from './styles.js';

const severityLabel = (severity: Severity, style: Styles): string =>
  severity === 'error' ? style.red(style.bold('ERROR')) : severity === 'warning' ? style.yellow('WARN') : style.blue('INFO');

/** One block per finding: what breaks, why, and how to fix it; then a count. A whole-cluster run: one section per directory. */
export function renderVerifyResult(result: VerifyResult, style: Styles = PLAIN): string {
  if (!result.locations) return renderFindings(result, style);
  const sections = result.locations.map((l) => `${style.bold(`== ${l.name}`)} (${l.role}) ${l.dir}\n${renderFindings(l, style)}`);
  const { error, warning, info } = result.counts;
  const total = error + warning + info ? `${error} error(s), ${warning} warning(s), ${info} note(s)` : style.green('No problems found');
  return `${sections.join('\n')}\n${total} in ${result.locations.length} location(s) of the cluster.\n`;
}

function renderFindings(result: Pick<VerifyResult, 'findings' | 'counts' | 'checked'>, style: Styles): string {
  const lines: string[] = [];
  for (const f of result.findings) {
    const compliance = f.compliance ? style.dim(` [${f.compliance.benchmark} ${f.compliance.id}]`) : '';
    lines.push(`${severityLabel(f.severity, style)} ${style.bold(f.code)} ${f.subject}${compliance}`);
    if (f.symptom) lines.push(`  symptom:   ${f.symptom}`);
    lines.push(`  diagnosis: ${f.diagnosis}`);
    lines.push(`  fix:       ${f.fix}`);
  }
  const { error, warning, info } = result.counts;
  const { components, kubeconfigs, apiServices, contexts } = result.checked;
  const checked = contexts
    ? `${kubeconfigs.length} kubeconfig(s), ${contexts.length} context(s)`
    : `${Object.keys(components).length} component(s), ${kubeconfigs.length} kubeconfig(s)${apiServices.length ? `, ${apiServices.length} APIService(s)` : ''}`;
  lines.push(
    result.findings.length
      ? `${error} error(s), ${warning} warning(s), ${info} note(s) in ${checked}`
      : style.green(`No problems found in ${checked}.`),
  );
  return `${lines.join('\n')}\n`;
}

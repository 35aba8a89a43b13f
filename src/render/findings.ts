import kleur from 'kleur';
import type { VerifyResult } from '../verify/options.js';
import type { Severity } from '../verify/findings.js';

const SEVERITY_LABEL: Record<Severity, string> = {
  error: kleur.red().bold('ERROR'),
  warning: kleur.yellow('WARN'),
  info: kleur.blue('INFO'),
};

/** One block per finding: what breaks, why, and how to fix it; then a count. A whole-cluster run: one section per directory. */
export function renderVerifyResult(result: VerifyResult): string {
  if (!result.locations) return renderFindings(result);
  const sections = result.locations.map((l) => `${kleur.bold(`== ${l.name}`)} (${l.role}) ${l.dir}\n${renderFindings(l)}`);
  const { error, warning, info } = result.counts;
  const total = error + warning + info ? `${error} error(s), ${warning} warning(s), ${info} note(s)` : kleur.green('No problems found');
  return `${sections.join('\n')}\n${total} in ${result.locations.length} location(s) of the cluster.\n`;
}

function renderFindings(result: Pick<VerifyResult, 'findings' | 'counts' | 'checked'>): string {
  const lines: string[] = [];
  for (const f of result.findings) {
    lines.push(`${SEVERITY_LABEL[f.severity]} ${kleur.bold(f.code)} ${f.subject}`);
    if (f.symptom) lines.push(`  symptom:   ${f.symptom}`);
    lines.push(`  diagnosis: ${f.diagnosis}`);
    lines.push(`  fix:       ${f.fix}`);
  }
  const { error, warning, info } = result.counts;
  const { components, kubeconfigs, apiServices } = result.checked;
  const checked = `${Object.keys(components).length} component(s), ${kubeconfigs.length} kubeconfig(s)${apiServices.length ? `, ${apiServices.length} APIService(s)` : ''}`;
  lines.push(
    result.findings.length
      ? `${error} error(s), ${warning} warning(s), ${info} note(s) in ${checked}`
      : kleur.green(`No problems found in ${checked}.`),
  );
  return `${lines.join('\n')}\n`;
}

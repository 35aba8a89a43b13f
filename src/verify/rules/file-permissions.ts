import path from 'node:path';
import { certificateFileModes, NEWEST_BENCHMARK, type Benchmark } from '../benchmarks.js';
import type { FileFact } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding } from '../rule.js';
import { KUBECONFIG_CIS } from '../../model/kubeadm-files.js';

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const isKey = (f: FileFact) => f.readAs.has('tls-key') || f.readAs.has('private-key');
const readableBy = (mode: number) => (mode & 0o007 ? 'everyone' : 'its group');

function modeFinding(f: FileFact, benchmark: Benchmark | undefined): Finding | undefined {
  const mode = f.mode!;
  if (isKey(f)) {
    if ((mode & 0o077) === 0) return undefined;
    return finding({
      code: FindingCode.KeyPermissions,
      severity: 'warning',
      subject: f.name,
      symptom: '',
      diagnosis: `private key ${f.name} is readable by ${readableBy(mode)} (mode ${octal(mode)})`,
      fix: `chmod 600 ${f.name}`,
      files: [f.name],
      cis: '1.1.21',
    });
  }
  if (f.readAs.has('kubeconfig')) {
    if ((mode & 0o077) === 0) return undefined;
    return finding({
      code: FindingCode.KubeconfigPermissions,
      severity: 'warning',
      subject: f.name,
      symptom: '',
      diagnosis: `kubeconfig ${f.name} is open to ${mode & 0o066 ? readableBy(mode) : 'others'} (mode ${octal(mode)}); it holds a client key that authenticates to the apiserver`,
      fix: `chmod 600 ${f.name}`,
      files: [f.name],
      cis: KUBECONFIG_CIS[path.basename(f.name)]?.[0],
    });
  }
  const allowed = certificateFileModes(benchmark);
  if ((mode & ~allowed) === 0) return undefined;
  // Beyond 0644 anyone may replace the trust it carries; between 0600 and 0644 only the benchmark objects.
  const why =
    mode & ~0o644
      ? 'others may replace the trust it carries'
      : `${benchmark ?? NEWEST_BENCHMARK} asks for ${octal(allowed)} or more restrictive`;
  return finding({
    code: FindingCode.CertPermissions,
    severity: 'warning',
    subject: f.name,
    symptom: '',
    diagnosis: `certificate file ${f.name} has mode ${octal(mode)}, more open than ${octal(allowed)}: ${why}`,
    fix: `chmod ${allowed.toString(8)} ${f.name}`,
    files: [f.name],
    cis: '1.1.20',
  });
}

/** Rule: CIS file permissions and ownership for every file read — certificates, keys, kubeconfigs. */
export const filePermissions = defineRule({
  id: 'file-permissions',
  codes: [FindingCode.KeyPermissions, FindingCode.CertPermissions, FindingCode.KubeconfigPermissions, FindingCode.FileOwnership],
  check(facts) {
    const files = [...facts.files.values()].filter((f) => f.data && f.mode !== undefined);
    const out = files.map((f) => modeFinding(f, facts.benchmark)).filter((f): f is Finding => Boolean(f));
    // Ownership: one finding per CIS recommendation, naming every file not owned by root:root.
    const notRoot = new Map<string, string[]>();
    for (const f of files.filter((f) => f.uid !== 0 || f.gid !== 0)) {
      const cis = f.readAs.has('kubeconfig') ? (KUBECONFIG_CIS[path.basename(f.name)]?.[1] ?? '') : '1.1.19';
      notRoot.set(cis, [...(notRoot.get(cis) ?? []), f.name]);
    }
    for (const [cis, names] of notRoot) {
      out.push(
        finding({
          code: FindingCode.FileOwnership,
          severity: 'warning',
          subject: names.length === 1 ? names[0]! : `${names.length} files`,
          symptom: '',
          diagnosis: `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not owned by root:root: their owner can replace the cluster's credentials or trust`,
          fix: `chown root:root ${names.join(' ')}`,
          files: names,
          cis: cis || undefined,
        }),
      );
    }
    return out;
  },
});

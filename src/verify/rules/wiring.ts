import { DEFAULTS } from '../../model/defaults.js';
import path from 'node:path';
import { kubeadmValue, type FlagNeed, type WiredFlag } from '../../model/flags.js';
import { flagSubject, type Facts } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { BINARIES, controllerEnabled, flag, flagList, type ComponentArgs } from '../inputs/args.js';
import { KNOWN_FLAGS } from '../known-flags.js';
import { defineRule, finding } from '../rule.js';

const NEEDED: Record<FlagNeed, (args: ComponentArgs, issued: string | undefined, facts: Facts) => boolean> = {
  always: () => true,
  'https-etcd': (args) => flagList(args, 'etcd-servers').some((url) => url.startsWith('https://')),
  'proxy-client': (args) => Boolean(flag(args, 'proxy-client-cert-file')),
  'multi-member': (args) => flagList(args, 'initial-cluster').length > 1,
  // With csrsigning off (a CA key in a PKCS#11 token: kpki signer signs) no signing file is read.
  'one-signer': (args) =>
    controllerEnabled(args, 'csrsigning') &&
    ![...args.flags.keys()].some((name) => /^cluster-signing-.+-cert-file$/.test(name) && name !== 'cluster-signing-cert-file'),
  issued: (_, file, facts) => file !== undefined && facts.inputs.pkiFiles.includes(file),
};

const NEED_REASON: Record<Exclude<FlagNeed, 'always'>, string> = {
  'https-etcd': '--etcd-servers is https',
  'proxy-client': '--proxy-client-cert-file is set',
  'multi-member': '--initial-cluster has several members',
  'one-signer': 'the csrsigning controller runs and no per-signer --cluster-signing-*-cert-file is set',
  issued: 'the PKI holds the file it names',
};

/** Levenshtein distance, for naming the flag a misspelled one was meant to be. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = current;
  }
  return previous[b.length]!;
}

/** The known flag closest to `name`, when it is a near miss (a typo, not another flag). */
export function closestFlag(name: string, known: ReadonlySet<string>): string | undefined {
  let best: [string, number] | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best[1]) best = [candidate, distance];
  }
  return best && best[1] <= Math.min(2, Math.floor(name.length / 4)) ? best[0] : undefined;
}

/** A flags file takes one more line; a manifest a list entry; other origins (stdin) get the flag to add. */
function addFlagFix(origin: string, flagText: string): string {
  if (/\.(ya?ml|json)$/.test(origin)) return `add "- ${flagText}" to the container command in ${origin}`;
  if (origin === 'stdin' || origin.startsWith("kubeadm's")) return `add ${flagText} to the component's flags`;
  // A leading newline in case the file does not end with one.
  return `printf '\\n%s\\n' '${flagText}' >> ${origin}`;
}

function missingFlags(facts: Facts, args: ComponentArgs): Finding[] {
  if (args.component === 'kubelet') return [];
  const certDir = facts.certDir ?? DEFAULTS.nodeCertDir;
  const valueOf = (wired: WiredFlag) => kubeadmValue(wired, certDir, path.dirname(certDir));
  return facts.inputs.wiring[args.component]
    .filter((wired) => wired.need && NEEDED[wired.need](args, valueOf(wired), facts) && !flag(args, wired.name))
    .map((wired) => {
      const value = valueOf(wired);
      return finding({
        code: wired.need === 'proxy-client' ? FindingCode.RequestHeaderIncomplete : FindingCode.FlagMissing,
        // An issued certificate left unused: the component still runs, on a certificate nobody can verify.
        severity: wired.need === 'issued' ? 'warning' : 'error',
        subject: flagSubject(args, wired.name),
        symptom: wired.breaks ?? '',
        diagnosis: `${args.origin} has no --${wired.name}${wired.need === 'always' ? '' : ` (needed: ${NEED_REASON[wired.need!]})`}`,
        fix: addFlagFix(args.origin, value === undefined ? `--${wired.name}` : `--${wired.name}=${value}`),
        files: [args.origin],
        cis: wired.cis,
      });
    });
}

function unknownFlags(args: ComponentArgs): Finding[] {
  if (args.component === 'kubelet') return [];
  const known = KNOWN_FLAGS[args.component];
  return [...args.flags.keys()]
    .filter((name) => !known.has(name))
    .map((name) => {
      const closest = closestFlag(name, known);
      return finding({
        code: FindingCode.FlagUnknown,
        severity: closest ? 'error' : 'info',
        subject: flagSubject(args, name),
        symptom: closest ? `Error: unknown flag: --${name}` : '',
        diagnosis: closest
          ? `--${name} is not a ${BINARIES[args.component]} flag; it looks like a misspelling of --${closest}, and the component refuses to start`
          : `--${name} is not a flag of ${BINARIES[args.component]} v1.20 (it may be newer; older versions refuse to start with "unknown flag")`,
        fix: closest
          ? `sed -i 's/--${name}\\b/--${closest}/' ${args.origin}`
          : `check --${name} against \`${BINARIES[args.component]} --help\` for your version`,
        files: [args.origin],
      });
    });
}

/** Rule: every flag the PKI needs is there, every flag is one the component knows, and the apiserver verifies kubelets (CIS 1.2.6). */
export const wiring = defineRule({
  id: 'wiring',
  codes: [FindingCode.FlagMissing, FindingCode.RequestHeaderIncomplete, FindingCode.FlagUnknown, FindingCode.KubeletCaUnset],
  check(facts) {
    // Flags kpki assumed (kubeadm's, for a bare cert dir) are complete by construction.
    if (facts.assumedFlags) return [];
    const { apiserver, etcd, controllerManager, scheduler } = facts.inputs;
    const present = [apiserver, etcd, controllerManager, scheduler].filter((a): a is ComponentArgs => Boolean(a));
    const out = present.flatMap((args) => [...unknownFlags(args), ...missingFlags(facts, args)]);
    if (apiserver && !flag(apiserver, 'kubelet-certificate-authority')) {
      out.push(
        finding({
          code: FindingCode.KubeletCaUnset,
          severity: 'warning',
          subject: flagSubject(apiserver, 'kubelet-certificate-authority'),
          symptom: '',
          diagnosis:
            "kube-apiserver does not verify the kubelets' serving certificates: whoever answers on a node's port 10250 receives kubectl exec/logs traffic and the apiserver's kubelet client credentials",
          fix: 'give the kubelets serving certificates from a CA (serverTLSBootstrap: true, or kpki init --kubelet-serving-certs), then set --kubelet-certificate-authority to that CA',
          files: [apiserver.origin],
          cis: '1.2.6',
        }),
      );
    }
    return out;
  },
});

import { badFlag } from '../errors.js';
import { DEFAULTS } from '../model/defaults.js';
import { parseDuration } from '../model/duration.js';
import { SERVED_SIGNERS } from '../plan/csr-signing.js';
import { defineCommand } from './command.js';
import { pinSource } from './pin.js';

export const signerCommand = defineCommand({
  usage: 'signer',
  description:
    "Sign approved CSRs with the cluster CA (its key in a file or a PKCS#11 token), as kube-controller-manager's csrsigning controller does; never approves",
  flags: ['signerKubeconfig', 'signerNames', 'signingDuration', 'watchSigning', 'certDir', 'pkcs11Module', 'pinFile', 'json'],
  examples: [
    'KPKI_PKCS11_PIN=… kpki signer --kubeconfig /etc/kubernetes/admin.conf --cert-dir /etc/kubernetes/pki --watch',
    'kpki signer --kubeconfig admin.conf --signer kubernetes.io/kube-apiserver-client',
  ],
  async run(_args, flags, output) {
    const signers = flags.signerNames.length ? flags.signerNames : SERVED_SIGNERS;
    const unknown = signers.filter((s) => !SERVED_SIGNERS.includes(s));
    if (unknown.length) throw badFlag('--signer', `kpki does not serve ${unknown.join(', ')}`, `use ${SERVED_SIGNERS.join(', ')}`);
    if (!flags.signerKubeconfig)
      throw badFlag(
        '--kubeconfig',
        'is required: the kubeconfig to reach the cluster with',
        'e.g. --kubeconfig /etc/kubernetes/admin.conf',
      );
    const durationSeconds = parseDuration(flags.signingDuration ?? DEFAULTS.certValidity)!;
    const { loadCa } = await import('../issue/leaf.js');
    const ca = await loadCa('cluster', flags.certDir ?? DEFAULTS.certDir, {
      needKey: true,
      token: { pin: pinSource(flags.pinFile), pkcs11Module: flags.pkcs11Module },
    });
    const watching = new AbortController();
    const stop = () => watching.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const { runSigner } = await import('../live/signer.js');
      const outcomes = await runSigner({
        kubeconfig: flags.signerKubeconfig,
        signers,
        ca: { key: ca.key!, certificate: ca.cert },
        durationSeconds,
        watch: flags.watchSigning,
        signal: watching.signal,
        report: (line) => (flags.json ? undefined : output.stdout(`${line}\n`)),
      });
      if (flags.json) output.stdout(`${JSON.stringify(outcomes, null, 2)}\n`);
      else if (!outcomes.length) output.stderr('kpki: no approved CSR to sign\n');
      return outcomes.some((o) => o.result === 'error') ? 1 : 0;
    } finally {
      ca.release?.();
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    }
  },
});

import { certificateFacts } from '../../pki/certificate.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import { flag, type ComponentArgs } from '../inputs.js';
import type { ClusterInputs } from '../model.js';
import { flagSubject } from './common.js';

/** Flags that name CA bundles: every certificate in them must be able to sign. */
const CA_FLAGS: Record<ComponentArgs['component'], string[]> = {
  apiserver: ['client-ca-file', 'requestheader-client-ca-file', 'etcd-cafile', 'kubelet-certificate-authority'],
  etcd: ['trusted-ca-file', 'peer-trusted-ca-file'],
  'controller-manager': ['client-ca-file', 'requestheader-client-ca-file', 'root-ca-file', 'cluster-signing-cert-file'],
  scheduler: ['client-ca-file', 'requestheader-client-ca-file'],
  kubelet: [],
};

export async function checkCaBundle(ctx: VerifyContext, file: string, label: string): Promise<void> {
  const certs = await ctx.certificates(file, label);
  for (const cert of certs ?? []) {
    const facts = certificateFacts(cert);
    const problem = !facts.isCA ? 'is not a CA (BasicConstraints CA:TRUE missing)' : facts.keyUsages && !facts.keyUsages.includes('keyCertSign') ? 'lacks KeyUsage keyCertSign' : undefined;
    if (!problem) continue;
    ctx.report({
      code: FindingCode.NotCa,
      severity: 'error',
      subject: label,
      symptom: `x509: certificate signed by unknown authority (possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "${facts.commonName}")`,
      diagnosis: `${file} holds "${facts.commonName}", which ${problem}; nothing can be verified against it`,
      fix: `point ${label} at the CA certificate (e.g. ca.crt), not a leaf`,
      files: [file],
    });
  }
}

/** Rule: CA flags name CA certificates. */
export async function caFilesAreCas(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  for (const args of [inputs.apiserver, inputs.etcd, inputs.controllerManager, inputs.scheduler]) {
    if (!args) continue;
    for (const name of CA_FLAGS[args.component]) {
      const file = flag(args, name);
      if (file) await checkCaBundle(ctx, file, flagSubject(args, name));
    }
  }
  if (inputs.kubelet?.clientCAFile) await checkCaBundle(ctx, inputs.kubelet.clientCAFile, 'kubelet clientCAFile');
}

import { badFlag } from '../errors.js';
import { DEFAULTS } from '../model/defaults.js';
import { defineCommand } from './command.js';
import { pinSource } from './pin.js';

export const certCommand = defineCommand({
  usage: 'cert <kind>',
  description: 'Issue one certificate: issue (any leaf) or extension-apiserver (serving cert + caBundle + APIService)',
  flags: [
    'leafRole',
    'cn',
    'org',
    'san',
    'signingCa',
    'caKey',
    'service',
    'namespace',
    'apiGroup',
    'apiVersion',
    'dnsDomain',
    'certDir',
    'certOut',
    'leafValidity',
    'leafKeyType',
    'overwrite',
    'json',
    'pkcs11Module',
    'pinFile',
  ],
  examples: [
    'kpki cert issue --profile server --cn registry --san registry.example.com,10.0.0.5 --ca cluster --out registry',
    'kpki cert extension-apiserver --service metrics-server --namespace kube-system --api-group metrics.k8s.io --api-version v1beta1 --out metrics-server',
  ],
  async run([kind], flags, output) {
    if (kind !== 'issue' && kind !== 'extension-apiserver')
      throw badFlag('cert', `unknown subcommand "${kind}": use issue or extension-apiserver`, 'see kpki cert --help');
    const out = flags.certOut;
    if (!out) throw badFlag('--out', 'is required: the prefix of the files to write');
    const token = { pin: pinSource(flags.pinFile), pkcs11Module: flags.pkcs11Module };
    const common = { out, certDir: flags.certDir, validity: flags.leafValidity, keyType: flags.leafKeyType, force: flags.overwrite, token };
    const { issueCertificateFiles, issueExtensionApiserver } = await import('../issue/extension.js');
    let result: { files: string[]; warnings?: string[] };
    if (kind === 'issue') {
      result = await issueCertificateFiles({
        ...common,
        role: flags.leafRole ?? '',
        commonName: flags.cn ?? '',
        organizations: flags.org,
        sans: flags.san,
        ca: flags.signingCa ?? DEFAULTS.issueCa,
        caKey: flags.caKey,
      });
    } else {
      const ca = flags.signingCa ?? DEFAULTS.extensionApiserverCa;
      if (ca !== 'new' && ca !== 'cluster') throw badFlag('--ca', `"${ca}" is not new or cluster`);
      result = await issueExtensionApiserver({
        ...common,
        ca,
        service: flags.service ?? '',
        namespace: flags.namespace ?? '',
        apiGroup: flags.apiGroup,
        apiVersion: flags.apiVersion,
        dnsDomain: flags.dnsDomain,
      });
    }
    for (const warning of result.warnings ?? []) output.stderr(`kpki: warning: ${warning}\n`);
    output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.files.join('\n')}\n`);
    return 0;
  },
});

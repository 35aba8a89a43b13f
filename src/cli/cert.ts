import type { CAC } from 'cac';
import { badFlag } from '../errors.js';
import { issueCertificateFiles, issueExtensionApiserver, LEAF_ROLES } from '../issue/extension.js';
import { listValue } from '../model/settings.js';
import { flagString, type Output, type Runner } from './output.js';


export function registerCert(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('cert <kind>', 'Issue one certificate: issue (any leaf) or extension-apiserver (serving cert + caBundle + APIService)')
    .option('--profile <role>', `For issue: ${Object.keys(LEAF_ROLES).join(', ')}`)
    .option('--cn <name>', 'For issue: subject common name')
    .option('--org <group>', 'For issue: subject organization (repeatable)')
    .option('--san <name>', 'For issue: DNS name or IP (repeatable or comma-separated)')
    .option('--ca <ca>', 'For issue: cluster, front-proxy, etcd, or a CA certificate file with its .key beside it; for extension-apiserver: new or cluster (default: new)')
    .option('--ca-key <file>', 'Key of a --ca file kept elsewhere')
    .option('--service <name>', 'For extension-apiserver: the Service in front of it')
    .option('--namespace <ns>', 'For extension-apiserver: its namespace')
    .option('--api-group <group>', 'For extension-apiserver: the APIService group (default: example.com)')
    .option('--api-version <version>', 'For extension-apiserver: the APIService version (default: v1alpha1)')
    .option('--dns-domain <domain>', 'Cluster DNS domain (default: cluster.local)')
    .option('--cert-dir <dir>', 'PKI directory with the CAs (default: ./pki)')
    .option('--out <prefix>', 'Write PREFIX.crt and PREFIX.key (and the CA and APIService files)')
    .option('--validity <duration>', 'Certificate lifetime (default: 1y)')
    .option('--key-type <type>', "Key algorithm (default: the CA's)")
    .option('--force', 'Replace existing output files')
    .option('--json', 'Print the result as JSON')
    .example('kpki cert issue --profile server --cn registry --san registry.example.com,10.0.0.5 --ca cluster --out registry')
    .example('kpki cert extension-apiserver --service metrics-server --namespace kube-system --api-group metrics.k8s.io --api-version v1beta1 --out metrics-server')
    .action(async (kind: string, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (kind !== 'issue' && kind !== 'extension-apiserver') throw badFlag('cert', `unknown subcommand "${kind}": use issue or extension-apiserver`, 'see kpki cert --help');
        const out = flagString(flags.out);
        if (!out) throw badFlag('--out', 'is required: the prefix of the files to write');
        const common = { out, certDir: flagString(flags.certDir), validity: flagString(flags.validity), keyType: flagString(flags.keyType), force: Boolean(flags.force) };
        let result: { files: string[] };
        if (kind === 'issue') {
          result = await issueCertificateFiles({
            ...common,
            role: flagString(flags.profile) ?? '',
            commonName: flagString(flags.cn) ?? '',
            organizations: listValue(flags.org as string[] | string | undefined),
            sans: listValue(flags.san as string[] | string | undefined),
            ca: flagString(flags.ca) ?? 'cluster',
            caKey: flagString(flags.caKey),
          });
        } else {
          const ca = flagString(flags.ca) ?? 'new';
          if (ca !== 'new' && ca !== 'cluster') throw badFlag('--ca', `"${ca}" is not new or cluster`);
          result = await issueExtensionApiserver({
            ...common,
            ca,
            service: flagString(flags.service) ?? '',
            namespace: flagString(flags.namespace) ?? '',
            apiGroup: flagString(flags.apiGroup),
            apiVersion: flagString(flags.apiVersion),
            dnsDomain: flagString(flags.dnsDomain),
          });
        }
        output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : `${result.files.join('\n')}\n`);
        return 0;
      });
    });
}

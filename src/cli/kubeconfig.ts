import type { CAC } from 'cac';
import { issueKubeconfig } from '../kubeconfig/issue.js';
import { listValue } from '../model/settings.js';
import { kubeconfigViaApiCommand, refuseApiFlags } from './kubeconfig-api.js';
import { flagString, type Output, type Runner } from './output.js';


export function registerKubeconfig(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('kubeconfig <kind>', 'Issue a kubeconfig: user, node, or admin|super-admin|controller-manager|scheduler|kubelet')
    .option('--client-name <name>', 'User name (certificate CN), for kind user')
    .option('--org <group>', 'Group (certificate O); repeatable or comma-separated')
    .option('--node-name <name>', 'Node name, for kinds node and kubelet')
    .option('--server <url>', "Apiserver URL (default: the rewritten file's, else admin.conf's)")
    .option('--cluster-name <name>', "Cluster entry name (default: admin.conf's, else kubernetes)")
    .option('--context-name <name>', 'Context name (default: <user>@<cluster>)')
    .option('--user-name <name>', 'User entry name (default: the client name, i.e. the certificate CN)')
    .option('--validity <duration>', 'Client certificate lifetime, e.g. 24h, 30d, 1y (default: 1y)')
    .option('--key-type <type>', "Key algorithm (default: the CA's)")
    .option('--cert-dir <dir>', 'PKI directory with ca.crt and ca.key (default: ./pki)')
    .option('--kubeconfig-dir <dir>', "Where the standard kubeconfigs live (default: the cert dir's parent)")
    .option('--ca-cert <file>', 'Sign with this CA certificate instead of the cert dir\'s')
    .option('--ca-key <file>', 'Key of --ca-cert')
    .option('--out <file>', 'Write the kubeconfig here (0600) instead of stdout; with --csr-only, the key/CSR file prefix')
    .option('--no-embed', 'Write the certificate and key next to --out and reference them by path')
    .option('--csr-only', 'Write a private key and a CSR for an external signer, no kubeconfig')
    .option('--merge-into <file>', "Merge the new cluster, user and context into this kubeconfig, as kubectl does: existing entries are never rewritten, a same-named one with other contents is refused (exit 1)")
    .option('--allow-system-masters', 'Allow --org system:masters (bypasses RBAC; cannot be revoked)')
    .option('--force', 'Replace an existing --out file')
    .option('--via-api', 'Have the cluster sign (certificates.k8s.io CSR, key kept here), for kinds user and node; needs --kubeconfig')
    .option('--kubeconfig <file>', 'With --via-api: the kubeconfig that creates the CSR; its cluster CA goes into the result')
    .option('--approve', 'With --via-api: approve the CSR too (needs approve permission for the signer)')
    .option('--timeout <duration>', 'With --via-api: wait this long for approval and issuance (default: 2m)')
    .option('--json', 'Print the result as JSON (the kubeconfig text is in .kubeconfig)')
    .example('kpki kubeconfig user --client-name alice --org developers > alice.conf')
    .example('kpki kubeconfig user --client-name ci --validity 24h --merge-into ~/.kube/config')
    .example('kpki kubeconfig user --client-name ci --cluster-name staging --merge-into ~/.kube/config   # beside another "kubernetes"')
    .example('kpki kubeconfig node --node-name worker-1 --out worker-1.conf')
    .example('kpki kubeconfig admin            # rewrite ./admin.conf from ./pki')
    .example('kpki kubeconfig user --via-api --kubeconfig admin.conf --client-name alice --org devs --validity 24h --approve')
    .action(async (kind: string, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (flags.viaApi) return kubeconfigViaApiCommand(kind, flags, output, json);
        refuseApiFlags(flags);
        const result = await issueKubeconfig({
          kind,
          clientName: flagString(flags.clientName),
          organizations: listValue(flags.org as string[] | string | undefined),
          nodeName: flagString(flags.nodeName),
          server: flagString(flags.server),
          clusterName: flagString(flags.clusterName),
          contextName: flagString(flags.contextName),
          userName: flagString(flags.userName),
          validity: flagString(flags.validity),
          keyType: flagString(flags.keyType),
          certDir: flagString(flags.certDir),
          kubeconfigDir: flagString(flags.kubeconfigDir),
          caCert: flagString(flags.caCert),
          caKey: flagString(flags.caKey),
          out: flagString(flags.out),
          embed: flags.embed !== false,
          csrOnly: Boolean(flags.csrOnly),
          mergeInto: flagString(flags.mergeInto),
          allowSystemMasters: Boolean(flags.allowSystemMasters),
          force: Boolean(flags.force),
        });
        if (json) output.stdout(`${JSON.stringify(result, null, 2)}\n`);
        else if (result.files.length) output.stderr(`kpki: wrote ${result.files.join(', ')}\n`);
        else output.stdout(result.kubeconfig!);
        return 0;
      });
    });
}

import type { CAC } from 'cac';
import { initPki, type InitOptions, type Progress } from '../commands/init.js';
import { addNode, initCluster, type NodeRole } from '../commands/cluster.js';
import { badFlag } from '../errors.js';
import { renderClusterResult, renderInitResult, renderNodeResult } from '../render/init.js';
import { KEY_TYPES, listValue } from '../model/settings.js';
import { builtinProfileNames } from '../store/profiles.js';
import { flagString, type Output, type Runner } from './output.js';


function progressReporter(output: Output): ((p: Progress) => void) | undefined {
  if (!output.interactive) return undefined;
  return (p) => {
    const label = p.phase === 'keys' ? 'generating keys' : 'writing files';
    output.stderr(`\r\x1b[K${label} ${p.done}/${p.total}${p.done === p.total && p.phase === 'write' ? '\r\x1b[K' : ''}`);
  };
}

export function registerInit(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('init', 'Create the kubeadm-compatible PKI and kubeconfigs (reuses what is already valid)')
    .option('--cert-dir <dir>', 'Directory for certificates and keys (default: ./pki, or certificatesDir from --config)')
    .option('--kubeconfig-dir <dir>', "Directory for kubeconfigs (default: the cert dir's parent)")
    .option('--node-name <name>', 'Node name: etcd certificate CN and SANs, kubelet identity (default: hostname)')
    .option('--advertise-address <ip>', "The apiserver's address on this node (default: the primary address)")
    .option('--control-plane-endpoint <host[:port]>', 'HA load-balancer VIP or DNS name: apiserver SAN and kubeconfig server')
    .option('--apiserver-bind-port <port>', 'Port the apiserver listens on (default: 6443)')
    .option('--service-cidr <cidr>', 'Service CIDR(s), comma-separated for dual-stack (default: 10.96.0.0/12)')
    .option('--dns-domain <domain>', 'Cluster DNS domain (default: cluster.local)')
    .option('--cluster-name <name>', 'Cluster name in kubeconfigs (default: kubernetes)')
    .option('--apiserver-cert-extra-sans <sans>', 'Extra apiserver SANs, comma-separated or repeated')
    .option('--etcd-server-cert-extra-sans <sans>', 'Extra etcd server SANs')
    .option('--etcd-peer-cert-extra-sans <sans>', 'Extra etcd peer SANs')
    .option('--key-type <type>', `Key algorithm: ${KEY_TYPES.join(', ')} (default: rsa-2048)`)
    .option('--cert-validity <duration>', 'Leaf validity, e.g. 8760h, 365d, 1y (default: 1y)')
    .option('--ca-validity <duration>', 'CA validity (default: 10y)')
    .option('--profile <name|file>', `Certificate set: ${builtinProfileNames().join(', ')} or a profile file (default: kubeadm)`)
    .option('--config <file>', 'Read settings from a kubeadm ClusterConfiguration/InitConfiguration (v1beta2-v1beta4)')
    .option('--dry-run', 'Print the plan (files, subjects, SANs, issuers, validity) and write nothing')
    .option('--force', 'Reissue every leaf certificate and kubeconfig that no longer matches the settings')
    .option('--renew <names>', 'Reissue these entries, comma-separated (e.g. apiserver,admin.conf)')
    .option('--control-plane-nodes <list>', 'Whole cluster: control-plane nodes as NAME=IP,… (one directory per node)')
    .option('--workers <list>', 'Whole cluster: worker nodes as NAME=IP,…')
    .option('--etcd-members <list>', 'Whole cluster: external etcd members as NAME=IP,… (default: etcd stacked on the control planes)')
    .option('--kubelet-serving-certs', 'Whole cluster: kubelet serving certificates signed by the cluster CA')
    .option('--nodes-dir <dir>', "Whole cluster: where node directories go (default: <kubeconfig dir>/nodes)")
    .option('--json', 'Print a machine-readable summary on stdout')
    .example('kpki init --node-name cp1 --advertise-address 10.0.0.11')
    .example('kpki init --control-plane-endpoint k8s-api.example.com:6443 --apiserver-cert-extra-sans 10.0.0.100')
    .example('kpki init --config kubeadm-config.yaml --cert-dir /etc/kubernetes/pki')
    .example('kpki init --dry-run --json | jq .items[].files')
    .example('kpki init --renew apiserver   # after adding a SAN')
    .example('kpki init --control-plane-endpoint 10.0.0.100:6443 --control-plane-nodes cp1=10.0.0.11,cp2=10.0.0.12,cp3=10.0.0.13 --workers w1=10.0.0.21')
    .action(async (flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        const controller = new AbortController();
        const abort = () => controller.abort();
        process.once('SIGINT', abort);
        process.once('SIGTERM', abort);
        try {
          const options: InitOptions = {
            certDir: flagString(flags.certDir),
            kubeconfigDir: flagString(flags.kubeconfigDir),
            nodeName: flagString(flags.nodeName),
            advertiseAddress: flagString(flags.advertiseAddress),
            controlPlaneEndpoint: flagString(flags.controlPlaneEndpoint),
            bindPort: flagString(flags.apiserverBindPort),
            serviceCidr: flags.serviceCidr === undefined ? undefined : listValue(flags.serviceCidr as string).join(','),
            dnsDomain: flagString(flags.dnsDomain),
            clusterName: flagString(flags.clusterName),
            apiserverCertExtraSans: flags.apiserverCertExtraSans as string[] | undefined,
            etcdServerCertExtraSans: flags.etcdServerCertExtraSans as string[] | undefined,
            etcdPeerCertExtraSans: flags.etcdPeerCertExtraSans as string[] | undefined,
            keyType: flagString(flags.keyType),
            certValidity: flagString(flags.certValidity),
            caValidity: flagString(flags.caValidity),
            profile: flagString(flags.profile),
            config: flagString(flags.config),
            dryRun: Boolean(flags.dryRun),
            force: Boolean(flags.force),
            renew: listValue(flags.renew as string[] | string | undefined),
            onProgress: progressReporter(output),
            signal: controller.signal,
          };
          if (flags.controlPlaneNodes || flags.workers || flags.etcdMembers) {
            const cluster = await initCluster({
              ...options,
              controlPlaneNodes: flagString(flags.controlPlaneNodes),
              workers: flagString(flags.workers),
              etcdMembers: flagString(flags.etcdMembers),
              kubeletServingCerts: Boolean(flags.kubeletServingCerts),
              nodesDir: flagString(flags.nodesDir),
            });
            output.stdout(json ? `${JSON.stringify(cluster, null, 2)}\n` : renderClusterResult(cluster));
            return cluster.shared.items.some((i) => i.action === 'conflict') ? 1 : 0;
          }
          const result = await initPki(options);
          for (const warning of result.warnings) output.stderr(`kpki: warning: ${warning}\n`);
          output.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : renderInitResult(result));
          return result.items.some((i) => i.action === 'conflict') ? 1 : 0;
        } finally {
          process.off('SIGINT', abort);
          process.off('SIGTERM', abort);
        }
      });
    });
}

const NODE_ROLES: NodeRole[] = ['control-plane', 'worker', 'etcd'];

export function registerNode(cli: CAC, output: Output, run: Runner): void {
  cli
    .command('node <action> <name>', 'Add a node to a cluster made by kpki init --control-plane-nodes (action: add)')
    .option('--address <ip>', "The node's IP address; IPv4,IPv6 for a dual-stack node")
    .option('--role <role>', `${NODE_ROLES.join(', ')} (default: worker)`)
    .option('--kubeconfig-dir <dir>', 'Where kpki init wrote kpki-cluster.json (default: .)')
    .option('--force', 'Reissue files of this node that no longer match')
    .option('--json', 'Print the result as JSON')
    .example('kpki node add w2 --address 10.0.0.22')
    .example('kpki node add w3 --address 10.0.0.23,fd00::23   # dual-stack')
    .example('kpki node add cp4 --address 10.0.0.14 --role control-plane')
    .action(async (action: string, name: string, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      await run(json, async () => {
        if (action !== 'add') throw badFlag('action', `"${action}" is not add`);
        const role = (flagString(flags.role) ?? 'worker') as NodeRole;
        if (!NODE_ROLES.includes(role)) throw badFlag('--role', `"${role}" is not one of ${NODE_ROLES.join(', ')}`);
        if (!flags.address) throw badFlag('--address', 'is required');
        const node = await addNode({ name, address: flagString(flags.address)!, role, kubeconfigDir: flagString(flags.kubeconfigDir), force: Boolean(flags.force) });
        output.stdout(json ? `${JSON.stringify(node, null, 2)}\n` : renderNodeResult(node));
        return 0;
      });
    });
}

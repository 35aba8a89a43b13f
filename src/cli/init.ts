import type { InitOptions, Progress } from '../commands/init.js';
import { badFlag } from '../errors.js';
import { defineCommand } from './command.js';
import { textStyles, type Output } from './output.js';
import { pinSource } from './pin.js';

function progressReporter(output: Output): ((p: Progress) => void) | undefined {
  if (!output.interactive) return undefined;
  return (p) => {
    const label = p.phase === 'keys' ? 'generating keys' : 'writing files';
    output.stderr(`\r\x1b[K${label} ${p.done}/${p.total}${p.done === p.total && p.phase === 'write' ? '\r\x1b[K' : ''}`);
  };
}

export const initCommand = defineCommand({
  usage: 'init',
  description: 'Create the kubeadm-compatible PKI and kubeconfigs (reuses what is already valid)',
  flags: [
    'certDir',
    'clusterKubeconfigDir',
    'nodeName',
    'advertiseAddress',
    'controlPlaneEndpoint',
    'apiserverBindPort',
    'serviceCidr',
    'dnsDomain',
    'clusterName',
    'apiserverCertExtraSans',
    'etcdServerCertExtraSans',
    'etcdPeerCertExtraSans',
    'keyType',
    'certValidity',
    'caValidity',
    'profile',
    'config',
    'dryRun',
    'reissueStale',
    'renewEntries',
    'controlPlaneNodes',
    'workers',
    'etcdMembers',
    'kubeletServingCerts',
    'componentServingCerts',
    'nodesDir',
    'json',
    'caKeyUri',
    'pkcs11Module',
    'pinFile',
  ],
  examples: [
    'kpki init --node-name cp1 --advertise-address 10.0.0.11',
    'kpki init --control-plane-endpoint k8s-api.example.com:6443 --apiserver-cert-extra-sans 10.0.0.100',
    'kpki init --config kubeadm-config.yaml --cert-dir /etc/kubernetes/pki',
    'kpki init --dry-run --json | jq .items[].files',
    'kpki init --renew apiserver   # after adding a SAN',
    'kpki init --control-plane-endpoint 10.0.0.100:6443 --control-plane-nodes cp1=10.0.0.11,cp2=10.0.0.12,cp3=10.0.0.13 --workers w1=10.0.0.21',
    "KPKI_PKCS11_PIN=… kpki init --ca-key-uri 'ca=pkcs11:token=k8s;object=cluster-ca' --ca-key-uri 'front-proxy-ca=pkcs11:token=k8s;object=front-proxy-ca'",
  ],
  async run(_args, flags, output) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    process.once('SIGINT', abort);
    process.once('SIGTERM', abort);
    try {
      const options: InitOptions = {
        certDir: flags.certDir,
        kubeconfigDir: flags.clusterKubeconfigDir,
        nodeName: flags.nodeName,
        advertiseAddress: flags.advertiseAddress,
        controlPlaneEndpoint: flags.controlPlaneEndpoint,
        bindPort: flags.apiserverBindPort,
        serviceCidr: flags.serviceCidr,
        dnsDomain: flags.dnsDomain,
        clusterName: flags.clusterName,
        apiserverCertExtraSans: flags.apiserverCertExtraSans,
        etcdServerCertExtraSans: flags.etcdServerCertExtraSans,
        etcdPeerCertExtraSans: flags.etcdPeerCertExtraSans,
        keyType: flags.keyType,
        certValidity: flags.certValidity,
        caValidity: flags.caValidity,
        profile: flags.profile,
        config: flags.config,
        dryRun: flags.dryRun,
        force: flags.reissueStale,
        renew: flags.renewEntries,
        // Only a given flag counts: a cluster's record remembers an earlier run's choice.
        componentServingCerts: flags.componentServingCerts || undefined,
        onProgress: progressReporter(output),
        signal: controller.signal,
        caKeyUris: flags.caKeyUri,
        pkcs11Module: flags.pkcs11Module,
        pin: pinSource(flags.pinFile),
      };
      const rendering = import('../render/init.js');
      if (flags.controlPlaneNodes || flags.workers || flags.etcdMembers) {
        const { initCluster } = await import('../commands/cluster.js');
        const cluster = await initCluster({
          ...options,
          controlPlaneNodes: flags.controlPlaneNodes,
          workers: flags.workers,
          etcdMembers: flags.etcdMembers,
          kubeletServingCerts: flags.kubeletServingCerts,
          nodesDir: flags.nodesDir,
        });
        // The same warning from several nodes (a leaf cut at its CA's expiry) is said once.
        for (const warning of new Set([...cluster.shared.warnings, ...cluster.nodes.flatMap((n) => n.init.warnings)]))
          output.stderr(`kpki: warning: ${warning}\n`);
        output.stdout(
          flags.json ? `${JSON.stringify(cluster, null, 2)}\n` : (await rendering).renderClusterResult(cluster, await textStyles()),
        );
        return cluster.shared.items.some((i) => i.action === 'conflict') ? 1 : 0;
      }
      const { initPki } = await import('../commands/init.js');
      const result = await initPki(options);
      for (const warning of result.warnings) output.stderr(`kpki: warning: ${warning}\n`);
      output.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : (await rendering).renderInitResult(result, await textStyles()));
      return result.items.some((i) => i.action === 'conflict') ? 1 : 0;
    } finally {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    }
  },
});

export const nodeCommand = defineCommand({
  usage: 'node <action> <name>',
  description: 'Add a node to a cluster made by kpki init --control-plane-nodes (action: add)',
  flags: ['address', 'role', 'clusterDir', 'reissueStale', 'json', 'pkcs11Module', 'pinFile'],
  examples: [
    'kpki node add w2 --address 10.0.0.22',
    'kpki node add w3 --address 10.0.0.23,fd00::23   # dual-stack',
    'kpki node add cp4 --address 10.0.0.14 --role control-plane',
  ],
  async run([action, name], flags, output) {
    if (action !== 'add') throw badFlag('action', `"${action}" is not add`);
    if (!flags.address) throw badFlag('--address', 'is required');
    const token = { pin: pinSource(flags.pinFile), pkcs11Module: flags.pkcs11Module };
    const [{ addNode }, { renderNodeResult }] = await Promise.all([import('../commands/cluster.js'), import('../render/init.js')]);
    const node = await addNode({
      name: name!,
      address: flags.address,
      role: flags.role,
      kubeconfigDir: flags.clusterDir,
      force: flags.reissueStale,
      token,
    });
    output.stdout(flags.json ? `${JSON.stringify(node, null, 2)}\n` : renderNodeResult(node, await textStyles()));
    return 0;
  },
});

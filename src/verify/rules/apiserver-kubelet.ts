import { kubeletServing, type Facts } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { httpsUrl } from '../../model/net.js';
import { hostnameError } from '../../pki/verify.js';
import { flagList } from '../inputs/args.js';
import { dialedNodeAddress, KUBEADM_ADDRESS_TYPES, KUBELET_PORT } from '../inputs/kubelet.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { adminGroups, certFromFlag, CLIENT_TLS_PREFIX, hostFindings, trustFindings, type NamedCert } from './common.js';
import { reissueWithSans } from './fixes.js';

/** The CA file the kubelets trust for client certificates; kubeadm gives them the apiserver's. */
function kubeletClientCa(facts: Facts): NamedCert | undefined {
  const kubeletCa = facts.inputs.kubelet?.clientCAFile;
  if (kubeletCa) {
    const certs = facts.certificates.get(kubeletCa);
    return certs && { label: 'kubelet clientCAFile', file: kubeletCa, certs };
  }
  return facts.inputs.apiserver && certFromFlag(facts, facts.inputs.apiserver, 'client-ca-file');
}

const logsSymptom = (host: string, port: number) =>
  `kubectl logs/exec: Error from server: Get "${httpsUrl(host, port)}/containerLogs/…": ${CLIENT_TLS_PREFIX}`;

/** The address the apiserver dials: the node's first address of the first preferred type. */
function dialedAddress(facts: Facts): { type: string; address: string } | undefined {
  const { inputs } = facts;
  // A node of a cluster kpki wrote, checked without an apiserver: its apiservers run with kubeadm's order.
  const preferred = inputs.apiserver
    ? flagList(inputs.apiserver, 'kubelet-preferred-address-types')
    : inputs.node
      ? KUBEADM_ADDRESS_TYPES
      : undefined;
  return preferred && dialedNodeAddress(preferred, [...inputs.nodeAddresses, ...(inputs.kubelet?.nodeAddresses ?? [])]);
}

/** The kubelet serving certificate checks that only matter when the apiserver verifies it. */
async function servingFindings(facts: Facts, kubeletCa: NamedCert): Promise<Finding[]> {
  const serving = kubeletServing(facts.inputs);
  const unchecked = (diagnosis: string, fix: string) =>
    finding({
      code: FindingCode.Unchecked,
      severity: 'warning',
      subject: kubeletCa.label,
      symptom: '',
      diagnosis,
      fix,
      files: [kubeletCa.file],
    });
  if (!serving) {
    return [
      unchecked(
        "the kubelets' serving certificates were not given, so kpki cannot tell whether this CA signed them",
        'pass --kubelet-config (or --root with /var/lib/kubelet/config.yaml) to check it',
      ),
    ];
  }
  const certs = facts.certificates.get(serving.cert);
  if (!certs) {
    if (facts.files.get(serving.cert)?.data || serving.origin === 'configured') return []; // unreadable or missing: already a finding
    return [
      unchecked(
        serving.origin === 'bootstrap'
          ? `${serving.cert} does not exist yet: the kubelet's serving CSR has not been issued, and kubectl logs/exec fail until it is`
          : `${serving.cert} is not in the copy; the kubelet makes a self-signed one there at start, which ${kubeletCa.file} cannot verify`,
        serving.origin === 'bootstrap'
          ? "approve the node's kubernetes.io/kubelet-serving CSR (kubectl certificate approve)"
          : 'set tlsCertFile to a certificate signed by that CA, or serverTLSBootstrap: true',
      ),
    ];
  }
  const label = serving.origin === 'configured' ? 'kubelet tlsCertFile' : `kubelet serving certificate (${serving.cert})`;
  const leaf: NamedCert = { label, file: serving.cert, certs };
  const dialed = dialedAddress(facts);
  const port = facts.inputs.kubelet?.port ?? KUBELET_PORT;
  // Go checks the dialed name before the chain: a certificate without the node's IP fails on that first.
  const hostError = dialed && hostnameError(certs[0]!, dialed.address);
  const out = await trustFindings(facts, {
    leaf,
    roots: kubeletCa,
    usage: 'serverAuth',
    relation: 'kube-apiserver connecting to the kubelet',
    symptom: (e) => `${logsSymptom(dialed?.address ?? '<node>', port)}${hostError ?? e}`,
  });
  if (out.length && serving.origin === 'self-signed') {
    return [
      finding({
        ...out[0]!,
        code: FindingCode.KubeletServingSelfSigned,
        diagnosis: `${serving.cert} is the kubelet's self-signed default certificate (no tlsCertFile, no serverTLSBootstrap), which ${kubeletCa.file} (${kubeletCa.label}) cannot verify`,
        fix: `set serverTLSBootstrap: true in ${facts.inputs.kubelet!.origin} and approve the kubelet-serving CSRs, or issue serving certificates from that CA (kpki init --kubelet-serving-certs) and set tlsCertFile/tlsPrivateKeyFile`,
      }),
    ];
  }
  if (out.length) return out;
  if (!dialed) {
    return [
      unchecked(
        `the node's addresses are unknown, so kpki cannot tell which address kube-apiserver dials and whether ${serving.cert} covers it`,
        'pass --node-address (e.g. InternalIP=10.0.0.21) or the kubelet flags with --node-ip',
      ),
    ];
  }
  const fix =
    serving.origin === 'bootstrap'
      ? `the kubelet requests the SANs from the node's addresses: fix the node's ${dialed.type} (--node-ip / --hostname-override), delete ${serving.cert} and approve the new CSR`
      : reissueWithSans(facts, leaf, [dialed.address]);
  return hostFindings(
    leaf,
    [{ host: dialed.address, who: `kube-apiserver (--kubelet-preferred-address-types picks the node's ${dialed.type})`, fix }],
    logsSymptom(dialed.address, port),
  );
}

/**
 * A node without an apiserver (a worker) whose cluster's apiservers verify kubelets with a CA
 * (kpki init --kubelet-serving-certs): its kubelet's serving certificate, as they would check it.
 */
async function workerServing(facts: Facts): Promise<Finding[]> {
  const caFile = facts.inputs.node?.kubeletServingCa;
  const certs = caFile ? facts.certificates.get(caFile) : undefined;
  if (!certs || !facts.inputs.kubelet) return [];
  return servingFindings(facts, {
    label: `kube-apiserver --kubelet-certificate-authority (${caFile}, as the control planes hold it)`,
    file: caFile!,
    certs,
  });
}

/** Rule: kubectl logs/exec work: the kubelet trusts the apiserver's client certificate and authorises it, and the apiserver trusts the kubelet's serving certificate. */
export const apiserverKubelet = defineRule({
  id: 'apiserver-kubelet',
  codes: [
    FindingCode.ChainUntrusted,
    FindingCode.UsageIncompatible,
    FindingCode.IdentityUnexpected,
    FindingCode.KubeletServingSelfSigned,
    FindingCode.SanMissing,
    FindingCode.Unchecked,
  ],
  async check(facts) {
    const args = facts.inputs.apiserver;
    if (!args) return workerServing(facts);
    const out: Finding[] = [];
    const client = certFromFlag(facts, args, 'kubelet-client-certificate');
    if (client) {
      const roots = kubeletClientCa(facts);
      if (roots) {
        out.push(
          ...(await trustFindings(facts, {
            leaf: client,
            roots,
            usage: 'clientAuth',
            relation: 'the kubelet authenticating the apiserver',
            symptom: (e) =>
              `kubectl logs/exec: error: You must be logged in to the server (the server has asked for the client to provide credentials); kubelet log: ${e}`,
          })),
        );
      }
      const info = infoOf(client.certs[0]!);
      const admins = adminGroups(facts.inputs.profile);
      if (!info.organizations.some((o) => admins.groups.includes(o))) {
        out.push(
          finding({
            code: FindingCode.IdentityUnexpected,
            severity: 'warning',
            subject: client.label,
            symptom: `Error from server (Forbidden): Forbidden (user=${info.commonName}, verb=get, resource=nodes, subresource=proxy)`,
            diagnosis: `${client.file} is CN=${info.commonName}, O=[${info.organizations.join(', ')}]; kubeadm clusters authorise the kubelet API for ${admins.expected}`,
            fix: `reissue it with O=${admins.preferred} (kpki init --renew apiserver-kubelet-client) or bind its user to system:kubelet-api-admin`,
            files: [client.file],
          }),
        );
      }
    }
    const kubeletCa = certFromFlag(facts, args, 'kubelet-certificate-authority');
    if (kubeletCa) out.push(...(await servingFindings(facts, kubeletCa)));
    return out;
  },
});

import type * as Kubernetes from '@kubernetes/client-node';
import { apiErrorCode, approveCsr, clusterRefused, connect, pollCsrs, type CsrPolling } from './client.js';
import {
  KUBELET_SERVING_SIGNER,
  kubeletServingDecision,
  requestFacts,
  requestingNode,
  type NodeAddresses,
  type ServingDecision,
} from './kubelet-serving.js';

export interface ApproveOptions extends CsrPolling {
  kubeconfig?: string;
  /** Decide and report, approve nothing. */
  dryRun?: boolean;
  /** One line per decision (stdout). */
  report: (line: string) => void;
}

export interface ApprovalOutcome {
  csr: string;
  decision: ServingDecision;
  approved: boolean;
}

const isPending = (csr: Kubernetes.V1CertificateSigningRequest) =>
  !csr.status?.certificate && !(csr.status?.conditions ?? []).some((c) => ['Approved', 'Denied', 'Failed'].includes(c.type));

/** The decision for one CSR object, reading the Node it claims; an unparsable request is refused with the reason. */
async function decide(core: Kubernetes.CoreV1Api, csr: Kubernetes.V1CertificateSigningRequest): Promise<ServingDecision> {
  const spec = csr.spec;
  let facts;
  try {
    facts = requestFacts(Buffer.from(spec.request, 'base64').toString('utf8'));
  } catch (error) {
    return { approve: false, node: undefined, reasons: [`the request is not a PEM PKCS#10 CSR: ${(error as Error).message}`] };
  }
  const request = {
    name: csr.metadata!.name!,
    signerName: spec.signerName,
    username: spec.username ?? '',
    groups: spec.groups ?? [],
    usages: spec.usages ?? [],
    ...facts,
  };
  const nodeName = requestingNode(request);
  let node: NodeAddresses | undefined;
  if (nodeName) {
    try {
      const object = await core.readNode({ name: nodeName });
      node = { name: nodeName, addresses: object.status?.addresses ?? [] };
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw clusterRefused(`reading Node ${nodeName}`, error, 'get on nodes');
    }
  }
  return kubeletServingDecision(request, node);
}

/**
 * Approves pending kubelet-serving CSRs that name only their own node's addresses; leaves every
 * other one pending and reports why. With `watch`, repeats until the signal aborts.
 */
export async function approveKubeletServing(options: ApproveOptions): Promise<ApprovalOutcome[]> {
  const api = await connect(options.kubeconfig);
  const certificates = api.config.makeApiClient(api.k8s.CertificatesV1Api);
  const core = api.config.makeApiClient(api.k8s.CoreV1Api);
  const outcomes: ApprovalOutcome[] = [];
  const reported = new Map<string, string>();
  await pollCsrs(api, certificates, options, async (items) => {
    for (const csr of items.filter((c) => c.spec.signerName === KUBELET_SERVING_SIGNER && isPending(c))) {
      const name = csr.metadata!.name!;
      const decision = await decide(core, csr);
      let approved = false;
      if (decision.approve && !options.dryRun) {
        try {
          approved = await approveCsr(certificates, csr, 'KpkiKubeletServing', `kpki: names only Node ${decision.node}'s addresses`);
        } catch (error) {
          throw clusterRefused(
            `approving CSR ${name}`,
            error,
            'update on certificatesigningrequests/approval and approve on signers kubernetes.io/kubelet-serving',
          );
        }
      }
      const why = `node ${decision.node} asks only for its own addresses`;
      const line = !decision.approve
        ? `left pending ${name}: ${decision.reasons.join('; ')}`
        : options.dryRun
          ? `would approve ${name}: ${why}`
          : approved
            ? `approved ${name}: ${why}`
            : `not approved ${name}: someone else approved or denied it first`;
      // Pending requests are decided again on every pass (their Node may appear later); said once.
      if (reported.get(name) === line) continue;
      reported.set(name, line);
      options.report(line);
      outcomes.push({ csr: name, decision, approved });
    }
  });
  return outcomes;
}

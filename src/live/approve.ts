import type * as Kubernetes from '@kubernetes/client-node';
import { apiErrorCode, clusterRefused, connect } from './client.js';
import { KUBELET_SERVING_SIGNER, kubeletServingDecision, requestFacts, requestingNode, type NodeAddresses, type ServingDecision } from './kubelet-serving.js';

export interface ApproveOptions {
  kubeconfig?: string;
  /** Decide and report, approve nothing. */
  dryRun?: boolean;
  /** Keep checking for new requests until `signal` aborts. */
  watch?: boolean;
  signal?: AbortSignal;
  /** One line per decision (stdout). */
  report: (line: string) => void;
  /** Poll interval with `watch`; default 2 s. */
  pollMs?: number;
}

export interface ApprovalOutcome {
  csr: string;
  decision: ServingDecision;
  approved: boolean;
}

const isPending = (csr: Kubernetes.V1CertificateSigningRequest) => !csr.status?.certificate && !(csr.status?.conditions ?? []).some((c) => ['Approved', 'Denied', 'Failed'].includes(c.type));

/** The decision for one CSR object, reading the Node it claims; an unparsable request is refused with the reason. */
async function decide(core: Kubernetes.CoreV1Api, csr: Kubernetes.V1CertificateSigningRequest): Promise<ServingDecision> {
  const spec = csr.spec;
  let facts;
  try {
    facts = requestFacts(Buffer.from(spec.request, 'base64').toString('utf8'));
  } catch (error) {
    return { approve: false, node: undefined, reasons: [`the request is not a PEM PKCS#10 CSR: ${(error as Error).message}`] };
  }
  const request = { name: csr.metadata!.name!, signerName: spec.signerName, username: spec.username ?? '', groups: spec.groups ?? [], usages: spec.usages ?? [], ...facts };
  const nodeName = requestingNode(request);
  let node: NodeAddresses | undefined;
  if (nodeName) {
    try {
      const object = await core.readNode({ name: nodeName });
      node = { name: nodeName, addresses: object.status?.addresses ?? [] };
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw clusterRefused(`reading Node ${nodeName}`, error, 'the kubeconfig needs get on nodes');
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
  const reported = new Set<string>();
  for (;;) {
    let list: Kubernetes.V1CertificateSigningRequestList;
    try {
      list = await certificates.listCertificateSigningRequest();
    } catch (error) {
      throw clusterRefused(`listing CSRs with ${api.file}`, error, 'the kubeconfig needs list on certificatesigningrequests');
    }
    for (const csr of list.items.filter((c) => c.spec.signerName === KUBELET_SERVING_SIGNER && isPending(c))) {
      const name = csr.metadata!.name!;
      if (reported.has(name)) continue;
      reported.add(name);
      const decision = await decide(core, csr);
      let approved = false;
      if (decision.approve && !options.dryRun) {
        const condition = { type: 'Approved', status: 'True', reason: 'KpkiKubeletServing', message: `kpki: names only Node ${decision.node}'s addresses`, lastUpdateTime: new Date() };
        try {
          await certificates.replaceCertificateSigningRequestApproval({ name, body: { ...csr, status: { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] } } });
        } catch (error) {
          throw clusterRefused(`approving CSR ${name}`, error, 'the kubeconfig needs update on certificatesigningrequests/approval and approve on signers kubernetes.io/kubelet-serving');
        }
        approved = true;
      }
      options.report(
        decision.approve
          ? `${approved ? 'approved' : 'would approve'} ${name}: node ${decision.node} asks only for its own addresses`
          : `left pending ${name}: ${decision.reasons.join('; ')}`,
      );
      outcomes.push({ csr: name, decision, approved });
    }
    if (!options.watch || options.signal?.aborted) return outcomes;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.pollMs ?? 2000);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (options.signal?.aborted) return outcomes;
  }
}

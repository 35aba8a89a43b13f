import path from 'node:path';
import { httpsUrl } from '../../model/net.js';
import type { ServerTarget } from '../../model/profile.js';
import type { Facts } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag } from '../inputs/args.js';
import { defineRule, finding } from '../rule.js';

/** `https://Host:443/` and `https://host` are one server: compared by lower-cased host and port. */
function serverKey(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' ? `${u.hostname.toLowerCase()}:${u.port || '443'}` : undefined;
  } catch {
    return undefined;
  }
}

/** The servers of the loaded kubeconfigs the profile points at `target` (admin.conf: the endpoint; controller-manager.conf: this node). */
function serversOf(facts: Facts, target: ServerTarget): string[] {
  const files = new Set(facts.inputs.profile.kubeconfigs.filter((k) => k.server === target).map((k) => k.file));
  return [...facts.kubeconfigs.values()].filter((k) => files.has(path.basename(k.file))).map((k) => k.credentials.server);
}

/**
 * Rule: where a node's kubelet.conf points. kubeadm ≥ 1.33 (ControlPlaneKubeletLocalMode, on by
 * default) points a control plane's kubelet at its own apiserver; earlier kubeadm, and every
 * worker, at the control-plane endpoint. Either is a note naming the behaviour; a server that is
 * neither is a warning. Nothing is said when the two are the same address (no separate endpoint),
 * when nothing tells where they are, or when the endpoint is unknown and the server is not this node's.
 */
export const kubeletServer = defineRule({
  id: 'kubelet-server',
  codes: [FindingCode.KubeletServerMode, FindingCode.KubeconfigServerUnexpected],
  check(facts) {
    const api = facts.inputs.apiserver;
    const advertise = api && flag(api, 'advertise-address');
    const own = [
      ...(advertise ? [httpsUrl(advertise, Number(flag(api!, 'secure-port') ?? 6443))] : []),
      ...serversOf(facts, 'localEndpoint'),
    ];
    const endpoint = serversOf(facts, 'controlPlaneEndpoint');
    const ownKeys = new Set(own.map(serverKey));
    const endpointKeys = new Set(endpoint.map(serverKey));
    const out: Finding[] = [];
    for (const kc of facts.inputs.kubeconfigs.filter((k) => k.role === 'kubelet')) {
      const server = facts.kubeconfigs.get(kc.file)?.credentials.server;
      const key = server && serverKey(server);
      if (!key || (!ownKeys.size && !endpointKeys.size)) continue;
      const isOwn = ownKeys.has(key);
      const isEndpoint = endpointKeys.has(key);
      if (isOwn && isEndpoint) continue;
      const subject = `${kc.file} (server ${server})`;
      const note = (diagnosis: string, fix: string) =>
        finding({ code: FindingCode.KubeletServerMode, severity: 'info', subject, symptom: '', diagnosis, fix, files: [kc.file] });
      if (isOwn) {
        out.push(
          note(
            `the kubelet talks to this node's own apiserver, as kubeadm ≥ 1.33 sets up a control plane (feature gate ControlPlaneKubeletLocalMode): it never meets a newer apiserver than itself during an upgrade, and reports NotReady while this apiserver is down${endpoint.length ? ` (the control-plane endpoint is ${endpoint[0]})` : ''}`,
            'nothing to do (kpki profile kubeadm; kubeadm-v1.31 points it at the endpoint)',
          ),
        );
      } else if (isEndpoint) {
        out.push(
          note(
            `the kubelet talks to the control-plane endpoint, as kubeadm before 1.33 (or with ControlPlaneKubeletLocalMode off) and every worker do${own.length ? ` (this node's apiserver is ${own[0]})` : ''}`,
            'nothing to do (kpki profile kubeadm-v1.31; profile kubeadm points a control plane at its own apiserver)',
          ),
        );
      } else if (!endpointKeys.size) {
        // Without the endpoint (no admin.conf here) a server other than this node's apiserver may be the
        // endpoint (a worker's kubelet, checked beside a control plane's flags, points there): not judged.
        out.push(
          note(
            `the kubelet talks to ${server}, not this node's apiserver (${own[0]}); whether that is the control-plane endpoint was not checked: no admin.conf here names it`,
            `nothing to do if ${server} is the control-plane endpoint (a worker, or kubeadm before 1.33); pass --kubeconfig-dir with admin.conf to have it checked`,
          ),
        );
      }
      if (isOwn || isEndpoint || !endpointKeys.size) continue;
      const known = [
        ...(endpoint.length ? [`the control-plane endpoint (${endpoint[0]})`] : []),
        ...(own.length ? [`this node's apiserver (${own[0]})`] : []),
      ];
      const expected = known.length > 1 ? `neither ${known.join(' nor ')}` : `not ${known[0]}`;
      out.push(
        finding({
          code: FindingCode.KubeconfigServerUnexpected,
          severity: 'warning',
          subject,
          symptom: '',
          diagnosis: `${kc.file} points the kubelet at ${server}, which is ${expected}: the node reports to whatever answers there`,
          fix: `point it at one of them: kpki init --renew ${path.basename(kc.file)} (with the settings the cluster was made with), or kubectl config set-cluster --kubeconfig ${kc.file} --server …`,
          files: [kc.file],
        }),
      );
    }
    return out;
  },
});

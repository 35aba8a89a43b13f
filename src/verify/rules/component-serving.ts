import { httpsUrl } from '../../model/net.js';
import { FindingCode, type Finding } from '../findings.js';
import { BINARIES, flag, type ComponentArgs } from '../inputs/args.js';
import type { Facts } from '../facts.js';
import { defineRule } from '../rule.js';
import { WILDCARD_BIND } from './apiserver-serving.js';
import { certFromFlag, hostFindings, trustFindings, type DialedHost, type NamedCert } from './common.js';
import { reissueWithSans } from './fixes.js';

/** The secure ports of kube-controller-manager and kube-scheduler (v1.20 defaults). */
export const SECURE_PORTS = { 'controller-manager': 10257, scheduler: 10259 } as const;

/**
 * Where a scraper dials a component serving on `--bind-address`: that address, or — bound to every
 * address (the components' own default, 0.0.0.0) — the loopback a node-local client uses. The
 * node's other addresses are not in the component's flags, so they are not checked here.
 */
export function dialedHosts(args: ComponentArgs): string[] {
  const bind = flag(args, 'bind-address') ?? '0.0.0.0';
  return WILDCARD_BIND.has(bind) ? ['127.0.0.1', 'localhost'] : [bind];
}

/** The CA a scraper trusts: the cluster CA pods get as kube-root-ca.crt (--root-ca-file), else the apiserver's client CA. */
function clusterCa(facts: Facts): NamedCert | undefined {
  const { controllerManager, apiserver } = facts.inputs;
  return (
    (controllerManager && certFromFlag(facts, controllerManager, 'root-ca-file')) ??
    (apiserver && certFromFlag(facts, apiserver, 'client-ca-file'))
  );
}

/**
 * Rule: a serving certificate given to kube-controller-manager or kube-scheduler (--tls-cert-file)
 * verifies against the cluster CA for serverAuth and names the address it is dialed at. Its key
 * is the key-pairs rule's; a certificate issued but not wired, the wiring rule's.
 */
export const componentServing = defineRule({
  id: 'component-serving',
  codes: [FindingCode.ChainUntrusted, FindingCode.UsageIncompatible, FindingCode.SanMissing],
  async check(facts) {
    const roots = clusterCa(facts);
    const out: Finding[] = [];
    for (const args of [facts.inputs.controllerManager, facts.inputs.scheduler]) {
      const serving = args && certFromFlag(facts, args, 'tls-cert-file');
      if (!args || !serving) continue;
      const port = Number(flag(args, 'secure-port') ?? SECURE_PORTS[args.component as keyof typeof SECURE_PORTS]);
      const url = (host: string) => httpsUrl(host, port);
      const symptom = (host: string) => (error: string) => `Get "${url(host)}/metrics": ${error}`;
      const hosts = dialedHosts(args);
      if (roots) {
        out.push(
          ...(await trustFindings(facts, {
            leaf: serving,
            roots,
            usage: 'serverAuth',
            relation: `a scraper of ${BINARIES[args.component]} trusting the cluster CA (kube-root-ca.crt)`,
            symptom: symptom(hosts[0]!),
          })),
        );
      }
      const dialed: DialedHost[] = hosts.map((host) => ({
        host,
        who: `a scraper of ${url(host)}`,
        fix: reissueWithSans(facts, serving, [host]),
      }));
      out.push(...hostFindings(serving, dialed, `Get "${url(hosts[0]!)}/metrics": `));
    }
    return out;
  },
});

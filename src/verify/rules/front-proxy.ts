import { flagSubject } from '../facts.js';
import { FindingCode, type Finding } from '../findings.js';
import { flag, flagList } from '../inputs/args.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { certFromFlag, isTrusted, trustFindings } from './common.js';

/** Rule: the aggregation layer authenticates to extension apiservers through the front proxy. */
export const frontProxy = defineRule({
  id: 'front-proxy',
  codes: [
    FindingCode.RequestHeaderIncomplete,
    FindingCode.ChainUntrusted,
    FindingCode.UsageIncompatible,
    FindingCode.ProxyAnyNameAllowed,
    FindingCode.ProxyNameNotAllowed,
  ],
  async check(facts) {
    const args = facts.inputs.apiserver;
    if (!args) return [];
    const out: Finding[] = [];
    const proxy = certFromFlag(facts, args, 'proxy-client-cert-file');
    // A proxy certificate without the requestheader flags is a missing-flag finding of the wiring rule.
    if (flag(args, 'requestheader-client-ca-file') && !flag(args, 'proxy-client-cert-file')) {
      out.push(
        finding({
          code: FindingCode.RequestHeaderIncomplete,
          severity: 'error',
          subject: flagSubject(args, 'proxy-client-cert-file'),
          symptom: 'Error from server (ServiceUnavailable) / 401 Unauthorized from aggregated APIs (metrics.k8s.io, …)',
          diagnosis:
            '--requestheader-client-ca-file is set but the apiserver has no --proxy-client-cert-file to call extension apiservers with',
          fix: `set --proxy-client-cert-file/--proxy-client-key-file to front-proxy-client.crt/.key (kpki flags apiserver lists them)`,
        }),
      );
    }
    const ca = certFromFlag(facts, args, 'requestheader-client-ca-file');
    if (!proxy || !ca) return out;
    const cn = infoOf(proxy.certs[0]!).commonName;
    // Extension apiservers also trust --client-ca-file (published in kube-system's
    // extension-apiserver-authentication ConfigMap): a proxy certificate from that CA is taken for
    // an ordinary user named by its CN, X-Remote-User is ignored, and RBAC answers 403.
    const clientCa = certFromFlag(facts, args, 'client-ca-file');
    const trustedAsUser = clientCa !== undefined && (await isTrusted(facts, proxy, clientCa, 'clientAuth'));
    out.push(
      ...(await trustFindings(facts, {
        leaf: proxy,
        roots: ca,
        usage: 'clientAuth',
        relation: 'extension apiservers authenticating the aggregator (requestheader CA)',
        symptom: (e) =>
          trustedAsUser
            ? `403 Forbidden from aggregated APIs: User "${cn}" cannot … (extension apiservers authenticate the aggregator through --client-ca-file as user "${cn}" and ignore X-Remote-User)`
            : `401 Unauthorized from aggregated APIs; extension apiserver log: ${e}`,
      })),
    );
    const allowed = flagList(args, 'requestheader-allowed-names');
    if (allowed.length === 0) {
      out.push(
        finding({
          code: FindingCode.ProxyAnyNameAllowed,
          severity: 'info',
          subject: flagSubject(args, 'requestheader-allowed-names'),
          symptom: '',
          diagnosis:
            'the list is empty: any client certificate from the requestheader CA may assert any user to this apiserver and to extension apiservers',
          fix: `set --requestheader-allowed-names=${cn || 'front-proxy-client'} to accept only the aggregator`,
        }),
      );
    } else if (!allowed.includes(cn)) {
      out.push(
        finding({
          code: FindingCode.ProxyNameNotAllowed,
          severity: 'error',
          subject: flagSubject(args, 'requestheader-allowed-names'),
          symptom: `401 Unauthorized from aggregated APIs; extension apiserver log: x509: subject with cn=${cn} is not in the allowed list`,
          diagnosis: `${proxy.file} has CN "${cn}", which is not in --requestheader-allowed-names (${allowed.join(', ')}); names compare exactly, case-sensitively`,
          fix: `add ${cn} to --requestheader-allowed-names, or reissue the proxy certificate with CN ${allowed[0]}`,
          files: [proxy.file],
        }),
      );
    }
    return out;
  },
});

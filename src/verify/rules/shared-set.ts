import { sameKeyPair } from '../../pki/keys.js';
import { FindingCode, type Finding } from '../findings.js';
import { defineRule, finding } from '../rule.js';
import { notCaFindings } from './ca-files.js';
import { keyPairFindings, trustFindings, type NamedCert } from './common.js';

/**
 * Rule: the shared set of a cluster kpki wrote — read by no component, copied to every node — is
 * what the nodes need from it: CA certificates that can sign with their keys beside them, leaves
 * (front-proxy-client) from their CA with their keys, and the service-account key pair.
 */
export const sharedSet = defineRule({
  id: 'shared-set',
  codes: [
    FindingCode.NotCa,
    FindingCode.KeyMismatch,
    FindingCode.ChainUntrusted,
    FindingCode.UsageIncompatible,
    FindingCode.ServiceAccountKeyMismatch,
  ],
  async check(facts) {
    const out: Finding[] = [];
    for (const held of facts.inputs.held ?? []) {
      const label = `shared set: ${held.entry}`;
      const certs = held.cert && facts.certificates.get(held.cert);
      const key = held.key ? facts.keys.get(held.key) : undefined;
      if (certs) {
        const cert: NamedCert = { label, file: held.cert!, certs };
        if (!held.issuerCert) out.push(...notCaFindings(certs, held.cert!, label));
        if (key) out.push(...keyPairFindings(cert, key, held.key!, `${label} key`));
        const issuer = held.issuerCert && facts.certificates.get(held.issuerCert);
        if (issuer) {
          // Every node copies both: a control plane's kube-apiserver presents the leaf, extension apiservers check it against the CA.
          const roots: NamedCert = { label: `shared set: ${held.issuerCert}`, file: held.issuerCert!, certs: issuer };
          out.push(
            ...(await trustFindings(facts, {
              leaf: cert,
              roots,
              usage: held.usage ?? 'clientAuth',
              relation: 'every node that copies them',
              symptom: (e) => `401 Unauthorized from aggregated APIs on every control plane; extension apiserver log: ${e}`,
            })),
          );
        }
      }
      const pub = held.pub ? facts.publicKeys.get(held.pub) : undefined;
      if (key && pub && !pub.some((p) => sameKeyPair(key, p))) {
        out.push(
          finding({
            code: FindingCode.ServiceAccountKeyMismatch,
            severity: 'error',
            subject: label,
            symptom:
              'error: You must be logged in to the server (Unauthorized) for every pod using a service-account token, on every control plane that copies them; apiserver log: "invalid bearer token"',
            diagnosis: `${held.pub} does not hold the public half of ${held.key}: control planes copy both, sign tokens with the key and verify them with the public keys`,
            fix: `openssl pkey -in ${held.key} -pubout -out ${held.pub}  # then kpki init --control-plane-nodes … copies it to the nodes`,
            files: [held.key!, held.pub!],
          }),
        );
      }
    }
    return out;
  },
});

/**
 * Rule: a cluster node's CA files are copies of the shared set's (sharing a certificate with it:
 * a rotation's overlap may lag, which the rotation rule reports): a CA of its own would make this
 * node's components refuse every other node's certificates, and theirs refuse its.
 */
export const nodeCas = defineRule({
  id: 'node-cas',
  codes: [FindingCode.ChainUntrusted],
  check(facts) {
    return (facts.inputs.node?.sharedCas ?? []).flatMap(({ file, source }) => {
      const held = facts.certificates.get(file);
      const shared = facts.certificates.get(source);
      if (!held || !shared || held.some((c) => shared.some((s) => Buffer.from(s.rawData).equals(Buffer.from(c.rawData))))) return [];
      return [
        finding({
          code: FindingCode.ChainUntrusted,
          severity: 'error',
          subject: file,
          symptom: 'x509: certificate signed by unknown authority (between this node and the rest of the cluster)',
          diagnosis: `${file} holds none of the CA certificates of ${source}, the cluster's shared set every node copies: this node trusts another CA than the others, so its components refuse the certificates the other nodes present and the other nodes refuse what it signs or presents`,
          fix: `copy ${source} to ${file} (kpki init --control-plane-nodes … run again copies it) and reissue what this node's CA signed`,
          files: [file, source],
        }),
      ];
    });
  },
});

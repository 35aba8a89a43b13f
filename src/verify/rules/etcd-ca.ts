import { publicKeyObject } from '../../pki/certificate-facts.js';
import { sameKeyPair } from '../../pki/keys.js';
import { FindingCode } from '../findings.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { certFromFlag } from './common.js';

/**
 * Rule (CIS 2.7): etcd trusts a CA of its own. When etcd's --trusted-ca-file holds a CA that also
 * signs the apiserver's clients (--client-ca-file) or its front proxy, every kubelet and user
 * certificate of that CA opens etcd, where RBAC does not apply. Compared by key, not by name: a
 * CA re-made under another name with the same key is the same CA to a verifier.
 */
export const etcdOwnCa = defineRule({
  id: 'etcd-own-ca',
  codes: [FindingCode.EtcdCaShared],
  check(facts) {
    const { apiserver, etcd } = facts.inputs;
    const trusted = etcd && certFromFlag(facts, etcd, 'trusted-ca-file');
    if (!apiserver || !trusted) return [];
    const others = ['client-ca-file', 'requestheader-client-ca-file']
      .map((name) => certFromFlag(facts, apiserver, name))
      .filter((c) => c !== undefined);
    return others.flatMap((other) => {
      const shared = trusted.certs.filter((t) => other.certs.some((o) => sameKeyPair(publicKeyObject(t), publicKeyObject(o))));
      if (!shared.length) return [];
      const names = shared.map((c) => `CN=${infoOf(c).commonName}`).join(', ');
      return [
        finding({
          code: FindingCode.EtcdCaShared,
          severity: 'warning',
          subject: trusted.label,
          symptom: '',
          diagnosis: `${trusted.file} and ${other.label} (${other.file}) hold the same CA key (${names}): every client certificate that CA signs for the apiserver (kubelets, users) is also accepted by etcd, which bypasses RBAC`,
          fix: `give etcd a CA of its own (kpki init writes etcd/ca.crt): point etcd --trusted-ca-file and kube-apiserver --etcd-cafile at it and reissue apiserver-etcd-client and etcd's own certificates from it`,
          files: [trusted.file, other.file],
          cis: '2.7',
        }),
      ];
    });
  },
});

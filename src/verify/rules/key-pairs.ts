import { flagSubject, kubeletServing, type Facts } from '../facts.js';
import type { Finding } from '../findings.js';
import { FindingCode } from '../findings.js';
import { flag } from '../inputs/args.js';
import { defineRule } from '../rule.js';
import { certFromFlag, keyPairFindings } from './common.js';

/** The kubelet's serving pair (tlsCertFile/tlsPrivateKeyFile, or the one PEM its bootstrap keeps), as the kubelet loads it at start. */
function kubeletPair(facts: Facts): Finding[] {
  const serving = kubeletServing(facts.inputs);
  const certs = serving && facts.certificates.get(serving.cert);
  const key = serving?.key ? facts.keys.get(serving.key) : undefined;
  if (!serving || !certs?.length || !key) return [];
  const keyLabel = serving.origin === 'configured' ? 'kubelet tlsPrivateKeyFile' : `kubelet serving key (${serving.key})`;
  return keyPairFindings(
    { label: `kubelet serving certificate (${serving.origin})`, file: serving.cert, certs },
    key,
    serving.key,
    keyLabel,
  );
}

/**
 * Rule: every certificate flag the wiring pairs with a key flag holds that key's certificate, as
 * Go's tls.X509KeyPair demands when the component starts: profile-wired pairs included, and the
 * kubelet's serving pair.
 */
export const keyPairs = defineRule({
  id: 'key-pairs',
  codes: [FindingCode.KeyMismatch],
  check(facts) {
    const { inputs } = facts;
    const components = [inputs.apiserver, inputs.etcd, inputs.controllerManager, inputs.scheduler].flatMap((args) => {
      if (!args || args.component === 'kubelet') return [];
      return inputs.wiring[args.component].flatMap((wired) => {
        const cert = wired.key ? certFromFlag(facts, args, wired.name) : undefined;
        // A signer's file must hold exactly one certificate; the ca-bundles rule reports one that does not.
        if (wired.signs && cert && cert.certs.length > 1) return [];
        const keyFile = wired.key && flag(args, wired.key);
        const key = keyFile ? facts.keys.get(keyFile) : undefined;
        return cert && key ? keyPairFindings(cert, key, keyFile!, flagSubject(args, wired.key!)) : [];
      });
    });
    return [...components, ...kubeletPair(facts)];
  },
});

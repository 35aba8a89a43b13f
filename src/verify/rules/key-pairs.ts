import { flagSubject } from '../facts.js';
import { FindingCode } from '../findings.js';
import { flag } from '../inputs/args.js';
import { defineRule } from '../rule.js';
import { certFromFlag, keyPairFindings } from './common.js';

/**
 * Rule: every certificate flag the wiring pairs with a key flag holds that key's certificate, as
 * Go's tls.X509KeyPair demands when the component starts: profile-wired pairs included.
 */
export const keyPairs = defineRule({
  id: 'key-pairs',
  codes: [FindingCode.KeyMismatch],
  check(facts) {
    const { inputs } = facts;
    return [inputs.apiserver, inputs.etcd, inputs.controllerManager, inputs.scheduler].flatMap((args) => {
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
  },
});

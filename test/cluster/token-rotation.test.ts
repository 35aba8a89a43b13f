/**
 * A cluster's day 2 with every CA key in a SoftHSM token, on the running cluster: the controller
 * manager's csrsigning is off and `kpki signer --watch` signs CSRs (the live gates' throw-away CSR
 * among them) with the token's key; `renew --all`, `ca renew ca` and a full rotation (begin →
 * reissue → finish, the new CA keys made in the token) pass the live gates under the client loop of
 * day2-loop.ts (a real kubelet on the worker), with the restarts each step prints and the signer
 * restarted as reissue says. No CA key file exists at any point.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BackgroundProcess } from '../interop/helpers.js';
import { KPKI_BIN } from '../support/cli.js';
import { parseObjectList, softHsm, TOKEN_PIN } from '../support/softhsm.js';
import { day2OnCluster, type Day2Step } from './day2-loop.js';
import { startCluster, type Cluster } from './harness.js';
import { adminConf, SIGNER_CONTROLLER_MANAGER, TOKEN_CAS } from './live-support.js';

/** CA private key files anywhere in the cluster's tree (there must never be one). */
const caKeyFiles = (c: Cluster) =>
  spawnSync('find', [c.root, '-name', 'ca.key', '-o', '-name', 'front-proxy-ca.key'], { encoding: 'utf8' }).stdout.trim();

describe('day 2 with the CA keys in a PKCS#11 token, on a running cluster', () => {
  it('renew, CA renew and a full rotation through the live gates, kpki signer signing CSRs: no failed routable request, no CA key file', async () => {
    const tokenDir = await mkdtemp(path.join(tmpdir(), 'kpki-token-rotation-'));
    const hsm = await softHsm(tokenDir);
    hsm.initToken('k8s');
    const env = { ...hsm.env, KPKI_PKCS11_PIN: TOKEN_PIN };
    const c = await startCluster({
      keyType: 'ecdsa-p256',
      kubelet: 'offline',
      kpkiEnv: env,
      initArgs: TOKEN_CAS.flatMap((name) => ['--ca-key-uri', `${name}=${hsm.uri('k8s', name)}`]),
      controllerManager: SIGNER_CONTROLLER_MANAGER,
    });
    let signer: BackgroundProcess | undefined;
    const startSigner = async () => {
      await signer?.stop();
      signer = new BackgroundProcess(
        'kpki-signer',
        process.execPath,
        [KPKI_BIN, 'signer', '--watch', '--kubeconfig', adminConf(c), '--cert-dir', c.certDir],
        {
          env,
        },
      );
    };
    try {
      expect(caKeyFiles(c)).toBe('');
      await startSigner();
      const steps: Day2Step[] = [
        { phase: 'renew --all --add-san', args: ['renew', '--all', '--add-san', 'k8s-api-alias.example.test'] },
        { args: ['ca', 'renew', 'ca'] },
        { phase: 'rotate begin', args: ['ca', 'rotate', 'begin', '--service-account'] },
        // reissue says so: the signer loaded the old key (and admin.conf's old credential) at its start.
        { phase: 'rotate reissue', args: ['ca', 'rotate', 'reissue'], after: startSigner },
        { phase: 'rotate finish', args: ['ca', 'rotate', 'finish'] },
      ];
      await day2OnCluster(c, steps);
      expect(caKeyFiles(c)).toBe('');
      // The CAs that sign now are token objects of their own, never extractable; the retired ones are kept (no --purge).
      const keys = parseObjectList(hsm.listObjects('k8s')).filter((o) => o.kind.startsWith('Private Key'));
      for (const name of TOKEN_CAS) expect(keys.filter((k) => k.label.startsWith(`${name}.rotated-`)).length, name).toBe(1);
      for (const key of keys) expect(key.access, key.label).toContain('never extractable');
    } finally {
      await signer?.stop();
      await c.stop();
      await rm(tokenDir, { recursive: true, force: true });
    }
  }, 3_000_000);
});

/**
 * `kpki verify --live` dialing kube-scheduler's secure port where its flags say, as a scraper
 * trusting the cluster CA would. The server here is a TLS listener on loopback serving the files
 * the flags name (the real kube-controller-manager is test/cluster/component-serving.test.ts's).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initPki } from '../../src/commands/init.js';
import type { Finding } from '../../src/verify/findings.js';
import { KPKI_BIN } from '../support/cli.js';
import { selfSigned, serve } from '../support/tls-listeners.js';
import { tempDir } from '../support/tmp.js';

/** `kpki verify --live` over a cert dir and a scheduler flags file; its scheduler findings. Async: the server answers in this process. */
async function schedulerFindings(dir: string, flags: string[]): Promise<Finding[]> {
  const file = path.join(dir, 'scheduler.flags');
  writeFileSync(file, flags.join('\n'));
  const child = spawn(
    process.execPath,
    [KPKI_BIN, 'verify', '--live', '--json', '--cert-dir', path.join(dir, 'pki'), '--scheduler-args', file],
    { env: { ...process.env, NO_COLOR: '1' } },
  );
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  return (JSON.parse(stdout) as { findings: Finding[] }).findings.filter(
    (f) => f.subject.startsWith('kube-scheduler') || f.code === 'COMPONENT_SERVING_SELF_SIGNED',
  );
}

describe('verify --live: kube-scheduler on its secure port', () => {
  it("serving the kpki certificate on 127.0.0.1: nothing to say; on an address it does not name: the scraper's error", async () => {
    const dir = tempDir();
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.11',
      keyType: 'ecdsa-p256',
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
      componentServingCerts: true,
    });
    const pki = (f: string) => path.join(dir, 'pki', f);
    const port = await serve({ cert: pki('scheduler.crt'), key: pki('scheduler.key') });
    const wired = [`--tls-cert-file=${pki('scheduler.crt')}`, `--tls-private-key-file=${pki('scheduler.key')}`, `--secure-port=${port}`];
    expect(await schedulerFindings(dir, ['--bind-address=127.0.0.1', ...wired])).toEqual([]);
    // Bound to every address: dialed on loopback, as a node-local scraper does.
    expect(await schedulerFindings(dir, ['--bind-address=0.0.0.0', ...wired])).toEqual([]);
    // Served with another certificate than the flag names: the running one is stale.
    const other = await serve({ cert: pki('controller-manager.crt'), key: pki('controller-manager.key') });
    const stale = await schedulerFindings(dir, [
      '--bind-address=127.0.0.1',
      `--tls-cert-file=${pki('scheduler.crt')}`,
      `--tls-private-key-file=${pki('scheduler.key')}`,
      `--secure-port=${other}`,
    ]);
    expect(stale.map((f) => f.code)).toEqual(['SERVING_CERT_STALE']);
  });

  it("without --tls-cert-file, serving a self-signed certificate: COMPONENT_SERVING_SELF_SIGNED with the scraper's error", async () => {
    const dir = tempDir();
    await initPki({
      nodeName: 'cp1',
      advertiseAddress: '10.0.0.11',
      keyType: 'ecdsa-p256',
      certDir: path.join(dir, 'pki'),
      kubeconfigDir: dir,
    });
    // What kube-scheduler makes up without --tls-cert-file: its own certificate for localhost and 127.0.0.1.
    const port = await serve(selfSigned(dir));
    const found = await schedulerFindings(dir, ['--bind-address=127.0.0.1', `--secure-port=${port}`]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      code: 'COMPONENT_SERVING_SELF_SIGNED',
      severity: 'warning',
      subject: `kube-scheduler at https://127.0.0.1:${port}`,
    });
    expect(found[0]!.symptom).toBe(`Get "https://127.0.0.1:${port}/metrics": x509: certificate signed by unknown authority`);
    expect(found[0]!.fix).toContain('kpki flags scheduler --component-serving-certs');
  });
});

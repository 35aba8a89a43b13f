/**
 * kube-controller-manager v1.20.2 serving the certificate `kpki init --component-serving-certs`
 * issued: a client trusting only ca.crt verifies it by name (Node's https, openssl s_client), and
 * `kpki verify --live` agrees — and reports the controller manager running without it, when it
 * serves the self-signed certificate it makes up in memory (kubernetes/kubeadm#2244).
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { x509 } from '../../src/pki/crypto.js';
import { probe } from '../../src/live/probe.js';
import { requireTool, run } from '../interop/helpers.js';
import { useCluster, type Cluster } from './harness.js';
import { nodeInputs, verifyLive } from './live-support.js';

const { live } = useCluster();

/** Where the controller manager listens: its flags file, as the process got it. */
function kcmEndpoint(c: Cluster): { host: string; port: number } {
  const flags = readFileSync(c.flagsFile('kube-controller-manager'), 'utf8');
  const value = (name: string) => new RegExp(`^--${name}=(.*)$`, 'm').exec(flags)?.[1];
  return { host: value('bind-address')!, port: Number(value('secure-port')) };
}

/** GET /healthz trusting only ca.crt, with Node's check of the dialed address against the certificate. */
function trustedGet(c: Cluster): Promise<{ status?: number; error?: string }> {
  const { host, port } = kcmEndpoint(c);
  return new Promise((resolve) => {
    const request = https.request(
      { host, port, path: '/healthz', ca: readFileSync(c.nodes.cp1.pki('ca.crt')), agent: false, timeout: 10_000 },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode }));
      },
    );
    request.on('error', (error) => resolve({ error: error.message }));
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.end();
  });
}

/** openssl s_client trusting only ca.crt, failing unless the chain and the name verify. */
async function sClient(c: Cluster, check: string[]) {
  const { host, port } = kcmEndpoint(c);
  return run(
    requireTool('openssl'),
    ['s_client', '-connect', `${host}:${port}`, '-CAfile', c.nodes.cp1.pki('ca.crt'), '-verify_return_error', ...check],
    { input: '', timeoutMs: 15_000 },
  );
}

describe('kube-controller-manager serves the kpki serving certificate', () => {
  it('the served certificate is the file kpki wrote, and a client trusting only ca.crt verifies it by address', async () => {
    const c = live();
    const { host, port } = kcmEndpoint(c);
    const served = await probe({ host, port, path: '/healthz', timeoutMs: 10_000 });
    const onDisk = new x509.X509Certificate(readFileSync(c.nodes.cp1.pki('controller-manager.crt'), 'utf8'));
    expect(Buffer.from(served.served![0]!.rawData).equals(Buffer.from(onDisk.rawData))).toBe(true);

    expect(await trustedGet(c)).toEqual({ status: 200 });
    const ok = await sClient(c, ['-verify_ip', host]);
    expect(ok.stdout, ok.stderr).toContain('Verify return code: 0 (ok)');
    // The same client refuses a name the certificate does not carry: the check above can fail.
    const wrongName = await sClient(c, ['-verify_hostname', 'not-the-node.example']);
    expect(wrongName.code).not.toBe(0);
    expect(wrongName.stdout + wrongName.stderr).toMatch(/hostname mismatch/);
  });

  it('kpki verify --live dials it and finds nothing to say', async () => {
    const c = live();
    const { host, port } = kcmEndpoint(c);
    const { findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
    expect(findings.filter((f) => f.subject.startsWith('kube-controller-manager') || f.code === 'COMPONENT_SERVING_SELF_SIGNED')).toEqual(
      [],
    );
    // It did dial: the endpoint is in no UNCHECKED finding either.
    expect(findings.filter((f) => f.subject.includes(`${host}:${port}`))).toEqual([]);
  });

  it('started without --tls-cert-file it serves a self-signed certificate: verify --live and offline verify say so', async () => {
    const c = live();
    const { host, port } = kcmEndpoint(c);
    await c.restart('kube-controller-manager', 'cp1', { 'tls-cert-file': null, 'tls-private-key-file': null });
    try {
      const untrusted = await trustedGet(c);
      expect(untrusted.error).toMatch(/self[- ]signed certificate|unable to verify|IP: .* is not in the cert's list/);
      const { code, findings } = await verifyLive(c, nodeInputs(c, 'cp1'));
      const selfSigned = findings.filter((f) => f.code === 'COMPONENT_SERVING_SELF_SIGNED');
      expect(selfSigned).toHaveLength(1);
      expect(selfSigned[0]).toMatchObject({
        severity: 'warning',
        subject: `kube-controller-manager at https://${host}:${port}`,
        files: [c.flagsFile('kube-controller-manager')],
      });
      expect(selfSigned[0]!.symptom).toMatch(new RegExp(`^Get "https://${host.replace(/\./g, '\\.')}:${port}/metrics": x509: `));
      expect(selfSigned[0]!.fix).toContain('kpki flags controller-manager --component-serving-certs');
      expect(code).toBe(findings.some((f) => f.severity === 'error') ? 1 : 0);
      // Offline, with the node's cert dir: the issued pair is there, the flags do not name it.
      const offline = await c.kpki([
        'verify',
        '--json',
        '--cert-dir',
        path.join(c.nodes.cp1.dir, 'pki'),
        '--controller-manager-args',
        c.flagsFile('kube-controller-manager'),
      ]);
      const missing = (JSON.parse(offline.stdout) as { findings: { code: string; subject: string; severity: string }[] }).findings.filter(
        (f) => f.code === 'FLAG_MISSING',
      );
      expect(missing.map((f) => [f.subject, f.severity])).toEqual([
        ['kube-controller-manager --tls-cert-file', 'warning'],
        ['kube-controller-manager --tls-private-key-file', 'warning'],
      ]);
    } finally {
      await c.restart('kube-controller-manager', 'cp1');
    }
    expect(await trustedGet(c)).toEqual({ status: 200 });
  });
});

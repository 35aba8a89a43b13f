/**
 * `kpki verify --live` checks the inputs `kpki verify` checks, assembled once: the same components
 * with the same flags, the same kubelet, the same PKI directory. Before, --live gathered them again
 * on its own and saw other components than the offline checks reported.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verify, verifyLive } from '../../src/commands/verify.js';
import { KpkiError } from '../../src/errors.js';
import type { Finding } from '../../src/verify/findings.js';
import { kpki, kpkiAsync } from '../support/cli.js';
import { selfSigned, serve } from '../support/tls-listeners.js';
import { tempDir } from '../support/tmp.js';

/** A port nothing listens on: one the kernel handed out and took back. */
async function closedPort(): Promise<number> {
  const server = https.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `kpki verify --live --json ARGS` run beside this process's listeners: exit code, components checked, findings. */
async function live(args: string[]): Promise<{ status: number | null; components: string[]; findings: Finding[] }> {
  const r = await kpkiAsync(['verify', '--live', '--live-timeout', '2s', '--json', ...args]);
  expect([0, 1], r.stderr).toContain(r.status);
  const result = JSON.parse(r.stdout) as { findings: Finding[]; checked: { components: Record<string, string> } };
  return { status: r.status, components: Object.keys(result.checked.components), findings: result.findings };
}

const subjects = (findings: Finding[], prefix: string) => findings.filter((f) => f.subject.startsWith(prefix));

describe('verify --live sees the components verify checks', () => {
  it("a node copy given one component's flags: its manifests are not read by either, and the scheduler is verified with the node's CA", async () => {
    const dir = tempDir('kpki-live-inputs-');
    const root = path.join(dir, 'node');
    expect(
      kpki([
        'init',
        '--key-type',
        'ecdsa-p256',
        '--node-name',
        'cp1',
        '--advertise-address',
        '127.0.0.1',
        '--cert-dir',
        path.join(root, 'etc/kubernetes/pki'),
        '--kubeconfig-dir',
        path.join(root, 'etc/kubernetes'),
      ]).status,
    ).toBe(0);
    // The copy's manifests name an apiserver; --scheduler-args says what is checked instead.
    const manifests = path.join(root, 'etc/kubernetes/manifests');
    mkdirSync(manifests, { recursive: true });
    const apiserverPort = await closedPort();
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'kube-apiserver' },
      spec: {
        containers: [
          { name: 'kube-apiserver', command: ['kube-apiserver', '--advertise-address=127.0.0.1', `--secure-port=${apiserverPort}`] },
        ],
      },
    };
    writeFileSync(path.join(manifests, 'kube-apiserver.yaml'), JSON.stringify(pod));
    const schedulerPort = await serve(selfSigned(dir));
    const flags = path.join(dir, 'scheduler.flags');
    writeFileSync(flags, `--bind-address=127.0.0.1\n--secure-port=${schedulerPort}\n`);

    const { components, findings } = await live(['--root', root, '--scheduler-args', flags]);
    expect(components).toEqual(['scheduler']);
    expect(subjects(findings, 'kube-apiserver at')).toEqual([]);
    // Dialed and judged against the copy's ca.crt, as the offline checks read that PKI.
    expect(subjects(findings, 'kube-scheduler at').map((f) => [f.code, f.subject])).toEqual([
      ['COMPONENT_SERVING_SELF_SIGNED', `kube-scheduler at https://127.0.0.1:${schedulerPort}`],
    ]);
  });

  it('a node of a cluster kpki wrote, through --root: the apiserver and kubelet its record describes are dialed, as verify checks them', async () => {
    const dir = tempDir('kpki-live-node-');
    const other = path.join(dir, 'other');
    expect(
      kpki([
        'init',
        '--key-type',
        'ecdsa-p256',
        '--node-name',
        'x',
        '--advertise-address',
        '127.0.0.1',
        '--cert-dir',
        path.join(other, 'pki'),
        '--kubeconfig-dir',
        other,
      ]).status,
    ).toBe(0);
    // An address of the node's own, with another PKI's apiserver certificate listening on kubeadm's port.
    let address = '';
    for (let trial = 0; trial < 20 && !address; trial++) {
      const candidate = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
      address = await serve(
        { cert: path.join(other, 'pki/apiserver.crt'), key: path.join(other, 'pki/apiserver.key') },
        candidate,
        6443,
      ).then(
        () => candidate,
        () => '',
      );
    }
    expect(address).not.toBe('');
    const cluster = path.join(dir, 'cluster');
    mkdirSync(cluster);
    const init = kpki(['init', '--key-type', 'ecdsa-p256', '--control-plane-nodes', `cp1=${address}`], { cwd: cluster });
    expect(init.status, init.stderr).toBe(0);

    const { components, findings } = await live(['--root', path.join(cluster, 'nodes/cp1')]);
    expect(components).toEqual(['apiserver', 'etcd', 'controller-manager', 'scheduler', 'kubelet']);
    // It serves another certificate than the node's apiserver.crt, not valid for the node's address.
    expect(subjects(findings, 'kube-apiserver at').map((f) => [f.code, f.subject])).toEqual([
      ['SAN_MISSING', `kube-apiserver at https://${address}:6443`],
      ['SERVING_CERT_STALE', `kube-apiserver at https://${address}:6443`],
    ]);
    expect(subjects(findings, 'kubelet at').map((f) => f.subject)).toEqual([`kubelet at https://${address}:10250`]);
  });

  it('refuses what verify refuses, before any connection: a manifests directory without control-plane manifests', async () => {
    const empty = tempDir('kpki-no-manifests-');
    const options = { manifestsDir: empty, timeout: '2s' };
    const offline = await verify(options).catch((error: unknown) => error);
    const withLive = await verifyLive(options).catch((error: unknown) => error);
    expect(offline).toBeInstanceOf(KpkiError);
    expect(withLive).toEqual(offline);
    expect((withLive as KpkiError).message).toContain('holds no control-plane static pod manifests');
  });
});

/**
 * The live gates of `kpki ca rotate` on the stacked shape (etcd on cp1, two apiservers, the
 * controller manager on cp1): the missed step of issue 19 (after begin, the controller manager
 * restarted with its signing flag still naming the two-certificate ca.crt, so it exits and never
 * republishes kube-root-ca.crt) refuses reissue with nothing written and names the controller
 * manager, kube-root-ca.crt and a legacy token Secret; a cluster-info ConfigMap is named until it
 * holds the new CA; finish before the reissue restarts names every component still serving an
 * old-CA certificate. Each refusal goes away once the named fix is made, and the step proceeds.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Restart } from '../../src/plan/restart.js';
import { startCluster, waitUntil, type Cluster, type Host, type NodeName } from './harness.js';

interface GateFinding {
  code: string;
  subject: string;
  diagnosis: string;
  fix: string;
}

/** Every trust and key file kpki manages in the cluster's tree, by bytes: what a refusal must leave alone. */
function pkiFiles(c: Cluster): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      const stat = statSync(file);
      if (stat.isDirectory()) walk(file);
      else if (stat.isFile()) out.set(path.relative(c.root, file), readFileSync(file, 'base64'));
    }
  };
  walk(c.certDir);
  for (const node of readdirSync(path.join(c.root, 'nodes'))) {
    walk(path.join(c.root, 'nodes', node, 'etc/kubernetes'));
    walk(path.join(c.root, 'nodes', node, 'var/lib/kubelet/pki'));
  }
  for (const name of readdirSync(c.root).filter((n) => n.endsWith('.conf') || n.endsWith('.json')))
    out.set(name, readFileSync(path.join(c.root, name), 'base64'));
  return out;
}

describe('rotation gates on a running cluster', () => {
  it('refuse a step the cluster has not caught up with, name each lagging object, and let it proceed once fixed', async () => {
    const c = await startCluster({ keyType: 'ecdsa-p256' });
    try {
      const kubectl = async (args: string[], input?: string) => {
        const r = await c.kubectl(c.superAdmin, args, input);
        if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const day2 = ['--cert-dir', c.certDir, '--kubeconfig-dir', c.root, '--etcd-servers', c.etcdUrl, '--json'];
      const rotate = async (step: string) => {
        const r = await c.kpki(['ca', 'rotate', step, ...(step === 'status' ? ['--live'] : []), ...day2]);
        const out = JSON.parse(r.stdout || '{}') as {
          restart?: Restart[];
          error?: { findings?: GateFinding[]; timings?: Record<string, number> };
          gates?: { report?: { findings: GateFinding[]; timings: Record<string, number> } };
        };
        // npm run bench (bench/gate-bench.mjs) reports how long each gate took.
        const timings = out.error?.timings ?? out.gates?.report?.timings;
        if (process.env.KPKI_GATE_TIMINGS && timings)
          appendFileSync(process.env.KPKI_GATE_TIMINGS, `${JSON.stringify({ step, refused: r.code !== 0, timings })}\n`);
        return {
          code: r.code,
          stderr: r.stderr,
          restart: out.restart ?? [],
          findings: out.error?.findings ?? out.gates?.report?.findings ?? [],
        };
      };
      const subjects = (findings: GateFinding[]) => findings.map((f) => `${f.code} ${f.subject}`);
      /** `status --live` until it finds nothing (the controller manager republishes within seconds), bounded. */
      const caughtUp = async () => {
        let last: GateFinding[] = [];
        await waitUntil(
          'status --live clean',
          90_000,
          async () => (last = (await rotate('status')).findings).length === 0,
          () => subjects(last).join('\n'),
        );
      };
      let kcmFlags: Record<string, string> = {};
      /** The plan's restarts that the harness runs (etcd and the apiservers, the controller manager on cp1), one at a time. */
      const restartAsPlanned = async (restart: Restart[], options: { signerFlag: boolean }) => {
        for (const { node, component, flags } of restart) {
          if (component === 'kube-apiserver') await c.restart('kube-apiserver', node as NodeName);
          else if (component === 'etcd' && c.etcdMembers.some((m) => m.name === node)) await c.restart('etcd', node as Host);
          else if (component === 'kube-controller-manager' && node === 'cp1') {
            if (flags && options.signerFlag)
              kcmFlags = Object.fromEntries(Object.entries(flags).map(([name, value]) => [name, path.join(c.root, 'nodes', node, value)]));
            // Without the signer flag 1.20 exits at start ("expected 1 certificate, found 2"): nothing to wait for.
            await c.restart('kube-controller-manager', 'cp1', kcmFlags, { waitReady: options.signerFlag });
          }
        }
      };

      // A legacy token Secret, signed and given ca.crt by the token controller before the rotation
      // (for a service account the controller knows: it deletes token Secrets of unknown ones).
      await waitUntil(
        'service account default/default with its token',
        60_000,
        async () => (await kubectl(['-n', 'default', 'get', 'serviceaccount', 'default', '-o', 'jsonpath={.secrets[0].name}'])).length > 0,
      );
      await kubectl(
        ['apply', '-f', '-'],
        'apiVersion: v1\nkind: Secret\nmetadata: {name: legacy, namespace: default, annotations: {kubernetes.io/service-account.name: default}}\ntype: kubernetes.io/service-account-token\n',
      );
      await waitUntil(
        'the legacy token Secret filled',
        60_000,
        async () => (await kubectl(['-n', 'default', 'get', 'secret', 'legacy', '-o', 'jsonpath={.data.ca\\.crt}'])).length > 0,
      );
      // cluster-info as kubeadm publishes it: a kubeconfig with the cluster CA.
      const clusterInfo = async () => {
        const kubeconfig = path.join(await c.scratch('cluster-info'), 'kubeconfig');
        const ca = readFileSync(path.join(c.certDir, 'ca.crt')).toString('base64');
        writeFileSync(
          kubeconfig,
          `apiVersion: v1\nkind: Config\nclusters:\n- name: ""\n  cluster:\n    certificate-authority-data: ${ca}\n    server: ${c.endpoint}\ncontexts: []\nusers: []\n`,
        );
        const manifest = await kubectl([
          '-n',
          'kube-public',
          'create',
          'configmap',
          'cluster-info',
          `--from-file=kubeconfig=${kubeconfig}`,
          '--dry-run=client',
          '-o',
          'yaml',
        ]);
        await kubectl(['apply', '-f', '-'], manifest);
      };
      await clusterInfo();

      const begun = await rotate('begin');
      expect(begun.code, begun.stderr).toBe(0);
      // The operator restarts as printed but misses the controller manager's flag change.
      await restartAsPlanned(begun.restart, { signerFlag: false });

      const before = pkiFiles(c);
      const refused = await rotate('reissue');
      expect(refused.code, refused.stderr).toBe(1);
      expect(pkiFiles(c)).toEqual(before);
      const named = subjects(refused.findings);
      expect(named).toContain('SIGNER_NOT_READY kube-controller-manager (CSR signing)');
      expect(named).toContain('TRUST_NOT_PROPAGATED ConfigMap default/kube-root-ca.crt');
      // The legacy token Secret is named exactly when its ca.crt lacks the new CA: the 1.20 controller
      // manager starts its token controller before the signer that makes it exit, so it may have
      // rewritten ca.crt (from the new two-CA ca.crt) in the moment it ran.
      const legacyCa = Buffer.from(
        await kubectl(['-n', 'default', 'get', 'secret', 'legacy', '-o', 'jsonpath={.data.ca\\.crt}']),
        'base64',
      ).toString();
      const legacyHasNew = (legacyCa.match(/BEGIN CERTIFICATE/g) ?? []).length === 2;
      expect(
        named.includes('TRUST_NOT_PROPAGATED Secret default/legacy'),
        `legacy Secret holds ${legacyHasNew ? 'both CAs' : 'the old CA only'}`,
      ).toBe(!legacyHasNew);
      expect(named).toContain('TRUST_NOT_PROPAGATED ConfigMap kube-public/cluster-info');
      // Nothing else lags: the apiservers and etcd reloaded their trust.
      expect(named.filter((s) => !/kube-controller-manager|kube-root-ca\.crt|^TRUST_NOT_PROPAGATED Secret |cluster-info/.test(s))).toEqual(
        [],
      );
      expect(refused.findings.find((f) => f.code === 'SIGNER_NOT_READY')!.fix).toContain(
        '--cluster-signing-cert-file=/etc/kubernetes/pki/ca-signer.crt',
      );
      expect(refused.stderr).toContain('nothing was written');

      // The flag changed and the controller manager restarted: it republishes kube-root-ca.crt and
      // rewrites token Secrets' ca.crt; cluster-info, which nothing in the cluster updates, is still named.
      await restartAsPlanned(
        begun.restart.filter((r) => r.component === 'kube-controller-manager'),
        { signerFlag: true },
      );
      let left: GateFinding[] = [];
      await waitUntil(
        'only cluster-info left',
        90_000,
        async () => {
          left = (await rotate('status')).findings;
          return left.length === 1;
        },
        () => subjects(left).join('\n'),
      );
      expect(subjects(left)).toEqual(['TRUST_NOT_PROPAGATED ConfigMap kube-public/cluster-info']);
      expect((await rotate('reissue')).code).toBe(1);
      await clusterInfo();
      await caughtUp();
      const reissued = await rotate('reissue');
      expect(reissued.code, reissued.stderr).toBe(0);

      // finish before the reissue restarts: each server still serving an old-CA certificate is named.
      // etcd is not: it reads its certificate files at every handshake, so it serves the reissued one at once.
      const early = await rotate('finish');
      expect(early.code, early.stderr).toBe(1);
      expect(
        subjects(early.findings)
          .filter((s) => s.startsWith('SERVING_NOT_RELOADED'))
          .sort(),
      ).toEqual([
        `SERVING_NOT_RELOADED kube-apiserver on cp1 (${c.nodes.cp1.url})`,
        `SERVING_NOT_RELOADED kube-apiserver on cp2 (${c.nodes.cp2.url})`,
      ]);
      expect(subjects(early.findings)).toContain('SIGNER_NOT_READY kube-controller-manager (CSR signing)');
      await restartAsPlanned(reissued.restart, { signerFlag: true });
      await caughtUp();
      const finished = await rotate('finish');
      expect(finished.code, finished.stderr).toBe(0);
      expect((await rotate('status')).findings).toEqual([]);
    } finally {
      await c.stop();
    }
  }, 1_500_000);
});

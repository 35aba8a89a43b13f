/**
 * The restart plan a rotation step prints and the live gates of the step after it are one list:
 * the gates dial exactly the components the plan names, on the same nodes, and when one of those
 * restarts did not happen, the finding's fix is the plan's own line for it (node, component, and
 * the flag as the node's manifest names its file), in the plan's order.
 */
import path from 'node:path';
import kleur from 'kleur';
import { beforeAll, describe, expect, it } from 'vitest';
import { gateInputs } from '../../src/commands/rotate.js';
import { readLayoutFiles } from '../../src/commands/layout-files.js';
import { rotateCa } from '../../src/commands/rotation.js';
import { judgeGates, type GateFacts, type ServerFacts } from '../../src/live/gate-judgement.js';
import { restartFix } from '../../src/live/gates.js';
import { rotationIn } from '../../src/model/rotation.js';
import { restartLine, type Restart } from '../../src/plan/restart.js';
import { renderRestarts } from '../../src/render/day2.js';
import { observeLayout } from '../../src/store/layout.js';
import { makeCluster } from '../integration/day2-support.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir();
const at = () => ({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir });
const plans = new Map<string, Restart[]>();

beforeAll(async () => {
  await makeCluster(dir);
  // Offline: the phases' own plans, as kpki ca rotate --offline prints them.
  for (const step of ['begin', 'reissue'] as const) plans.set(step, (await rotateCa({ ...at(), step }, async () => [])).restart);
}, 120_000);

/** The gates of `next` over the tree as the step before it left it, and facts in which every restart the plan named was skipped. */
async function skippedEverything(next: 'reissue' | 'finish', plan: Restart[]) {
  const layout = await observeLayout(at());
  const snapshot = await readLayoutFiles(layout);
  const state = rotationIn(snapshot, layout.signing.certDir);
  const inputs = gateInputs(next, layout, snapshot, state, {});
  const server = (component: ServerFacts['component'], ca: ServerFacts['ca'], node: string | undefined): ServerFacts => ({
    component,
    node,
    url: 'https://192.0.2.1:1',
    ca,
    // Not restarted: it serves and trusts what it read before the step.
    serves: 'old',
    accepts: { old: true, new: false },
    restart: restartFix(component, node),
  });
  const facts: GateFacts = {
    servers: [
      ...inputs.apiservers.map((t) => server('kube-apiserver', 'cluster', t.node)),
      ...inputs.etcd.map((t) => server('etcd', 'etcd', t.node)),
    ],
    signer: { notSigned: 'CSR approved but not signed' },
    bundles: [],
    namespacesWithoutRootCa: [],
    nodes: plan.filter((r) => r.component === 'kubelet').map((r) => ({ name: r.node, ready: false, heartbeatAge: undefined })),
    unread: [],
    rotated: inputs.rotated,
    controllerManagers: inputs.controllerManagers,
  };
  return { inputs, findings: judgeGates(next, state!.phase, facts) };
}

describe("a step's restart plan is what the next step's gates check", () => {
  it.each([
    ['begin', 'reissue'],
    ['reissue', 'finish'],
  ] as const)('%s → the gates of %s', async (step, next) => {
    const plan = plans.get(step)!;
    const { inputs, findings } = await skippedEverything(next, plan);
    const nodesOf = (component: string) => plan.filter((r) => r.component === component).map((r) => r.node);

    // The gates dial the components the plan restarts, on the same nodes, in the same order.
    expect(inputs.apiservers.map((t) => t.node)).toEqual(nodesOf('kube-apiserver'));
    expect(inputs.etcd.map((t) => t.node)).toEqual(nodesOf('etcd'));
    expect(inputs.controllerManagers).toEqual(
      plan.filter((r) => r.component === 'kube-controller-manager').map(({ node, component, flags }) => ({ node, component, flags })),
    );
    // Each controller manager restarts with the signer file as the node's manifest names it.
    for (const r of inputs.controllerManagers)
      expect(r.flags).toEqual({ 'cluster-signing-cert-file': '/etc/kubernetes/pki/ca-signer.crt' });
    expect(nodesOf('kubelet').every((node) => inputs.kubelets.has(node))).toBe(true);

    // Printed as numbered lines, each the plan's line for its restart.
    kleur.enabled = false;
    const printed = renderRestarts(plan);
    plan.forEach((r, i) => expect(printed).toContain(`  ${i + 1}. ${restartLine(r)}\n`));

    // Every skipped restart is named by a finding's fix in the plan's words, but the scheduler's:
    // it serves nothing the gates dial and its client certificate does not show in the API.
    const fixes = findings.map((f) => f.fix);
    const named = (r: Restart) => fixes.some((fix) => fix.includes(restartLine(r)));
    expect(plan.filter((r) => !named(r)).map((r) => restartLine(r))).toEqual(
      plan.filter((r) => r.component === 'kube-scheduler').map((r) => restartLine(r)),
    );
    // No fix names a restart the plan did not print.
    for (const fix of fixes)
      expect(
        plan.some((r) => fix.includes(restartLine(r))),
        fix,
      ).toBe(true);
    // The controller managers' fix lists them in the plan's order.
    const signerFix = findings.find((f) => f.code === 'SIGNER_NOT_READY')!.fix;
    const positions = inputs.controllerManagers.map((r) => signerFix.indexOf(restartLine(r)));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });
});

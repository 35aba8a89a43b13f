import path from 'node:path';
import type { Layout, LayoutLocation } from '../model/layout.js';
import { ROTATION_DIR, rotationIn, tokenKeyRef, type RotateStep, type RotationState } from '../model/rotation.js';
import type { TokenCas } from '../plan/trust.js';
import type { RotateOptions, RotateResult } from '../plan/rotation.js';
import type { VerifyOptions } from '../verify/options.js';
import { ErrorCode, KpkiError } from '../errors.js';
import { DEFAULTS } from '../model/defaults.js';
import { caAliases, kubeletPkiEntries } from '../model/profile.js';
import { etcdServers, primaryAddress } from '../model/topology.js';
import { httpsUrl } from '../model/net.js';
import type { Observed } from '../model/files.js';
import type { KeyObject } from '../pki/keys.js';
import { parseCertificates, parseKey } from '../pki/pem.js';
import { CA_KINDS, type CaKind, type GateFinding, type GatePhase, type Side } from '../live/gate-judgement.js';
import { checkGates, type GateCa, type GateInputs, type GateReport, type GateTarget } from '../live/gates.js';
import { timeoutMs } from '../live/timeout.js';
import { signerFlags } from '../plan/restart.js';
import { observeLayout } from '../store/layout.js';
import { readLayoutFiles } from './layout-files.js';
import { rotateCa as rotateWith, type CheckBeforeWriting } from './rotation.js';
import { verify } from './verify.js';
import { nodeContext } from './verify-cluster.js';

/** How verify checks one location of a day-2 layout: a cluster node as the record describes it, the shared set as the shared set. */
function verifyOptionsOf(location: LayoutLocation, layout: Layout): VerifyOptions {
  const record = layout.record?.data;
  const node = record?.nodes.find((n) => n.name === location.node);
  const profile = record?.settings.profile;
  if (record && node && location.root) return { root: location.root, node: nodeContext(record, node), profile };
  const dirs = { certDir: location.certDir, kubeconfigDir: location.kubeconfigDir };
  return location.role === 'shared' ? { ...dirs, node: { role: 'shared' }, profile } : dirs;
}

/**
 * Refuses to change anything while verify finds errors anywhere the rotation writes: the shared
 * set, every control plane, every external etcd member (where the etcd CA's trust and leaves
 * live; control planes hold only etcd/ca.crt and their etcd client certificate) and every worker.
 * Abort runs unchecked: it is the way back from whatever state the files are in.
 */
export const verifyBeforeWriting: CheckBeforeWriting = async ({ step, layout }) => {
  if (step === 'abort' || step === 'ca-renew') return [];
  for (const location of layout.locations) {
    const { findings } = await verify(verifyOptionsOf(location, layout));
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const where = location.node && location.node !== 'local' ? `node ${location.node} (${location.role})` : location.certDir;
      const see = location.root
        ? `kpki verify --root ${location.root}`
        : `kpki verify --cert-dir ${location.certDir} --kubeconfig-dir ${location.kubeconfigDir}`;
      throw new KpkiError(
        ErrorCode.StaleFile,
        `verify finds ${errors.length} error(s) in ${where}: ${errors[0]!.subject}: ${errors[0]!.diagnosis}`,
        {
          subject: location.root ?? location.certDir,
          hint: `nothing was changed; see ${see} and fix them first`,
        },
      );
    }
  }
  return [];
};

/** How the live gates run: `offline` skips them (said in the result). */
export interface GateOptions {
  offline?: boolean;
  /** The kubeconfig to read the cluster with; default the layout's admin.conf, then super-admin.conf. */
  adminKubeconfig?: string;
  /** Where etcd serves its clients; default every member kpki-cluster.json names, at :2379. */
  etcdServers?: string[];
  /** Bound on each connection (default DEFAULTS.liveTimeout). */
  timeout?: string;
  /** For status: also run the next step's gates (read-only). */
  live?: boolean;
}

/** What the gates did for this run: skipped (offline), or checked with what they found. */
export interface GateSummary {
  checked: boolean;
  /** Why nothing was checked, when so. */
  note: string | undefined;
  report: GateReport | undefined;
}

export type RotateCaResult = RotateResult & { gates: GateSummary };

/** A step refused by its gates: exit 1, nothing written; `--json` lists every finding. */
export class GateRefusal extends KpkiError {
  constructor(readonly report: GateReport) {
    const lines = report.findings.map((f) => `  ${f.code} ${f.subject}: ${f.diagnosis}; fix: ${f.fix}`);
    // The findings follow the one line that says what happened, each with its fix.
    super(
      ErrorCode.ClusterRefused,
      `kpki ca rotate ${report.step} refused: ${report.findings.length} finding(s) in the live cluster (phase ${report.phase}); nothing was written. Fix each as it says and run the step again (kpki ca rotate status --live shows the same checks; --offline skips them):\n${lines.join('\n')}`,
      {
        subject: report.kubeconfig ?? 'the cluster',
      },
    );
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      step: this.report.step,
      phase: this.report.phase,
      findings: this.report.findings,
      timings: this.report.timings,
    };
  }
}

/** The kubeconfigs the gates read the cluster with, in order: admin.conf, then super-admin.conf. */
const ADMIN_IDENTITIES = ['admin', 'super-admin'];

const OFFLINE_NOTE = 'the live cluster was not checked (--offline): make sure every restart of the previous phase took effect';

/** Each CA's old and new material, as the snapshot holds it; a CA the rotation does not cover is `old` on both sides. */
function gateCas(layout: Layout, snapshot: Observed, state: RotationState | undefined, tokens?: TokenCas): GateInputs['cas'] {
  const aliases = caAliases(layout.profile);
  const certDir = layout.signing.certDir;
  // A key in a token: the URI kpki-pkcs11.json names (the current CA) or a rotation side's reference file.
  const read = (crt: string, key: string, tokenUri?: string): GateCa | undefined => {
    const data = snapshot.get(crt);
    const keyData = snapshot.get(key);
    const inToken = tokenUri && tokens?.keys.get(tokenUri)?.key;
    return data && { cert: parseCertificates(data, crt)[0]!, key: inToken || (keyData && parseKey(keyData, key)) };
  };
  const cas = {} as GateInputs['cas'];
  for (const kind of CA_KINDS) {
    const file = aliases.get(kind)!;
    const entry = layout.profile.certificates.find((c) => c.file === file)!;
    const current = read(path.join(certDir, `${file}.crt`), path.join(certDir, `${file}.key`), tokens?.uris.get(entry.name));
    const side = (s: Side) =>
      read(
        path.join(certDir, ROTATION_DIR, s, `${file}.crt`),
        path.join(certDir, ROTATION_DIR, s, `${file}.key`),
        snapshot
          .get(path.join(certDir, ROTATION_DIR, s, tokenKeyRef(file)))
          ?.toString('utf8')
          .trim(),
      );
    const rotated = state?.cas.includes(entry.name);
    const old = (rotated && side('old')) || current;
    if (!old)
      throw new KpkiError(ErrorCode.MissingFile, `${path.join(certDir, `${file}.crt`)}: the ${kind} CA is missing`, {
        subject: path.join(certDir, `${file}.crt`),
      });
    cas[kind] = { old, new: (rotated && side('new')) || old };
  }
  return cas;
}

function saKeys(layout: Layout, snapshot: Observed, state: RotationState | undefined): Record<Side, KeyObject> | undefined {
  if (!state?.serviceAccount) return undefined;
  const read = (side: Side) => {
    const file = path.join(layout.signing.certDir, ROTATION_DIR, side, `${layout.profile.keyPairs[0]!.file}.key`);
    const data = snapshot.get(file);
    return data && parseKey(data, file);
  };
  const [old, fresh] = [read('old'), read('new')];
  return old && fresh ? { old, new: fresh } : undefined;
}

/** Every control plane's apiserver at its advertise address; a single PKI's at admin.conf's server. */
function apiserverTargets(layout: Layout): GateTarget[] {
  const record = layout.record?.data;
  if (!record) return [];
  const port = Number(record.settings.bindPort ?? DEFAULTS.bindPort);
  return record.nodes.filter((n) => n.role === 'control-plane').map((n) => ({ node: n.name, url: httpsUrl(primaryAddress(n), port) }));
}

function etcdTargets(layout: Layout, given: string[] | undefined): GateTarget[] {
  const record = layout.record?.data;
  const urls = given?.length ? given : record ? etcdServers(record.nodes, record.topology) : [];
  const nodeAt = (url: string) => {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return record?.nodes.find((n) => n.addresses.includes(host))?.name;
  };
  return urls.map((url) => ({ node: nodeAt(url), url }));
}

/** The gate a rotation step runs before writing: every check of live/gates.ts, refusing on any finding. */
function liveGate(options: GateOptions, onReport: (report: GateReport) => void) {
  return async (step: RotateStep, layout: Layout, snapshot: Observed, state: RotationState | undefined, tokens?: TokenCas) => {
    const report = await checkGates(gateInputs(step, layout, snapshot, state, options, tokens));
    onReport(report);
    if (step !== 'status' && report.findings.length) throw new GateRefusal(report);
  };
}

/**
 * What a step's gates check, from the layout it decided over: every control plane's apiserver and
 * controller manager, every etcd member, every node's kubelet — the components the previous
 * step's restart plan named, on the same nodes (test/unit/restart-gates.test.ts ties the two).
 */
export function gateInputs(
  step: RotateStep,
  layout: Layout,
  snapshot: Observed,
  state: RotationState | undefined,
  options: GateOptions,
  tokens?: TokenCas,
): GateInputs {
  const phase: GatePhase = state?.phase ?? 'none';
  const kubeconfigDir = layout.signing.kubeconfigDir;
  const bound = timeoutMs('--live-timeout', options.timeout ?? DEFAULTS.liveTimeout);
  return {
    step,
    phase,
    adminKubeconfigs: options.adminKubeconfig
      ? [options.adminKubeconfig]
      : ADMIN_IDENTITIES.flatMap((identity) =>
          layout.profile.kubeconfigs.filter((k) => k.identity === identity).map((k) => path.join(kubeconfigDir, k.file)),
        ),
    cas: gateCas(layout, snapshot, state, tokens),
    rotated: {
      ...(Object.fromEntries(
        CA_KINDS.map((kind) => [
          kind,
          Boolean(state?.cas.includes(layout.profile.certificates.find((c) => c.file === caAliases(layout.profile).get(kind))!.name)),
        ]),
      ) as Record<CaKind, boolean>),
      serviceAccount: state?.serviceAccount ?? false,
    },
    saKeys: saKeys(layout, snapshot, state),
    apiservers: apiserverTargets(layout),
    etcd: etcdTargets(layout, options.etcdServers),
    kubelets: new Map(
      layout.locations
        .filter((l) => l.node && l.node !== 'local' && l.kubeletPki)
        .map((l) => [
          l.node!,
          { managedServing: kubeletPkiEntries(layout.profile).some((e) => snapshot.has(path.join(l.kubeletPki!, `${e.file}.crt`))) },
        ]),
    ),
    // Named as the restart plan names them: the fix of a lagging signer is the plan's line.
    controllerManagers: layout.locations
      .filter((l) => l.role === 'control-plane' || l.role === 'local')
      .map((l) => ({ node: l.node!, component: 'kube-controller-manager', flags: signerFlags(l) })),
    timeoutMs: bound,
    signTimeoutMs: Math.max(bound * 3, 15_000),
  };
}

/** `kpki ca rotate STEP`: every step that changes files first checks the live cluster (unless offline), then verifies every location of the layout. */
export async function rotateCa(options: RotateOptions & { gates?: GateOptions }): Promise<RotateCaResult> {
  const gates = options.gates ?? { offline: true };
  let report: GateReport | undefined;
  const gate = liveGate(gates, (r) => (report = r));
  // The gates read the tree the step decided from (under its lock) for the phase and the CAs' material.
  const check: CheckBeforeWriting = async (what) => {
    if (!gates.offline && what.step !== 'ca-renew') {
      const snapshot = await readLayoutFiles(what.layout);
      await gate(what.step, what.layout, snapshot, rotationIn(snapshot, what.layout.signing.certDir), what.tokens);
    }
    return verifyBeforeWriting(what);
  };
  const result = await rotateWith(options, check);
  if (options.step === 'status' && gates.live && !gates.offline) {
    const layout = await observeLayout(options);
    const snapshot = await readLayoutFiles(layout, options.apiServices);
    await gate('status', layout, snapshot, rotationIn(snapshot, layout.signing.certDir));
  }
  const skipped =
    options.step === 'status'
      ? gates.live && !gates.offline
        ? undefined
        : 'the live cluster was not checked (add --live)'
      : gates.offline
        ? OFFLINE_NOTE
        : undefined;
  const summary: GateSummary = {
    checked: Boolean(report),
    note: report ? undefined : (skipped ?? 'no step ran its gates (an interrupted step was completed)'),
    report,
  };
  return { ...result, gates: summary };
}

export type { GateFinding };

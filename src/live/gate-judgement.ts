/**
 * The judgement of a CA rotation's live gates: what a step needs the running cluster to show
 * (expectations) and which observed objects lag behind (findings). Pure: the observation is
 * src/live/gates.ts, which hands over facts already classified as `old`/`new`.
 */
import { CLUSTER_CA_DATA_KEY } from '../model/kubeadm-files.js';
import { restartLine, type Restart } from '../plan/restart.js';

/** A rotation step that writes, or `status`, which shows the next step's gates. */
export type GateStep = 'begin' | 'reissue' | 'finish' | 'abort' | 'status';
/** The phase on disk before the step: no rotation, or the one recorded. */
export type GatePhase = 'none' | 'begun' | 'reissued';
/** A CA or service-account key, by the side of the rotation it is on; with no rotation (or a CA not rotated) `old` is the current one. */
export type Side = 'old' | 'new';
/** What a certificate or token was found to be signed by: a side, something else, or unknown (not read). */
export type Signer = Side | 'other';
export type CaKind = 'cluster' | 'front-proxy' | 'etcd';
export const CA_KINDS: readonly CaKind[] = ['cluster', 'front-proxy', 'etcd'];

/** Stable codes of gate findings: scripts match on these. */
export const GateCode = {
  /** A trust bundle (kube-root-ca.crt, a token Secret's ca.crt, cluster-info) or a server's client CA lacks a CA the next phase needs. */
  TrustNotPropagated: 'TRUST_NOT_PROPAGATED',
  /** A server still serves a certificate of a CA other than the one the phase expects (not restarted). */
  ServingNotReloaded: 'SERVING_NOT_RELOADED',
  /** kube-controller-manager did not sign a throw-away CSR with the CA the phase expects. */
  SignerNotReady: 'SIGNER_NOT_READY',
  /** A Node is not Ready or its kubelet's heartbeats stopped. */
  NodeNotReady: 'NODE_NOT_READY',
  /** A legacy token Secret signed with a service-account key the step drops. */
  TokenKeyRetired: 'TOKEN_KEY_RETIRED',
  /** Something the gate must check could not be reached or read. */
  Unchecked: 'UNCHECKED',
} as const;
export type GateCode = (typeof GateCode)[keyof typeof GateCode];

/** One object that lags, named as an operator finds it, with the command or restart that fixes it. */
export interface GateFinding {
  code: GateCode;
  /** `kube-apiserver on cp1 (https://10.0.0.11:6443)`, `ConfigMap kube-system/kube-root-ca.crt`, `Node w1`. */
  subject: string;
  node?: string;
  diagnosis: string;
  fix: string;
}

/** What the running cluster must show before a step writes. */
export interface GateExpectation {
  /** The sides each server may serve a certificate of (per CA kind). */
  serving: Side[];
  /** The sides every server's client CA must accept: what clients present after the step. */
  trust: Side[];
  /** The cluster CA's sides kube-root-ca.crt, token Secrets' ca.crt and cluster-info must hold. */
  bundles: Side[];
  /** The side kube-controller-manager must sign with now. */
  signer: Side;
  /** With a service-account rotation: the keys whose tokens keep verifying after the step; undefined when no key is dropped. */
  tokenKeys: Side[] | undefined;
}

/** The step `status --live` shows the gates of: the next one. */
export function nextStep(phase: GatePhase): Exclude<GateStep, 'status'> {
  return phase === 'none' ? 'begin' : phase === 'begun' ? 'reissue' : 'finish';
}

/**
 * What each step needs, from the phase it starts in:
 * - begin (no rotation): everything serves, trusts and signs with the current CAs;
 * - reissue (begun): every trust holds the new CAs too (the new leaves must be accepted), old still signs;
 * - finish (reissued): everything serves the new CAs' certificates, signs with them, every bundle holds
 *   them, and no token was signed with the old service-account key;
 * - abort from begun: as before begin (the new CAs leave); abort from reissued: the old CAs sign
 *   again, so every trust must still hold them.
 */
export function gateExpectation(step: GateStep, phase: GatePhase): GateExpectation {
  const effective = step === 'status' ? nextStep(phase) : step;
  if (effective === 'reissue')
    return { serving: ['old'], trust: ['old', 'new'], bundles: ['old', 'new'], signer: 'old', tokenKeys: undefined };
  if (effective === 'finish') return { serving: ['new'], trust: ['new'], bundles: ['new'], signer: 'new', tokenKeys: ['new'] };
  if (effective === 'abort' && phase === 'reissued')
    return { serving: ['old', 'new'], trust: ['old', 'new'], bundles: ['old', 'new'], signer: 'new', tokenKeys: undefined };
  // begin, or abort from begun: the state before a rotation.
  return { serving: ['old'], trust: ['old'], bundles: ['old'], signer: 'old', tokenKeys: phase === 'begun' ? ['old'] : undefined };
}

/** One TLS server the gate dialed: an apiserver, an etcd member, a kubelet. */
export interface ServerFacts {
  component: 'kube-apiserver' | 'etcd' | 'kubelet';
  node: string | undefined;
  url: string;
  /** Which CA's certificates it serves and trusts. */
  ca: CaKind;
  /** Why it could not be dialed; undefined when it answered. */
  unreachable?: string;
  /** The CA that signed the certificate it serves; undefined when not checked (a kubelet whose serving certificate kpki does not manage). */
  serves?: Signer;
  /** Per side dialed with a throw-away client certificate of that side's CA: accepted or not. */
  accepts: Partial<Record<Side, boolean>>;
  /** The front-proxy CA's sides the apiserver's --requestheader-client-ca-file accepts (apiservers only). */
  acceptsFrontProxy?: Partial<Record<Side, boolean>>;
  /** How to make it reload its files, as the restart plan names it. */
  restart: string;
}

/** A bundle of the cluster CA held by an object in the cluster. */
export interface BundleFacts {
  kind: 'kube-root-ca.crt' | 'token-secret' | 'cluster-info';
  namespace: string;
  name: string;
  /** The cluster CA's sides it holds; undefined when it holds none readable (missing or empty). */
  holds: Side[] | undefined;
  /** For a token Secret: the service-account key that signed its token. */
  tokenKey?: Signer;
}

export interface NodeFacts {
  name: string;
  ready: boolean;
  /** Seconds since its kubelet last renewed its Lease (or sent a Ready heartbeat); undefined when never. */
  heartbeatAge: number | undefined;
}

export interface GateFacts {
  servers: ServerFacts[];
  /** The throw-away CSR: which CA signed it, or why it was not signed. */
  signer: { signedBy: Signer } | { notSigned: string } | { unchecked: string };
  bundles: BundleFacts[];
  /** Namespaces without a kube-root-ca.crt ConfigMap. */
  namespacesWithoutRootCa: string[];
  nodes: NodeFacts[];
  /** API reads or dials that failed: what, and why. */
  unread: { what: string; why: string }[];
  /** Whether the rotation covers each CA kind and the service-account key (unrotated ones have only `old`). */
  rotated: Record<CaKind, boolean> & { serviceAccount: boolean };
  /**
   * Every controller manager's restart with the signer file, as the restart plan prints it (node,
   * and --cluster-signing-cert-file as the node's manifest names it), in the plan's order.
   */
  controllerManagers: Pick<Restart, 'node' | 'component' | 'flags'>[];
}

/** How long a kubelet may go without a heartbeat: kube-controller-manager's default --node-monitor-grace-period. */
export const HEARTBEAT_GRACE_SECONDS = 40;

const sideWords = (kind: CaKind, sides: Side[], rotated: boolean) =>
  rotated ? sides.map((s) => `the ${s} ${kind} CA`).join(' and ') : `the ${kind} CA`;

/** Which sides apply to a CA kind: a CA the rotation does not cover has one side. */
const relevant = (sides: Side[], rotated: boolean): Side[] => (rotated ? sides : ['old']);

const ROOT_CA_FIX =
  'kube-controller-manager republishes it once it runs with --root-ca-file naming the cluster CA file of this phase (restart it as the plan printed)';

/** Every object that lags behind what `step` needs, one finding each. */
export function judgeGates(step: GateStep, phase: GatePhase, facts: GateFacts): GateFinding[] {
  const want = gateExpectation(step, phase);
  const findings: GateFinding[] = [];
  for (const { what, why } of facts.unread)
    findings.push({
      code: GateCode.Unchecked,
      subject: what,
      diagnosis: `could not be checked: ${why}`,
      fix: 'make it reachable with the admin kubeconfig and run the step again, or run it with --offline (nothing is checked then)',
    });
  for (const server of facts.servers) findings.push(...serverFindings(server, want, facts));
  findings.push(...signerFindings(want, facts));
  findings.push(...bundleFindings(want, facts));
  for (const node of facts.nodes) {
    const stale = node.heartbeatAge === undefined || node.heartbeatAge > HEARTBEAT_GRACE_SECONDS;
    if (!node.ready || stale) {
      findings.push({
        code: GateCode.NodeNotReady,
        subject: `Node ${node.name}`,
        node: node.name,
        diagnosis: `${node.ready ? 'Ready' : 'not Ready'}${stale ? `, no kubelet heartbeat ${node.heartbeatAge === undefined ? 'at all' : `for ${node.heartbeatAge} s`}` : ''}: its kubelet may not have reloaded kubelet.conf (a client certificate or CA the apiservers reject)`,
        fix: `restart ${restartLine({ node: node.name, component: 'kubelet' })} with the files of this phase and wait until the Node is Ready (kpki verify --root on its node directory tells what it rejects)`,
      });
    }
  }
  return findings;
}

function serverFindings(server: ServerFacts, want: GateExpectation, facts: GateFacts): GateFinding[] {
  const subject = `${server.component}${server.node ? ` on ${server.node}` : ''} (${server.url})`;
  const base = { subject, ...(server.node ? { node: server.node } : {}) };
  if (server.unreachable)
    return [
      {
        ...base,
        code: GateCode.Unchecked,
        diagnosis: `not reached: ${server.unreachable}`,
        fix: `start it (${server.restart}) and run the step again, or run it with --offline (nothing is checked then)`,
      },
    ];
  const findings: GateFinding[] = [];
  const rotated = facts.rotated[server.ca];
  const serving = relevant(want.serving, rotated);
  if (server.serves !== undefined && !(serving as Signer[]).includes(server.serves)) {
    findings.push({
      ...base,
      code: GateCode.ServingNotReloaded,
      diagnosis: `serves a certificate signed by ${server.serves === 'other' ? 'a CA outside this rotation' : `the ${server.serves} ${server.ca} CA`}; this step needs ${sideWords(server.ca, serving, rotated)}${server.serves === 'old' ? ': it has not been restarted since its certificate was reissued' : ''}`,
      fix: `${server.restart}, then run the step again`,
    });
  }
  const lacking = relevant(want.trust, rotated).filter((side) => server.accepts[side] === false);
  if (lacking.length) {
    findings.push({
      ...base,
      code: GateCode.TrustNotPropagated,
      diagnosis: `rejects client certificates of ${sideWords(server.ca, lacking, rotated)}: it still trusts the CA file it read before the last phase`,
      fix: `${server.restart} so that it reads its CA file again, then run the step again`,
    });
  }
  const proxyLacking = relevant(want.trust, facts.rotated['front-proxy']).filter((side) => server.acceptsFrontProxy?.[side] === false);
  if (proxyLacking.length) {
    findings.push({
      ...base,
      code: GateCode.TrustNotPropagated,
      diagnosis: `--requestheader-client-ca-file rejects front-proxy client certificates of ${sideWords('front-proxy', proxyLacking, facts.rotated['front-proxy'])}: aggregated APIs would fail once the front-proxy client is reissued`,
      fix: `${server.restart} so that it reads front-proxy-ca.crt again, then run the step again`,
    });
  }
  return findings;
}

function signerFindings(want: GateExpectation, facts: GateFacts): GateFinding[] {
  const subject = 'kube-controller-manager (CSR signing)';
  const signer = facts.rotated.cluster ? `the ${want.signer} cluster CA` : 'the cluster CA';
  const restart = `restart, as the plan printed, ${facts.controllerManagers.map((r) => restartLine(r)).join(', then ')} (one certificate: the one beside ca.key)`;
  if ('unchecked' in facts.signer)
    return [
      {
        code: GateCode.Unchecked,
        subject,
        diagnosis: `could not be checked: ${facts.signer.unchecked}`,
        fix: 'give kpki an admin kubeconfig that may create and approve CertificateSigningRequests (--admin-kubeconfig), or run with --offline',
      },
    ];
  if ('notSigned' in facts.signer) {
    return [
      {
        code: GateCode.SignerNotReady,
        subject,
        diagnosis: `a throw-away CSR was not signed: ${facts.signer.notSigned}; kube-controller-manager is not running, or exits at start (1.20 refuses a --cluster-signing-cert-file holding two certificates)`,
        fix: restart,
      },
    ];
  }
  const expected: Signer = facts.rotated.cluster ? want.signer : 'old';
  if (facts.signer.signedBy !== expected) {
    return [
      {
        code: GateCode.SignerNotReady,
        subject,
        diagnosis: `signed a throw-away CSR with ${facts.signer.signedBy === 'other' ? 'a CA outside this rotation' : `the ${facts.signer.signedBy} cluster CA`}, not ${signer}: it still reads the signing files of an earlier phase`,
        fix: restart,
      },
    ];
  }
  return [];
}

function bundleFindings(want: GateExpectation, facts: GateFacts): GateFinding[] {
  const findings: GateFinding[] = [];
  const needed = relevant(want.bundles, facts.rotated.cluster);
  for (const namespace of facts.namespacesWithoutRootCa) {
    findings.push({
      code: GateCode.TrustNotPropagated,
      subject: `ConfigMap ${namespace}/kube-root-ca.crt`,
      diagnosis: 'missing: pods started in this namespace get no cluster CA',
      fix: ROOT_CA_FIX,
    });
  }
  for (const bundle of facts.bundles) {
    const id = `${bundle.namespace}/${bundle.name}`;
    const lacking = needed.filter((side) => !bundle.holds?.includes(side));
    if (lacking.length) {
      const what =
        bundle.kind === 'kube-root-ca.crt' ? `ConfigMap ${id}` : bundle.kind === 'cluster-info' ? `ConfigMap ${id}` : `Secret ${id}`;
      const fix =
        bundle.kind === 'kube-root-ca.crt'
          ? `${ROOT_CA_FIX}; then restart the pods of namespace ${bundle.namespace} (they read it at start)`
          : bundle.kind === 'cluster-info'
            ? `put the cluster CA file of this phase (pki/ca.crt) into its kubeconfig's certificate-authority-data: kubectl -n ${bundle.namespace} edit configmap ${bundle.name} (kubeadm join and bootstrap read it)`
            : `kube-controller-manager's token controller rewrites ca.crt from --root-ca-file when it runs with this phase's files (restart it), or delete the Secret so that it is recreated`;
      findings.push({
        code: GateCode.TrustNotPropagated,
        subject: what,
        diagnosis: `${bundle.kind === 'cluster-info' ? "the kubeconfig's certificate-authority-data" : CLUSTER_CA_DATA_KEY} lacks ${sideWords('cluster', lacking, facts.rotated.cluster)}: clients that trust it would reject the apiservers' certificates after this step`,
        fix,
      });
    }
    if (
      bundle.kind === 'token-secret' &&
      facts.rotated.serviceAccount &&
      want.tokenKeys &&
      bundle.tokenKey &&
      !(want.tokenKeys as Signer[]).includes(bundle.tokenKey)
    ) {
      findings.push({
        code: GateCode.TokenKeyRetired,
        subject: `Secret ${id}`,
        diagnosis: `its token is signed with ${bundle.tokenKey === 'other' ? 'a key outside this rotation' : `the ${bundle.tokenKey} service-account key`}, which this step drops: the apiservers would reject it`,
        fix: `have the token controller sign it again with the current key: kubectl -n ${bundle.namespace} patch secret ${bundle.name} --type json -p '[{"op":"remove","path":"/data/token"}]' (then restart the pods that mount it)`,
      });
    }
  }
  return findings;
}

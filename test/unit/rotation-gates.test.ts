import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  gateExpectation,
  judgeGates,
  type GateFacts,
  type GatePhase,
  type GateStep,
  type ServerFacts,
} from '../../src/live/gate-judgement.js';
import { tokenSigner } from '../../src/live/gates.js';

/** A cluster that has caught up with every step: what each case then breaks. */
function healthy(over: Partial<GateFacts> = {}, sides: ('old' | 'new')[] = ['old', 'new']): GateFacts {
  const server = (component: ServerFacts['component'], ca: ServerFacts['ca'], serves: 'old' | 'new'): ServerFacts => ({
    component,
    node: 'cp1',
    url: 'https://10.0.0.11:6443',
    ca,
    serves,
    accepts: { old: true, new: true },
    ...(component === 'kube-apiserver' ? { acceptsFrontProxy: { old: true, new: true } } : {}),
    restart: `restart ${component} on cp1`,
  });
  return {
    servers: [server('kube-apiserver', 'cluster', 'old'), server('etcd', 'etcd', 'old')],
    signer: { signedBy: 'old' },
    bundles: [
      { kind: 'kube-root-ca.crt', namespace: 'default', name: 'kube-root-ca.crt', holds: sides },
      { kind: 'token-secret', namespace: 'default', name: 'default-token-abcde', holds: sides, tokenKey: 'old' },
    ],
    namespacesWithoutRootCa: [],
    nodes: [{ name: 'w1', ready: true, heartbeatAge: 5 }],
    unread: [],
    rotated: { cluster: true, 'front-proxy': true, etcd: true, serviceAccount: true },
    controllerManagers: [
      { node: 'cp1', component: 'kube-controller-manager', flags: { 'cluster-signing-cert-file': '/etc/kubernetes/pki/ca-signer.crt' } },
    ],
    ...over,
  };
}

const codes = (step: GateStep, phase: GatePhase, facts: GateFacts) => judgeGates(step, phase, facts).map((f) => `${f.code} ${f.subject}`);
const serving = (side: 'old' | 'new') => (facts: GateFacts) => ({ ...facts, servers: facts.servers.map((s) => ({ ...s, serves: side })) });

describe('what each step needs from the live cluster', () => {
  const table: [GateStep, GatePhase, ReturnType<typeof gateExpectation>][] = [
    ['begin', 'none', { serving: ['old'], trust: ['old'], bundles: ['old'], signer: 'old', tokenKeys: undefined }],
    ['reissue', 'begun', { serving: ['old'], trust: ['old', 'new'], bundles: ['old', 'new'], signer: 'old', tokenKeys: undefined }],
    ['finish', 'reissued', { serving: ['new'], trust: ['new'], bundles: ['new'], signer: 'new', tokenKeys: ['new'] }],
    ['abort', 'begun', { serving: ['old'], trust: ['old'], bundles: ['old'], signer: 'old', tokenKeys: ['old'] }],
    ['abort', 'reissued', { serving: ['old', 'new'], trust: ['old', 'new'], bundles: ['old', 'new'], signer: 'new', tokenKeys: undefined }],
    ['status', 'begun', { serving: ['old'], trust: ['old', 'new'], bundles: ['old', 'new'], signer: 'old', tokenKeys: undefined }],
  ];
  it.each(table)('%s from phase %s', (step, phase, expected) => expect(gateExpectation(step, phase)).toEqual(expected));
});

describe('judging the observed cluster', () => {
  const cases: [string, GateStep, GatePhase, GateFacts, string[]][] = [
    ['a cluster that caught up with begin', 'reissue', 'begun', healthy(), []],
    [
      'the missed step: the controller manager exits at start, kube-root-ca.crt keeps the old CA alone',
      'reissue',
      'begun',
      healthy({
        signer: { notSigned: 'CSR x approved but not signed within 15 s' },
        bundles: [{ kind: 'kube-root-ca.crt', namespace: 'default', name: 'kube-root-ca.crt', holds: ['old'] }],
      }),
      ['SIGNER_NOT_READY kube-controller-manager (CSR signing)', 'TRUST_NOT_PROPAGATED ConfigMap default/kube-root-ca.crt'],
    ],
    [
      'an apiserver not restarted after begin rejects the new CA',
      'reissue',
      'begun',
      healthy({
        servers: [{ ...healthy().servers[0]!, accepts: { old: true, new: false }, acceptsFrontProxy: { old: true, new: false } }],
      }),
      [
        'TRUST_NOT_PROPAGATED kube-apiserver on cp1 (https://10.0.0.11:6443)',
        'TRUST_NOT_PROPAGATED kube-apiserver on cp1 (https://10.0.0.11:6443)',
      ],
    ],
    [
      'finish after the reissue restarts',
      'finish',
      'reissued',
      serving('new')(
        healthy({
          signer: { signedBy: 'new' },
          bundles: [{ kind: 'kube-root-ca.crt', namespace: 'default', name: 'kube-root-ca.crt', holds: ['new', 'old'] }],
        }),
      ),
      [],
    ],
    [
      'finish before the reissue restarts: old-CA certificates served, the old signer, a token of the old key',
      'finish',
      'reissued',
      healthy(),
      [
        'SERVING_NOT_RELOADED kube-apiserver on cp1 (https://10.0.0.11:6443)',
        'SERVING_NOT_RELOADED etcd on cp1 (https://10.0.0.11:6443)',
        'SIGNER_NOT_READY kube-controller-manager (CSR signing)',
        'TOKEN_KEY_RETIRED Secret default/default-token-abcde',
      ],
    ],
    [
      'a token of the old key is fine while the service-account key is not rotated',
      'finish',
      'reissued',
      serving('new')(
        healthy({ signer: { signedBy: 'new' }, rotated: { cluster: true, 'front-proxy': true, etcd: true, serviceAccount: false } }),
      ),
      [],
    ],
    [
      'a CA outside the rotation only needs its current side',
      'finish',
      'reissued',
      healthy({
        signer: { signedBy: 'old' },
        rotated: { cluster: false, 'front-proxy': false, etcd: false, serviceAccount: false },
        bundles: [{ kind: 'cluster-info', namespace: 'kube-public', name: 'cluster-info', holds: ['old'] }],
      }),
      [],
    ],
    [
      'a legacy token Secret and cluster-info without the new CA',
      'reissue',
      'begun',
      healthy({
        bundles: [
          { kind: 'token-secret', namespace: 'default', name: 'legacy', holds: ['old'], tokenKey: 'old' },
          { kind: 'cluster-info', namespace: 'kube-public', name: 'cluster-info', holds: undefined },
        ],
      }),
      ['TRUST_NOT_PROPAGATED Secret default/legacy', 'TRUST_NOT_PROPAGATED ConfigMap kube-public/cluster-info'],
    ],
    [
      'unreachable servers, unread lists, a namespace without kube-root-ca.crt, a Node without heartbeats',
      'begin',
      'none',
      healthy(
        {
          servers: [{ ...healthy().servers[0]!, unreachable: 'connect ECONNREFUSED' }],
          unread: [{ what: 'Nodes', why: 'answered 403' }],
          namespacesWithoutRootCa: ['team-a'],
          nodes: [{ name: 'w1', ready: true, heartbeatAge: 300 }],
        },
        ['old'],
      ),
      [
        'UNCHECKED Nodes',
        'UNCHECKED kube-apiserver on cp1 (https://10.0.0.11:6443)',
        'TRUST_NOT_PROPAGATED ConfigMap team-a/kube-root-ca.crt',
        'NODE_NOT_READY Node w1',
      ],
    ],
    [
      'the signer could not be tried',
      'begin',
      'none',
      healthy({ signer: { unchecked: 'creating a CertificateSigningRequest: answered 403' } }, ['old']),
      ['UNCHECKED kube-controller-manager (CSR signing)'],
    ],
  ];
  it.each(cases)('%s', (_, step, phase, facts, expected) => expect(codes(step, phase, facts)).toEqual(expected));

  it('names the fix for each lagging object', () => {
    const findings = judgeGates(
      'reissue',
      'begun',
      healthy({
        signer: { notSigned: 'not signed within 15 s' },
        bundles: [{ kind: 'token-secret', namespace: 'ns', name: 't', holds: ['old'] }],
      }),
    );
    expect(findings[0]!.fix).toContain('--cluster-signing-cert-file=/etc/kubernetes/pki/ca-signer.crt');
    expect(findings[1]!.diagnosis).toContain('lacks the new cluster CA');
    const retired = judgeGates(
      'finish',
      'reissued',
      serving('new')(
        healthy({
          signer: { signedBy: 'new' },
          bundles: [{ kind: 'token-secret', namespace: 'ns', name: 't', holds: ['new'], tokenKey: 'old' }],
        }),
      ),
    );
    expect(retired).toHaveLength(1);
    expect(retired[0]!.fix).toContain('kubectl -n ns patch secret t --type json -p \'[{"op":"remove","path":"/data/token"}]\'');
  });
});

describe('which service-account key signed a token', () => {
  const jwt = (alg: string, key: Parameters<typeof sign>[2], dsaEncoding?: 'ieee-p1363') => {
    const head = Buffer.from(JSON.stringify({ alg, kid: 'x' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:default:default' })).toString('base64url');
    const signature = sign(`sha${alg.slice(2)}`, Buffer.from(`${head}.${body}`), dsaEncoding ? { key: key as never, dsaEncoding } : key);
    return `${head}.${body}.${signature.toString('base64url')}`;
  };
  const rsaOld = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaNew = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ecOld = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecNew = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  it.each([
    ['RS256, old key', jwt('RS256', rsaOld.privateKey), { old: rsaOld.publicKey, new: rsaNew.publicKey }, 'old'],
    ['RS256, new key', jwt('RS256', rsaNew.privateKey), { old: rsaOld.publicKey, new: rsaNew.publicKey }, 'new'],
    ['ES256, new key', jwt('ES256', ecNew.privateKey, 'ieee-p1363'), { old: ecOld.publicKey, new: ecNew.publicKey }, 'new'],
    ['ES384 of neither', jwt('ES384', other.privateKey, 'ieee-p1363'), { old: ecOld.publicKey, new: ecNew.publicKey }, 'other'],
    ['not a JWT', 'opaque', { old: ecOld.publicKey, new: ecNew.publicKey }, undefined],
  ] as const)('%s', (_, token, keys, expected) => expect(tokenSigner(token, keys)).toBe(expected));
});

/**
 * kpki signer's decisions, table-tested against kube-controller-manager v1.20's signer
 * (pkg/controller/certificates/signer/signer.go, authority/authority.go and policies.go,
 * pkg/apis/certificates/helpers.go): the validation error texts are Go's, word for word.
 */
import { describe, expect, it } from 'vitest';
import { BACKDATE_SECONDS, decideCsr, SERVED_SIGNERS, SIGNER_NAMES, signingDuration, type CsrFacts } from '../../src/plan/csr-signing.js';

const NOW = new Date('2026-12-07T06:00:00Z');
const CA_NOT_AFTER = new Date('2036-12-07T00:00:00Z');
const YEAR = 365 * 24 * 3600;
const policy = { signers: new Set(SERVED_SIGNERS), now: NOW, caNotAfter: CA_NOT_AFTER, durationSeconds: YEAR };

const node = { commonName: 'system:node:w1', organizations: ['system:nodes'], dnsNames: [], ipAddresses: [], emailAddresses: [], uris: [] };
function csr(signerName: string, usages: string[], request: Partial<CsrFacts['request']> = {}, state: Partial<CsrFacts> = {}): CsrFacts {
  return { name: 'csr-1', signerName, usages, approved: true, failed: false, issued: false, request: { ...node, ...request }, ...state };
}
const CLIENT = ['digital signature', 'key encipherment', 'client auth'];
const SERVING = ['digital signature', 'key encipherment', 'server auth'];

describe('which CSRs the signer leaves alone', () => {
  it.each([
    ['not approved', csr(SIGNER_NAMES.kubeletClient, CLIENT, {}, { approved: false }), 'not approved'],
    ['failed', csr(SIGNER_NAMES.kubeletClient, CLIENT, {}, { failed: true }), 'failed'],
    ['issued', csr(SIGNER_NAMES.kubeletClient, CLIENT, {}, { issued: true }), 'already issued'],
    ['another signer', csr('example.com/custom', CLIENT), 'signer example.com/custom is not served'],
    [
      'legacy-unknown (not served by kpki)',
      csr('kubernetes.io/legacy-unknown', CLIENT),
      'signer kubernetes.io/legacy-unknown is not served',
    ],
  ])('%s', (_, given, reason) => {
    expect(decideCsr(given, policy)).toEqual({ action: 'skip', reason });
  });

  it('a signer left out of --signer is left alone too', () => {
    expect(
      decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT), { ...policy, signers: new Set([SIGNER_NAMES.kubeAPIServerClient]) }).action,
    ).toBe('skip');
  });
});

describe('signer validation (Failed, reason SignerValidationFailure), in Go order and wording', () => {
  it.each([
    // kubelet-serving: ValidateKubeletServingCSR
    [
      SIGNER_NAMES.kubeletServing,
      SERVING,
      { organizations: ['system:nodes', 'x'], dnsNames: ['w1'] },
      'subject organization is not system:nodes',
    ],
    [SIGNER_NAMES.kubeletServing, SERVING, {}, 'DNS or IP subjectAltName is required'],
    [SIGNER_NAMES.kubeletServing, SERVING, { ipAddresses: ['10.0.0.1'], emailAddresses: ['a@b'] }, 'Email subjectAltNames are not allowed'],
    [SIGNER_NAMES.kubeletServing, SERVING, { dnsNames: ['w1'], uris: ['spiffe://x'] }, 'URI subjectAltNames are not allowed'],
    [
      SIGNER_NAMES.kubeletServing,
      [...SERVING, 'client auth'],
      { dnsNames: ['w1'] },
      'usages did not match [digital signature key encipherment server auth]',
    ],
    [
      SIGNER_NAMES.kubeletServing,
      ['digital signature', 'server auth'],
      { dnsNames: ['w1'] },
      'usages did not match [digital signature key encipherment server auth]',
    ],
    [SIGNER_NAMES.kubeletServing, SERVING, { commonName: 'w1', dnsNames: ['w1'] }, 'subject common name does not begin with system:node:'],
    // kube-apiserver-client-kubelet: ValidateKubeletClientCSR (CN checked before usages)
    [SIGNER_NAMES.kubeletClient, CLIENT, { organizations: [] }, 'subject organization is not system:nodes'],
    [SIGNER_NAMES.kubeletClient, CLIENT, { dnsNames: ['w1'] }, 'DNS subjectAltNames are not allowed'],
    [SIGNER_NAMES.kubeletClient, CLIENT, { emailAddresses: ['a@b'] }, 'Email subjectAltNames are not allowed'],
    [SIGNER_NAMES.kubeletClient, CLIENT, { ipAddresses: ['10.0.0.1'] }, 'IP subjectAltNames are not allowed'],
    [SIGNER_NAMES.kubeletClient, CLIENT, { uris: ['spiffe://x'] }, 'URI subjectAltNames are not allowed'],
    [SIGNER_NAMES.kubeletClient, ['server auth'], { commonName: 'alice' }, 'subject common name does not begin with system:node:'],
    [SIGNER_NAMES.kubeletClient, ['client auth'], {}, 'usages did not match [client auth digital signature key encipherment]'],
    // kube-apiserver-client: validAPIServerClientUsages
    [
      SIGNER_NAMES.kubeAPIServerClient,
      ['client auth', 'server auth'],
      { commonName: 'alice', organizations: [] },
      'invalid usage for client certificate: server auth',
    ],
    [
      SIGNER_NAMES.kubeAPIServerClient,
      ['digital signature'],
      { commonName: 'alice', organizations: [] },
      'missing required usage for client certificate: client auth',
    ],
    [
      SIGNER_NAMES.kubeAPIServerClient,
      [],
      { commonName: 'alice', organizations: [] },
      'missing required usage for client certificate: client auth',
    ],
  ])('%s %j %j: %s', (signer, usages, request, message) => {
    expect(decideCsr(csr(signer, usages as string[], request), policy)).toEqual({
      action: 'fail',
      reason: 'SignerValidationFailure',
      message,
    });
  });
});

describe('signing: usages, backdating, duration', () => {
  it('notBefore is backdated five minutes; notAfter is notBefore plus --cluster-signing-duration', () => {
    const d = decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT), policy);
    expect(BACKDATE_SECONDS).toBe(300);
    expect(d).toEqual({
      action: 'sign',
      keyUsages: ['digitalSignature', 'keyEncipherment'],
      extKeyUsages: ['1.3.6.1.5.5.7.3.2'],
      notBefore: new Date('2026-12-07T05:55:00Z'),
      notAfter: new Date(new Date('2026-12-07T05:55:00Z').getTime() + YEAR * 1000),
    });
  });

  it('kube-apiserver-client signs any subject with client auth; "signing" (digitalSignature elsewhere) is not among its usages', () => {
    const d = decideCsr(
      csr(SIGNER_NAMES.kubeAPIServerClient, ['client auth', 'digital signature'], { commonName: 'alice', organizations: ['devs'] }),
      policy,
    );
    expect(d).toMatchObject({ action: 'sign', keyUsages: ['digitalSignature'], extKeyUsages: ['1.3.6.1.5.5.7.3.2'] });
    expect(
      decideCsr(csr(SIGNER_NAMES.kubeAPIServerClient, ['client auth', 'signing'], { commonName: 'alice', organizations: [] }), policy),
    ).toMatchObject({ action: 'fail', message: 'invalid usage for client certificate: signing' });
  });

  it('extended key usages are sorted in Go ExtKeyUsage order (kubelet-serving lists server auth)', () => {
    const d = decideCsr(
      csr(SIGNER_NAMES.kubeletServing, ['server auth', 'key encipherment', 'digital signature'], {
        ipAddresses: ['10.0.0.21'],
        dnsNames: ['w1'],
      }),
      policy,
    );
    expect(d).toMatchObject({ action: 'sign', keyUsages: ['keyEncipherment', 'digitalSignature'], extKeyUsages: ['1.3.6.1.5.5.7.3.1'] });
  });

  it('expirationSeconds (1.22+) shortens the duration, never lengthens it, and is never under ten minutes', () => {
    expect(signingDuration({ durationSeconds: YEAR }, undefined)).toBe(YEAR);
    expect(signingDuration({ durationSeconds: YEAR }, 3600)).toBe(3600);
    expect(signingDuration({ durationSeconds: YEAR }, 2 * YEAR)).toBe(YEAR);
    expect(signingDuration({ durationSeconds: YEAR }, 60)).toBe(600);
    const d = decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT, {}, { expirationSeconds: 3600 }), policy);
    expect(d).toMatchObject({ notBefore: new Date('2026-12-07T05:55:00Z'), notAfter: new Date('2026-12-07T06:55:00Z') });
  });

  it('notAfter never passes the CA; an expired CA refuses, as authority.Sign does', () => {
    const caNotAfter = new Date('2027-01-01T00:00:00Z');
    expect(decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT), { ...policy, caNotAfter })).toMatchObject({
      action: 'sign',
      notAfter: caNotAfter,
    });
    const expired = new Date('2026-12-07T05:56:00Z');
    expect(decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT), { ...policy, caNotAfter: new Date('2026-12-07T05:50:00Z') })).toEqual({
      action: 'error',
      message: 'the signer has expired: NotAfter=2026-12-07T05:50:00.000Z',
    });
    expect(decideCsr(csr(SIGNER_NAMES.kubeletClient, CLIENT), { ...policy, caNotAfter: expired })).toEqual({
      action: 'error',
      message: 'refusing to sign a certificate that expired in the past',
    });
  });

  it('an unknown usage is an error the controller retries (no Failed condition): only after validation, for kube-apiserver-client none can pass', () => {
    // kube-apiserver-client's validation refuses every other usage first.
    expect(
      decideCsr(csr(SIGNER_NAMES.kubeAPIServerClient, ['client auth', 'frobnicate'], { commonName: 'a', organizations: [] }), policy),
    ).toMatchObject({ action: 'fail', message: 'invalid usage for client certificate: frobnicate' });
  });
});

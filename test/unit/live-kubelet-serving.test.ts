import { describe, expect, it } from 'vitest';
import { kubeletServingDecision, requestFacts, type NodeAddresses, type ServingRequest } from '../../src/live/kubelet-serving.js';
import { subjectName } from '../../src/pki/certificate.js';
import { x509 } from '../../src/pki/crypto.js';
import { certificatePublicKey, generateKeyPair, signatureAlgorithm, signingKey } from '../../src/pki/keys.js';

const NODE: NodeAddresses = {
  name: 'worker-1',
  addresses: [
    { type: 'Hostname', address: 'worker-1' },
    { type: 'InternalIP', address: '10.0.0.21' },
    { type: 'ExternalIP', address: '2001:db8::21' },
    { type: 'InternalDNS', address: 'worker-1.internal' },
  ],
};

/** What a 1.20 kubelet with an ECDSA key sends for itself. */
const MATCHING: ServingRequest = {
  name: 'csr-1',
  signerName: 'kubernetes.io/kubelet-serving',
  username: 'system:node:worker-1',
  groups: ['system:nodes', 'system:authenticated'],
  usages: ['digital signature', 'key encipherment', 'server auth'],
  commonName: 'system:node:worker-1',
  organizations: ['system:nodes'],
  otherSubject: [],
  dnsNames: ['worker-1', 'Worker-1.internal'],
  ipAddresses: ['10.0.0.21', '2001:db8::21'],
  emails: [],
  uris: [],
  keyAlgorithm: 'ec',
};

describe('kubelet-serving approval decision', () => {
  const refused: [string, Partial<ServingRequest>, NodeAddresses | undefined, RegExp][] = [
    [
      'an extra DNS SAN',
      { dnsNames: ['worker-1', 'api.example.com'] },
      NODE,
      /DNS name api\.example\.com is not an address of Node worker-1/,
    ],
    ['an IP of another machine', { ipAddresses: ['10.0.0.99'] }, NODE, /IP 10\.0\.0\.99 is not an address of Node worker-1/],
    [
      'a foreign node (requester asks for another node’s name)',
      { commonName: 'system:node:worker-2' },
      NODE,
      /subject CN is "system:node:worker-2", not the requester system:node:worker-1/,
    ],
    [
      'a requester that is no node',
      { username: 'alice', groups: ['system:authenticated'] },
      NODE,
      /requested by alice, not by a node.*not in group system:nodes/,
    ],
    ['the nodes group missing', { groups: ['system:authenticated'] }, NODE, /not in group system:nodes/],
    [
      'another organization too',
      { organizations: ['system:nodes', 'system:masters'] },
      NODE,
      /subject O is \[system:nodes, system:masters\]/,
    ],
    ['an OU in the subject', { otherSubject: ['OU=x'] }, NODE, /other attributes: OU=x/],
    [
      'client auth among the usages',
      { usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'] },
      NODE,
      /usages are \[.*client auth\]/,
    ],
    ['server auth missing', { usages: ['digital signature', 'key encipherment'] }, NODE, /usages are/],
    [
      'RSA without key encipherment',
      { keyAlgorithm: 'rsa', usages: ['digital signature', 'server auth'] },
      NODE,
      /not \[digital signature, key encipherment, server auth\]/,
    ],
    ['an email SAN', { emails: ['root@worker-1'] }, NODE, /email SANs: root@worker-1/],
    ['a URI SAN', { uris: ['spiffe://x/y'] }, NODE, /URI SANs: spiffe:\/\/x\/y/],
    ['no names at all', { dnsNames: [], ipAddresses: [] }, NODE, /names no DNS name or IP address/],
    ['no Node object', {}, undefined, /there is no Node object worker-1/],
    ['another signer', { signerName: 'kubernetes.io/kube-apiserver-client' }, NODE, /signer is kubernetes\.io\/kube-apiserver-client/],
  ];

  it.each(refused)('leaves pending: %s', (_, change, node, reason) => {
    const decision = kubeletServingDecision({ ...MATCHING, ...change }, node);
    expect(decision.approve).toBe(false);
    expect(decision.approve ? '' : decision.reasons.join('; ')).toMatch(reason);
  });

  const approved: [string, Partial<ServingRequest>][] = [
    ['what a 1.20 kubelet sends (ECDSA key, key encipherment listed)', {}],
    ['an ECDSA request without key encipherment', { usages: ['server auth', 'digital signature'] }],
    ['an RSA request with the three usages', { keyAlgorithm: 'rsa' }],
    ['only IP addresses', { dnsNames: [] }],
    ['an IPv6 address written uncompressed', { ipAddresses: ['2001:0db8:0:0:0:0:0:21'] }],
  ];

  it.each(approved)('approves %s', (_, change) => {
    expect(kubeletServingDecision({ ...MATCHING, ...change }, NODE)).toEqual({ approve: true, node: 'worker-1' });
  });

  it('lists every reason, not only the first', () => {
    const decision = kubeletServingDecision({ ...MATCHING, emails: ['a@b'], dnsNames: ['evil'] }, NODE);
    expect(decision.approve ? [] : decision.reasons).toHaveLength(2);
  });
});

describe('reading a PKCS#10 request', () => {
  it('returns subject, SANs by kind and key algorithm', async () => {
    const pair = await generateKeyPair('ecdsa-p256');
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: subjectName('system:node:worker-1', ['system:nodes']),
      keys: { privateKey: await signingKey(pair.privateKey), publicKey: await certificatePublicKey(pair.publicKey) },
      signingAlgorithm: signatureAlgorithm(pair.privateKey),
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'worker-1' },
          { type: 'ip', value: '10.0.0.21' },
          { type: 'email', value: 'a@b.c' },
          { type: 'url', value: 'spiffe://cluster/ns/x' },
        ]),
      ],
    });
    expect(requestFacts(csr.toString('pem'))).toEqual({
      commonName: 'system:node:worker-1',
      organizations: ['system:nodes'],
      otherSubject: [],
      dnsNames: ['worker-1'],
      ipAddresses: ['10.0.0.21'],
      emails: ['a@b.c'],
      uris: ['spiffe://cluster/ns/x'],
      keyAlgorithm: 'ec',
    });
  });
});

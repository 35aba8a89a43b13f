import { describe, expect, it } from 'vitest';
import { apiServiceFindings, apiServicePkiCause, backendAnswerFindings, clientAnswerFindings } from '../../src/live/findings.js';

describe('APIService conditions', () => {
  const cause = (message: string) => apiServicePkiCause('v1.metrics.k8s.io', 'metrics-server.kube-system.svc', message);
  const causes: [string, RegExp | undefined][] = [
    [
      'failing or missing response from https://10.96.0.9:443/apis/metrics.k8s.io/v1beta1: Get "…": x509: certificate signed by unknown authority',
      /caBundle of APIService v1\.metrics\.k8s\.io does not hold the CA/,
    ],
    [
      '… x509: certificate is valid for metrics-server, not metrics-server.kube-system.svc',
      /lacks metrics-server\.kube-system\.svc \(the aggregator dials metrics-server\.kube-system\.svc\)/,
    ],
    ['… x509: certificate has expired or is not yet valid: current time …', /outside its validity period/],
    [
      'failing or missing response from https://…: bad status from https://…: 401',
      /does not accept the apiserver's front-proxy client certificate \(--proxy-client-cert-file\)/,
    ],
    [
      'failing or missing response from https://…: bad status from https://…: 403',
      /took the apiserver's front-proxy client certificate .* for an ordinary user/,
    ],
    ['failing or missing response from https://…: dial tcp 10.96.0.9:443: connect: connection refused', undefined],
  ];
  it.each(causes)('names the PKI cause of %s', (message, expected) => {
    if (expected) expect(cause(message)).toMatch(expected);
    else expect(cause(message)).toBeUndefined();
  });

  it('reports only APIServices that are not Available', () => {
    expect(apiServiceFindings('v1.', undefined, [{ type: 'Available', status: 'True', reason: 'Local' }])).toEqual([]);
    const [finding] = apiServiceFindings('v1beta1.metrics.k8s.io', 'metrics-server.kube-system.svc', [
      {
        type: 'Available',
        status: 'False',
        reason: 'MissingEndpoints',
        message: 'endpoints for service/metrics-server in "kube-system" have no addresses',
      },
    ]);
    expect(finding).toMatchObject({
      code: 'APISERVICE_UNAVAILABLE',
      symptom: 'MissingEndpoints: endpoints for service/metrics-server in "kube-system" have no addresses',
    });
    expect(finding!.diagnosis).toMatch(/no ready endpoints: not a certificate problem/);
  });
});

describe("the server's answer to a client certificate", () => {
  const answer = (status: number | undefined, error?: string) =>
    clientAnswerFindings('x.conf → https://h:6443', 'x.conf', undefined, { served: [], status, error, body: undefined }, undefined);
  it('is no finding for 200 and 404', () => {
    expect(answer(200)).toEqual([]);
    expect(answer(404)).toEqual([]);
  });
  it('is CLIENT_REJECTED for 401 and a TLS alert, CLIENT_FORBIDDEN for 403', () => {
    expect(answer(401).map((f) => f.code)).toEqual(['CLIENT_REJECTED']);
    expect(answer(undefined, 'tlsv1 alert unknown ca').map((f) => [f.code, f.symptom])).toEqual([
      ['CLIENT_REJECTED', 'tlsv1 alert unknown ca'],
    ]);
    expect(answer(403).map((f) => f.code)).toEqual(['CLIENT_FORBIDDEN']);
  });
});

describe("an APIService backend's answer to the front-proxy certificate", () => {
  const backend = {
    apiService: 'v1beta1.metrics.k8s.io',
    service: 'metrics-server.kube-system.svc',
    discoveryUrl: 'https://10.96.0.9:443/apis/metrics.k8s.io/v1beta1',
    subject: 'APIService v1beta1.metrics.k8s.io → https://10.96.0.9:443',
    proxyClient: 'kube-apiserver --proxy-client-cert-file (front-proxy-client.crt)',
    files: [],
  };
  const answer = (status: number | undefined, error?: string) =>
    backendAnswerFindings(backend, { served: [], status, error, body: undefined });
  it('is nothing for 200', () => {
    expect(answer(200)).toEqual([]);
  });
  it('is the FailedDiscoveryCheck the availability check will show for 401 and 403, with the cause', () => {
    const url = backend.discoveryUrl;
    expect(answer(401).map((f) => [f.code, f.symptom])).toEqual([
      ['CLIENT_REJECTED', `FailedDiscoveryCheck: failing or missing response from ${url}: bad status from ${url}: 401`],
    ]);
    const [forbidden] = answer(403);
    expect(forbidden).toMatchObject({
      code: 'CLIENT_FORBIDDEN',
      symptom: `FailedDiscoveryCheck: failing or missing response from ${url}: bad status from ${url}: 403`,
    });
    expect(forbidden!.diagnosis).toMatch(
      /for an ordinary user.*\(kpki presented kube-apiserver --proxy-client-cert-file \(front-proxy-client\.crt\)\)$/,
    );
  });
  it('is CLIENT_REJECTED for a TLS alert after the server sent its certificate', () => {
    expect(answer(undefined, 'tlsv1 alert unknown ca').map((f) => [f.code, f.symptom])).toEqual([
      ['CLIENT_REJECTED', 'tlsv1 alert unknown ca'],
    ]);
    expect(backendAnswerFindings(backend, { served: undefined, error: 'connect ECONNREFUSED' })).toEqual([]);
  });
});

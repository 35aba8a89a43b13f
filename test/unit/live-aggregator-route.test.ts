import { describe, expect, it } from 'vitest';
import { aggregatorRoute, type EndpointsObject, type ServiceObject } from '../../src/live/aggregator-route.js';

const ref = { namespace: 'kube-system', name: 'metrics-server', port: 443 };
const clusterIp: ServiceObject = { spec: { type: 'ClusterIP', clusterIP: '10.96.0.9', ports: [{ name: 'https', port: 443 }] } };
const endpoints: EndpointsObject = {
  subsets: [
    { addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }], ports: [{ name: 'https', port: 4443 }] },
    { addresses: [{ ip: '10.244.3.9' }], ports: [{ name: 'metrics', port: 9100 }] },
  ],
};

describe("the aggregator's route to an APIService backend (1.20 resolvers)", () => {
  it("is the Service's ClusterIP and service port by default", () => {
    expect(aggregatorRoute(ref, clusterIp, undefined, false)).toEqual({
      addresses: [{ host: '10.96.0.9', port: 443, via: 'the ClusterIP of service kube-system/metrics-server' }],
    });
  });

  it('is the ExternalName with the APIService port', () => {
    expect(
      aggregatorRoute({ ...ref, port: 8443 }, { spec: { type: 'ExternalName', externalName: 'metrics.example.test' } }, undefined, false),
    ).toEqual({
      addresses: [{ host: 'metrics.example.test', port: 8443, via: 'the ExternalName of service kube-system/metrics-server' }],
    });
  });

  it('is every ready endpoint on the port named like the service port with --enable-aggregator-routing', () => {
    expect(aggregatorRoute(ref, clusterIp, endpoints, true)).toEqual({
      addresses: [
        { host: '10.244.1.5', port: 4443, via: 'an endpoint of service kube-system/metrics-server' },
        { host: '10.244.2.7', port: 4443, via: 'an endpoint of service kube-system/metrics-server' },
      ],
    });
  });

  it.each<[string, ServiceObject, EndpointsObject | undefined, boolean, string]>([
    [
      'a headless service',
      { spec: { type: 'ClusterIP', clusterIP: 'None', ports: [{ port: 443 }] } },
      undefined,
      false,
      'cannot route to service with ClusterIP "None"',
    ],
    [
      'a service without the port',
      { spec: { type: 'ClusterIP', clusterIP: '10.96.0.9', ports: [{ port: 80 }] } },
      undefined,
      false,
      'no service port 443 found for service "metrics-server"',
    ],
    ['no endpoints', clusterIp, { subsets: [] }, true, 'no endpoints available for service "metrics-server"'],
    [
      'endpoints on other port names only',
      clusterIp,
      { subsets: [endpoints.subsets![1]!] },
      true,
      'no endpoints available for service "metrics-server"',
    ],
    [
      'an ExternalName with endpoint routing',
      { spec: { type: 'ExternalName', externalName: 'x.test' } },
      undefined,
      true,
      'unsupported service type "ExternalName"',
    ],
  ])("gives the aggregator's reason for %s", (_, service, eps, endpointRouting, reason) => {
    expect(aggregatorRoute(ref, service, eps, endpointRouting)).toEqual({ reason });
  });
});

/**
 * Where kube-apiserver's aggregator sends an APIService's requests (Kubernetes 1.20's service
 * resolvers): by default the Service's ClusterIP (or an ExternalName's name); with
 * --enable-aggregator-routing, the Service's Endpoints. Pure, so each route is unit-tested.
 */

export interface ServiceObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    ports?: { name?: string; port?: number }[];
  };
}

export interface EndpointsObject {
  subsets?: { addresses?: { ip?: string }[]; ports?: { name?: string; port?: number }[] }[];
}

export interface BackendAddress {
  host: string;
  port: number;
  /** How the aggregator arrives there: `the ClusterIP of service wardle/api`. */
  via: string;
}

/** The addresses to dial, or the aggregator's own reason why there are none (Go's wording). */
export type AggregatorRoute = { addresses: BackendAddress[] } | { reason: string };

const PROXIED_TYPES = ['ClusterIP', 'LoadBalancer', 'NodePort'];

/**
 * The route for APIService `spec.service` {namespace, name, port}. `endpoints` is needed only when
 * `endpointRouting` (--enable-aggregator-routing=true). Unlike the aggregator, which picks one
 * endpoint at random per request, every ready endpoint is returned: any of them may answer.
 */
export function aggregatorRoute(
  ref: { namespace: string; name: string; port: number },
  service: ServiceObject,
  endpoints: EndpointsObject | undefined,
  endpointRouting: boolean,
): AggregatorRoute {
  const type = service.spec?.type ?? 'ClusterIP';
  const label = `service ${ref.namespace}/${ref.name}`;
  const servicePort = service.spec?.ports?.find((p) => p.port === ref.port);
  const noPort = { reason: `no service port ${ref.port} found for service "${ref.name}"` };
  if (!endpointRouting && type === 'ExternalName' && service.spec?.externalName) {
    return { addresses: [{ host: service.spec.externalName, port: ref.port, via: `the ExternalName of ${label}` }] };
  }
  if (!PROXIED_TYPES.includes(type)) return { reason: `unsupported service type "${type}"` };
  if (!endpointRouting) {
    const clusterIP = service.spec?.clusterIP;
    if (clusterIP === 'None') return { reason: 'cannot route to service with ClusterIP "None"' };
    if (!servicePort) return noPort;
    return clusterIP
      ? { addresses: [{ host: clusterIP, port: ref.port, via: `the ClusterIP of ${label}` }] }
      : { reason: `service "${ref.name}" has no ClusterIP` };
  }
  if (!servicePort) return noPort;
  const addresses = (endpoints?.subsets ?? []).flatMap((subset) => {
    const port = subset.ports?.find((p) => (p.name ?? '') === (servicePort.name ?? ''))?.port;
    return port ? (subset.addresses ?? []).flatMap((a) => (a.ip ? [{ host: a.ip, port, via: `an endpoint of ${label}` }] : [])) : [];
  });
  return addresses.length ? { addresses } : { reason: `no endpoints available for service "${ref.name}"` };
}

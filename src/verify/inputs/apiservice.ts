import { badInput } from '../../errors.js';
import { yamlDocuments, type Doc } from './args.js';

export interface ApiServiceInput {
  file: string;
  name: string;
  service: { name: string; namespace: string } | undefined;
  caBundle: string | undefined;
  insecureSkipTLSVerify: boolean;
  group: string;
  version: string;
}

const HINT = 'give APIService manifests (kubectl get apiservice NAME -o yaml)';

/** APIService objects of one YAML file (`kind: List` and multi-document files too). */
export function parseApiServices(text: string, file: string): ApiServiceInput[] {
  const docs = yamlDocuments(text);
  if (!docs) throw badInput(file, 'is not YAML', HINT);
  const objects = docs.flatMap((d) => (d.kind === 'List' || d.kind === 'APIServiceList' ? ((d.items as Doc[]) ?? []) : [d]));
  return objects
    .filter((o) => o.kind === 'APIService')
    .map((o) => {
      const spec = (o.spec ?? {}) as Doc;
      const service = spec.service as Doc | undefined;
      return {
        file,
        name: String((o.metadata as Doc | undefined)?.name ?? `${spec.version}.${spec.group}`),
        service: service ? { name: String(service.name), namespace: String(service.namespace) } : undefined,
        caBundle: typeof spec.caBundle === 'string' && spec.caBundle ? spec.caBundle : undefined,
        insecureSkipTLSVerify: spec.insecureSkipTLSVerify === true,
        group: String(spec.group ?? ''),
        version: String(spec.version ?? ''),
      };
    });
}

export const NO_API_SERVICE_HINT = HINT;

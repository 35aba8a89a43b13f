import { isMap, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { badInput } from '../errors.js';
import { kubeconfigText, readYamlData } from './yaml-data.js';

/** The parts of a kubeconfig kpki reads: one cluster, user and context, resolved through current-context. */
export interface KubeconfigCredentials {
  contextName: string;
  clusterName: string;
  server: string;
  userName: string;
  /** PEM bytes, from `*-data` (base64) or from a file the kubeconfig names. */
  certificateAuthority: Source | undefined;
  clientCertificate: Source | undefined;
  clientKey: Source | undefined;
}

/** Where a credential came from, so errors can point at it. */
export interface Source {
  /** `admin.conf: users[kubernetes-admin].client-certificate-data`, or a file path. */
  origin: string;
  /** Embedded data (decoded) or undefined when it is a file reference. */
  data: Buffer | undefined;
  /** File path as written in the kubeconfig, for references. */
  path: string | undefined;
}

/** A credential embedded (`*-data`) or referenced by path. */
export type Credential = { pem: string } | { path: string };

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  userName: string;
  contextName: string;
  ca: Credential;
  cert: Credential;
  key: Credential;
}

/**
 * Serialises a kubeconfig exactly as kubeadm does: keys sorted, sequences not indented,
 * base64 data unwrapped, `preferences: {}`.
 */
export function buildKubeconfig(input: KubeconfigInput): string {
  const field = (name: string, credential: Credential) =>
    'pem' in credential ? { [`${name}-data`]: Buffer.from(credential.pem).toString('base64') } : { [name]: credential.path };
  const doc = {
    apiVersion: 'v1',
    clusters: [{ cluster: { ...field('certificate-authority', input.ca), server: input.server }, name: input.clusterName }],
    contexts: [{ context: { cluster: input.clusterName, user: input.userName }, name: input.contextName }],
    'current-context': input.contextName,
    kind: 'Config',
    preferences: {},
    users: [{ name: input.userName, user: { ...field('client-certificate', input.cert), ...field('client-key', input.key) } }],
  };
  return kubeconfigText(doc);
}

type Entry = Record<string, unknown>;

function named(file: string, doc: Entry, list: string, name: string, field: string): Entry {
  const items = doc[list];
  if (!Array.isArray(items)) throw badInput(file, `has no ${list} list`, 'is this a kubeconfig?');
  const item = items.find((i) => (i as Entry)?.name === name) as Entry | undefined;
  if (!item) throw badInput(file, `${list} has no entry named "${name}"`, 'fix current-context or the entry names');
  const body = item[field];
  if (!body || typeof body !== 'object') throw badInput(file, `${list}[${name}] has no ${field}`);
  return body as Entry;
}

/** Strict base64: Go's decoder rejects what Node's would silently skip. */
function decodeBase64(file: string, where: string, value: unknown): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value.trim()) || value.trim().length % 4 !== 0) {
    throw badInput(file, `${where} is not valid base64`, `kubectl reports "illegal base64 data"; re-embed the file with base64 -w0`);
  }
  return Buffer.from(value.trim(), 'base64');
}

function source(file: string, body: Entry, where: string, dataKey: string, pathKey: string): Source | undefined {
  if (body[dataKey] !== undefined) {
    return { origin: `${file}: ${where}.${dataKey}`, data: decodeBase64(file, `${where}.${dataKey}`, body[dataKey]), path: undefined };
  }
  if (typeof body[pathKey] === 'string') return { origin: String(body[pathKey]), data: undefined, path: String(body[pathKey]) };
  return undefined;
}

function parseYaml(text: string, file: string): unknown {
  const parsed = readYamlData(text);
  if (!parsed.ok) throw badInput(file, `not valid YAML: ${parsed.error}`);
  return parsed.value;
}

/** The document of a kubeconfig; throws BadInput when it is not YAML or not kind: Config. */
function readConfig(text: string, file: string): Entry {
  const doc = parseYaml(text, file) as Entry | null;
  if (!doc || typeof doc !== 'object' || doc.kind !== 'Config') {
    throw badInput(file, 'is not a kubeconfig (kind: Config)');
  }
  return doc;
}

/** Parses a kubeconfig and resolves its current context; throws BadInput naming the file and field. */
export function parseKubeconfig(text: string, file: string): KubeconfigCredentials {
  const doc = readConfig(text, file);
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || !contextName) {
    throw badInput(file, 'has no current-context', 'set one with kubectl config use-context');
  }
  const context = named(file, doc, 'contexts', contextName, 'context');
  const clusterName = String(context.cluster ?? '');
  const userName = String(context.user ?? '');
  const cluster = named(file, doc, 'clusters', clusterName, 'cluster');
  const user = named(file, doc, 'users', userName, 'user');
  return {
    contextName,
    clusterName,
    server: String(cluster.server ?? ''),
    userName,
    certificateAuthority: source(file, cluster, `clusters[${clusterName}]`, 'certificate-authority-data', 'certificate-authority'),
    clientCertificate: source(file, user, `users[${userName}]`, 'client-certificate-data', 'client-certificate'),
    clientKey: source(file, user, `users[${userName}]`, 'client-key-data', 'client-key'),
  };
}

/** How a user authenticates other than by client certificate: kpki cannot check these offline. */
export type OtherAuth = 'token' | 'tokenFile' | 'exec' | 'auth-provider' | 'username/password';

/** One context of a kubeconfig, with its cluster and user as client-go reads them. */
export interface KubeconfigContext {
  name: string;
  current: boolean;
  namespace: string | undefined;
  clusterName: string;
  userName: string;
  /** Undefined when the context names a cluster the file does not hold (`problems` says so). */
  cluster?: {
    server: string;
    certificateAuthority: Source | undefined;
    /** The name the client verifies the serving certificate for, and sends as SNI. */
    tlsServerName: string | undefined;
    insecureSkipTlsVerify: boolean;
    proxyUrl: string | undefined;
  };
  user?: {
    clientCertificate: Source | undefined;
    clientKey: Source | undefined;
    /** Each other method with what identifies it: `exec (aws eks get-token)`. */
    otherAuth: { method: OtherAuth; detail: string }[];
  };
  /** client-go's validation errors for this context, in its words. */
  problems: string[];
}

const list = (doc: Entry, name: string): Entry[] =>
  Array.isArray(doc[name]) ? (doc[name] as unknown[]).filter((i): i is Entry => Boolean(i) && typeof i === 'object') : [];
const body = (item: Entry | undefined, field: string): Entry | undefined =>
  item?.[field] && typeof item[field] === 'object' ? (item[field] as Entry) : undefined;
const nonEmpty = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);

function otherAuth(user: Entry): { method: OtherAuth; detail: string }[] {
  const found: { method: OtherAuth; detail: string }[] = [];
  if (nonEmpty(user.token)) found.push({ method: 'token', detail: 'a bearer token' });
  if (nonEmpty(user.tokenFile)) found.push({ method: 'tokenFile', detail: `a bearer token from ${String(user.tokenFile)}` });
  const exec = body(user, 'exec');
  if (exec)
    found.push({
      method: 'exec',
      detail: `exec plugin ${[exec.command, ...(Array.isArray(exec.args) ? exec.args : [])].map(String).join(' ')}`,
    });
  const provider = body(user, 'auth-provider');
  if (provider) found.push({ method: 'auth-provider', detail: `auth-provider ${String(provider.name ?? '?')}` });
  if (nonEmpty(user.username) || nonEmpty(user.password)) found.push({ method: 'username/password', detail: 'basic authentication' });
  return found;
}

/**
 * Every context of a kubeconfig (the file must parse; a context whose cluster or user is missing
 * carries client-go's validation error instead of throwing).
 */
export function parseKubeconfigContexts(text: string, file: string): KubeconfigContext[] {
  const doc = readConfig(text, file);
  const current = nonEmpty(doc['current-context']);
  const clusters = list(doc, 'clusters');
  const users = list(doc, 'users');
  return list(doc, 'contexts').map((item) => {
    const name = String(item.name ?? '');
    const context = body(item, 'context') ?? {};
    const clusterName = String(context.cluster ?? '');
    const userName = String(context.user ?? '');
    const problems: string[] = [];
    const clusterItem = clusters.find((c) => c.name === clusterName);
    const userItem = users.find((u) => u.name === userName);
    // client-go's validateContext and validateClusterInfo wording.
    if (!clusterName) problems.push(`cluster was not specified for context "${name}"`);
    else if (!clusterItem) problems.push(`cluster "${clusterName}" was not found for context "${name}"`);
    if (!userName) problems.push(`user was not specified for context "${name}"`);
    else if (!userItem) problems.push(`user "${userName}" was not found for context "${name}"`);
    const cluster = clusterItem && (body(clusterItem, 'cluster') ?? {});
    const user = userItem && (body(userItem, 'user') ?? {});
    if (cluster && !nonEmpty(cluster.server)) problems.push(`no server found for cluster "${clusterName}"`);
    const where = (kind: string, entry: string) => `${kind}[${entry}]`;
    return {
      name,
      current: name === current,
      namespace: nonEmpty(context.namespace),
      clusterName,
      userName,
      cluster: cluster && {
        server: String(cluster.server ?? ''),
        certificateAuthority: source(file, cluster, where('clusters', clusterName), 'certificate-authority-data', 'certificate-authority'),
        tlsServerName: nonEmpty(cluster['tls-server-name']),
        insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
        proxyUrl: nonEmpty(cluster['proxy-url']),
      },
      user: user && {
        clientCertificate: source(file, user, where('users', userName), 'client-certificate-data', 'client-certificate'),
        clientKey: source(file, user, where('users', userName), 'client-key-data', 'client-key'),
        otherAuth: otherAuth(user),
      },
      problems,
    };
  });
}

/** A kubeconfig's embedded credentials, as a day-2 command rewrites them. */
export interface KubeconfigData {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Replaces embedded data of a kubeconfig's current context (CA data of its cluster, client
 * certificate and key of its user), leaving every other field as it is.
 */
export function setKubeconfigData(text: string, file: string, data: KubeconfigData): string {
  const creds = parseKubeconfig(text, file);
  const doc = parseDocument(text);
  const entry = (list: string, name: string, field: string): YAMLMap => {
    const items = doc.get(list);
    const item = isSeq(items) ? items.items.find((i) => isMap(i) && i.get('name') === name) : undefined;
    const body = isMap(item) ? item.get(field) : undefined;
    if (!isMap(body)) throw badInput(file, `${list}[${name}] has no ${field}`);
    return body;
  };
  const base64 = (pem: string) => Buffer.from(pem).toString('base64');
  const set = (body: YAMLMap, name: string, pem: string) => {
    if (body.has(name))
      throw badInput(
        file,
        `refers to ${name} by path`,
        'kpki rewrites embedded kubeconfigs only: embed the data, or update the referenced file yourself',
      );
    body.set(`${name}-data`, base64(pem));
  };
  if (data.ca) set(entry('clusters', creds.clusterName, 'cluster'), 'certificate-authority', data.ca);
  if (data.cert) set(entry('users', creds.userName, 'user'), 'client-certificate', data.cert);
  if (data.key) set(entry('users', creds.userName, 'user'), 'client-key', data.key);
  return doc.toString({ indentSeq: false, lineWidth: 0, minContentWidth: 0 });
}

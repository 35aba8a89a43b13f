import type { FileWrite } from '../model/files.js';
import path from 'node:path';
import { DEFAULTS, kubeconfigDirOf } from '../model/defaults.js';
import { badFlag } from '../errors.js';
import { issueLeaf, leafKeyType, leafWrites, loadCa, writeLocked, writeNewFiles } from '../issue/leaf.js';
import { certificatePem } from '../pki/certificate.js';
import { privateKeyPem } from '../pki/keys.js';
import { renderCsr } from '../plan/render.js';
import { parseNodeName } from '../model/settings.js';
import { readOptional } from '../store/files.js';
import { nodeIdentity } from '../model/profile.js';
import { loadProfile } from '../store/profiles.js';
import { exists } from '../store/tree.js';
import { buildKubeconfig, parseKubeconfig, type Credential } from '../kubeconfig/kubeconfig.js';
import { mergeKubeconfig, type RenameHints } from '../kubeconfig/merge.js';
import type { TokenChoice } from '../store/token-settings.js';

/** The flags that pick another name for an entry whose name --merge-into finds taken. */
const RENAME_FLAGS: RenameHints = { clusters: '--cluster-name', contexts: '--context-name', users: '--user-name' };

/** Groups that bypass authorization entirely and cannot be revoked short of rotating the CA. */
const UNREVOCABLE_GROUPS = ['system:masters'];

export interface IssueKubeconfigOptions {
  /** `user`, `node`, or a standard kubeconfig of the profile: `admin`, `super-admin`, `controller-manager`, `scheduler`, `kubelet`. */
  kind: string;
  clientName?: string;
  organizations?: string[];
  nodeName?: string;
  certDir?: string;
  kubeconfigDir?: string;
  profile?: string;
  /** Default: the server of the kubeconfig being rewritten, else admin.conf's. */
  server?: string;
  clusterName?: string;
  contextName?: string;
  /** The user entry's name (default: the certificate's CN). */
  userName?: string;
  /** Default 1y, never past the CA's expiry. */
  validity?: string;
  /** Default: the CA's key type. */
  keyType?: string;
  /** Sign with this CA instead of the cert dir's ca.crt/ca.key. */
  caCert?: string;
  caKey?: string;
  /** The PIN and module of a token that holds the cluster CA's key (kpki-pkcs11.json). */
  token?: Pick<TokenChoice, 'pin' | 'pkcs11Module'>;
  /** Default true; false writes the certificate and key next to the kubeconfig (needs `out`). */
  embed?: boolean;
  /** Write here (0600) instead of returning the text only; standard kinds default to the kubeconfig dir. */
  out?: string;
  /** Write a key and a CSR for an external signer instead of a kubeconfig. */
  csrOnly?: boolean;
  /** Issue an identity in system:masters even though it cannot be revoked. */
  allowSystemMasters?: boolean;
  /** Merge into this kubeconfig (atomically, other entries untouched). */
  mergeInto?: string;
  /** Replace an existing --out file. */
  force?: boolean;
  now?: Date;
}

export interface IssueKubeconfigResult {
  clientName: string;
  organizations: string[];
  server: string;
  clusterName: string;
  contextName: string;
  notAfter: string | undefined;
  /** The kubeconfig text (also when written to a file). */
  kubeconfig: string | undefined;
  /** The CSR, with csrOnly. */
  csr: string | undefined;
  files: string[];
}

interface Identity {
  name: string;
  commonName: string;
  organizations: string[];
  /** The standard file this identity lives in, if any. */
  file?: string;
}

async function identityFor(options: IssueKubeconfigOptions): Promise<Identity> {
  const orgs = options.organizations ?? [];
  if (orgs.some((o) => !o.trim())) throw badFlag('--org', 'is empty', 'give a group name, or leave --org out');
  if (options.kind === 'user') {
    if (!options.clientName?.trim())
      throw badFlag('--client-name', 'is required for a user kubeconfig', 'e.g. --client-name alice --org developers');
    return { name: options.clientName, commonName: options.clientName, organizations: orgs };
  }
  const nodeName = options.nodeName === undefined ? undefined : parseNodeName('--node-name', options.nodeName);
  const profile = await loadProfile(options.profile);
  if (options.kind === 'node') {
    if (!nodeName) throw badFlag('--node-name', 'is required for a node kubeconfig');
    const identity = nodeIdentity(profile, nodeName);
    if (!identity)
      throw badFlag(
        '--profile',
        `${profile.name} has no kubeconfig with identity: kubelet`,
        'use a profile that describes the kubelet (kubeadm)',
      );
    return { name: nodeName, ...identity };
  }
  const entry = profile.kubeconfigs.find((k) => k.name === `${options.kind}.conf` || k.name === options.kind);
  if (!entry) {
    throw badFlag(
      'kind',
      `"${options.kind}" is not user, node or one of ${profile.kubeconfigs.map((k) => k.name.replace(/\.conf$/, '')).join(', ')}`,
    );
  }
  if (entry.commonName.includes('${nodeName}') && !nodeName) throw badFlag('--node-name', `is required for ${entry.name}`);
  const fill = (t: string) => t.replace('${nodeName}', nodeName ?? '');
  return { name: entry.name, commonName: fill(entry.commonName), organizations: entry.organizations.map(fill), file: entry.file };
}

/** Server and cluster name: explicit, else from the file being rewritten, else from admin.conf. */
async function clusterEndpoint(options: IssueKubeconfigOptions, target: string | undefined) {
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(options.certDir ?? DEFAULTS.certDir);
  const admin = (await loadProfile(options.profile)).kubeconfigs.find((k) => k.identity === 'admin');
  for (const file of [target, admin && path.join(kubeconfigDir, admin.file)]) {
    const data = file && (await readOptional(file));
    if (!data) continue;
    const creds = parseKubeconfig(data.toString('utf8'), file);
    return { server: options.server ?? creds.server, clusterName: options.clusterName ?? creds.clusterName };
  }
  if (!options.server)
    throw badFlag(
      '--server',
      'is required: there is no admin.conf to take the apiserver address from',
      'e.g. --server https://k8s-api.example.com:6443',
    );
  return { server: options.server, clusterName: options.clusterName ?? DEFAULTS.clusterName };
}

/**
 * Issues a client certificate from the cluster CA and wraps it in a kubeconfig (or writes a key
 * and CSR for an external signer). Returns what `kpki kubeconfig --json` prints.
 */
export async function issueKubeconfig(options: IssueKubeconfigOptions): Promise<IssueKubeconfigResult> {
  const identity = await identityFor(options);
  const dangerous = identity.organizations.filter((o) => UNREVOCABLE_GROUPS.includes(o));
  if (options.kind === 'user' && dangerous.length && !options.allowSystemMasters) {
    throw badFlag(
      '--org',
      `${dangerous.join(', ')} bypasses all authorization, and a certificate in it cannot be revoked before it expires`,
      'use a group bound by RBAC (e.g. kubeadm:cluster-admins), or pass --allow-system-masters if you mean it',
    );
  }
  if (options.embed === false && !options.out)
    throw badFlag('--no-embed', 'needs --out: the certificate and key are written next to the kubeconfig');
  const kubeconfigDir = options.kubeconfigDir ?? kubeconfigDirOf(options.certDir ?? DEFAULTS.certDir);
  const out = options.out ?? (identity.file && !options.mergeInto ? path.join(kubeconfigDir, identity.file) : undefined);
  const ca = await loadCa(options.caCert ?? 'cluster', options.certDir ?? DEFAULTS.certDir, {
    keyFile: options.caKey,
    needKey: !options.csrOnly,
    certFlag: '--ca-cert',
    keyFlag: '--ca-key',
    profile: options.profile,
    token: options.token,
  });
  const base = { clientName: identity.commonName, organizations: identity.organizations };

  if (options.csrOnly) {
    const { pair, csr: csrPem } = await renderCsr(leafKeyType(ca, options.keyType), identity.commonName, identity.organizations);
    const prefix = options.out ?? identity.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    await writeNewFiles(
      [
        { path: `${prefix}.key`, data: privateKeyPem(pair.privateKey), mode: 0o600 },
        { path: `${prefix}.csr`, data: csrPem, mode: 0o644 },
      ],
      options.force,
    );
    return {
      ...base,
      server: '',
      clusterName: '',
      contextName: '',
      notAfter: undefined,
      kubeconfig: undefined,
      csr: csrPem,
      files: [`${prefix}.key`, `${prefix}.csr`],
    };
  }

  const { server, clusterName } = await clusterEndpoint(options, out && identity.file ? out : undefined);
  const { cert, pair } = await issueLeaf(
    ca,
    {
      name: identity.name,
      commonName: identity.commonName,
      organizations: identity.organizations,
      sans: [],
      usages: ['clientAuth'],
      validity: options.validity,
      keyType: options.keyType,
      profile: options.profile,
    },
    options.now,
  );
  const userName = options.userName ?? identity.commonName;
  const contextName = options.contextName ?? `${userName}@${clusterName}`;
  let credentials: { ca: Credential; cert: Credential; key: Credential } = {
    ca: { pem: certificatePem(ca.cert) },
    cert: { pem: certificatePem(cert) },
    key: { pem: privateKeyPem(pair.privateKey) },
  };
  // A kubeconfig and the files it names are written together (one journal).
  let pairWrites: FileWrite[] = [];
  if (options.embed === false) {
    // Files beside the kubeconfig; client-go resolves relative paths against the kubeconfig's directory.
    const stem = path.join(path.dirname(out!), path.basename(out!).replace(/\.(conf|ya?ml|kubeconfig)$/, ''));
    pairWrites = leafWrites(stem, { cert, pair });
    credentials = {
      ca: { path: path.resolve(ca.certFile) },
      cert: { path: path.basename(`${stem}.crt`) },
      key: { path: path.basename(`${stem}.key`) },
    };
  }
  const kubeconfig = buildKubeconfig({ clusterName, server, userName, contextName, ...credentials });

  const files = pairWrites.map((w) => w.path);
  if (options.mergeInto) {
    const target = options.mergeInto;
    // Read and merged under the lock, so that concurrent merges never drop each other's entries.
    await writeLocked(path.dirname(path.resolve(target)), files, options.force, async () => {
      const merged = mergeKubeconfig((await readOptional(target))?.toString('utf8') ?? '', kubeconfig, target, RENAME_FLAGS);
      return [...pairWrites, { path: target, data: merged, mode: 0o600 }];
    });
    files.push(target);
  } else if (out) {
    // The standard files are rewritten on purpose, under the lock of the PKI they belong to (when
    // there is one: with --ca-cert the cert dir may not exist); others are kept unless --force.
    const certDir = options.certDir ?? DEFAULTS.certDir;
    const lockDir = identity.file && (await exists(certDir)) ? certDir : path.dirname(path.resolve(out));
    await writeLocked(lockDir, identity.file ? files : [out, ...files], options.force, async () => [
      { path: out, data: kubeconfig, mode: 0o600 },
      ...pairWrites,
    ]);
    files.unshift(out);
  }
  return { ...base, server, clusterName, contextName, notAfter: cert.notAfter.toISOString(), kubeconfig, csr: undefined, files };
}

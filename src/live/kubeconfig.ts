import { parseHostPort } from '../model/net.js';
import { publicKeyObject } from '../pki/certificate-facts.js';
import type { x509 } from '../pki/crypto.js';
import { sameKeyPair } from '../pki/keys.js';
import { goCertificate, type CertificateData } from '../pki/parse.js';
import { validityPeriodError } from '../pki/verify.js';
import { certificateDerPem } from '../pki/pem.js';
import type { LoadedContext } from '../verify/facts.js';
import { FindingCode, type Finding, type Severity } from '../verify/findings.js';
import { infoOf } from '../verify/rule.js';
import { CLIENT_TLS_PREFIX } from '../verify/rules/common.js';
import { describeUser } from '../verify/rules/contexts.js';
import { clientAnswerFindings, servedChainFindings, unreachable, type Dialer } from './findings.js';
import { permissionFindings, type AccessAnswers } from './permissions.js';
import { probe, type ProbeTarget } from './probe.js';
import { proxyFor } from './proxy.js';

/**
 * `kpki verify --kubeconfig F --live` with only a kubeconfig: each context's server dialled as
 * kubectl dials it (proxy, tls-server-name), its chain verified against the kubeconfig's CA, the
 * client certificate presented, and what the apiserver answers: who it takes the client for and
 * what that identity may do.
 */

/** PEM, as TLS options take certificates. */
const pem = (cert: CertificateData) => certificateDerPem(cert.rawData);

const notChecked = (subject: string, diagnosis: string, fix: string, files: string[], severity: Severity = 'warning'): Finding => ({
  code: FindingCode.Unchecked,
  severity,
  subject,
  symptom: '',
  diagnosis,
  fix,
  files,
});

const keyId = (cert: CertificateData, which: 'subjectKeyId' | 'authorityKeyId') => infoOf(cert)[which];

/** The CA at the top of a served chain: the issuer of its last certificate, or that certificate when a server sends its root along. */
function chainSigner(served: CertificateData[]): { name: string; key: string | undefined } {
  const top = served[served.length - 1]!;
  const go = goCertificate(top);
  return go.rawSubject.equals(go.rawIssuer)
    ? { name: infoOf(top).commonName, key: keyId(top, 'subjectKeyId') }
    : { name: infoOf(top).issuerCommonName, key: keyId(top, 'authorityKeyId') };
}

/** A CA file kpki knows besides the kubeconfig: `kube-apiserver --client-ca-file (pki/ca.crt)`. */
export interface KnownCa {
  file: string;
  certs: CertificateData[];
}

/**
 * Who signed the served certificate, in words, and what that says about the kubeconfig (its CA
 * and client certificate); with `known` (the PKI's CAs, when a PKI is known), which of them it is.
 */
export function servedSigner(
  served: CertificateData[],
  ctx: Pick<LoadedContext, 'authorities' | 'clientCertificates'>,
  known: KnownCa[] = [],
): string {
  const { name, key: signerKey } = chainSigner(served);
  const issuer = `CN=${name}${signerKey ? `, key id ${signerKey}` : ''}`;
  const own = ctx.authorities?.[0];
  const parts = [`the served certificate was signed by ${issuer}`];
  if (known.length) {
    const match = known.find((ca) => signerKey && ca.certs.some((cert) => keyId(cert, 'subjectKeyId') === signerKey));
    parts.push(match ? `that is the CA in ${match.file}` : `none of the PKI's CAs (${known.map((ca) => ca.file).join(', ')}) signed it`);
  }
  if (own && infoOf(own).commonName === name && keyId(own, 'subjectKeyId') !== signerKey) {
    parts.push(
      `the kubeconfig's CA has the same name but another key (key id ${keyId(own, 'subjectKeyId') ?? 'none'}): it is another cluster's CA, or the cluster's CA was rotated`,
    );
  }
  const client = ctx.clientCertificates?.[0];
  if (client && signerKey && keyId(client, 'authorityKeyId') === signerKey)
    parts.push("the kubeconfig's client certificate comes from that same CA, so it is the certificate-authority data that is wrong");
  return parts.join('; ');
}

/** Why the apiserver may refuse a client certificate, from what the client can see. */
function refusalReason(client: CertificateData | undefined, served: CertificateData[], now: Date): string | undefined {
  if (!client) return undefined;
  const validity = validityPeriodError(client, now);
  if (validity) return `the client certificate is outside its validity period (${validity})`;
  const clientCa = keyId(client, 'authorityKeyId');
  const serverCa = chainSigner(served).key;
  if (clientCa && serverCa && clientCa !== serverCa) {
    return `it was signed by CN=${infoOf(client).issuerCommonName} (key id ${clientCa}), not by the CA that signed the server's certificate (key id ${serverCa}); a kubeadm apiserver trusts client certificates of that CA (--client-ca-file)`;
  }
  return undefined;
}

interface Credentials {
  cert: string;
  key: string;
  leaf: CertificateData;
}

function credentialsOf(ctx: LoadedContext): Credentials | undefined {
  const certs = ctx.clientCertificates;
  if (!certs?.length || !ctx.clientKey || !sameKeyPair(ctx.clientKey, publicKeyObject(certs[0]!))) return undefined;
  return { cert: certs.map(pem).join(''), key: ctx.clientKey.export({ type: 'pkcs8', format: 'pem' }) as string, leaf: certs[0]! };
}

const SELF_SUBJECT = '/apis/authorization.k8s.io/v1';

/** The access reviews every authenticated user may make (system:basic-user): what the identity may do. */
async function accessAnswers(base: Omit<ProbeTarget, 'path'>, namespace: string): Promise<AccessAnswers | { error: string }> {
  const post = async (kind: string, spec: object) => {
    const result = await probe({
      ...base,
      method: 'POST',
      path: `${SELF_SUBJECT}/${kind.toLowerCase()}s`,
      body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind, spec }),
    });
    if (result.status !== 201 && result.status !== 200)
      throw new Error(`${kind}: ${result.status ? `the apiserver answered ${result.status}` : (result.error ?? 'no answer')}`);
    return (JSON.parse(result.body ?? '{}') as { status?: unknown }).status ?? {};
  };
  try {
    const [everything, listPods, rules] = await Promise.all([
      post('SelfSubjectAccessReview', { resourceAttributes: { verb: '*', group: '*', resource: '*' } }),
      post('SelfSubjectAccessReview', { resourceAttributes: { namespace, verb: 'list', resource: 'pods' } }),
      post('SelfSubjectRulesReview', { namespace }),
    ]);
    return {
      namespace,
      everything: Boolean((everything as { allowed?: boolean }).allowed),
      listPods: Boolean((listPods as { allowed?: boolean }).allowed),
      rules: rules as AccessAnswers['rules'],
    };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

async function contextFindings(
  ctx: LoadedContext,
  timeout: number,
  env: Record<string, string | undefined>,
  now: Date,
): Promise<Finding[]> {
  const { cluster } = ctx.context;
  // Contexts kubectl cannot use are the offline findings already.
  if (!cluster || ctx.context.problems.length) return [];
  const files = [ctx.file];
  let url: URL | undefined;
  try {
    url = new URL(cluster.server);
  } catch {
    url = undefined;
  }
  const hostPort = url?.protocol === 'https:' ? parseHostPort(url.host) : undefined;
  const subject = `${ctx.label} → ${cluster.server}`;
  if (!url || !hostPort)
    return [
      notChecked(
        subject,
        `not dialed: server "${cluster.server}" is not an https URL`,
        `set the cluster's server to https://HOST:PORT (kubectl config set-cluster ${ctx.context.clusterName} --server …)`,
        files,
      ),
    ];
  const choice = proxyFor(url, env, cluster.proxyUrl);
  if ('unsupported' in choice)
    return [
      notChecked(
        subject,
        `not dialed: ${choice.unsupported}`,
        'run kpki verify --live where the apiserver is reachable without that proxy',
        files,
      ),
    ];
  const verifiedName = cluster.tlsServerName ?? hostPort.host;
  const credentials = credentialsOf(ctx);
  const base: Omit<ProbeTarget, 'path'> = {
    host: hostPort.host,
    port: hostPort.port ?? 443,
    servername: cluster.tlsServerName,
    clientCertificate: credentials?.cert,
    clientKey: credentials?.key,
    proxy: choice.proxy,
    timeoutMs: timeout,
  };
  const result = await probe({ ...base, path: '/api' });
  const via = choice.proxy ? ` (through ${'origin' in choice ? choice.origin : 'a proxy'})` : '';
  if (!result.served) return [unreachable({ subject, files }, result, `${cluster.server}${via}: the served certificate`)];
  const out: Finding[] = [];
  if (cluster.insecureSkipTlsVerify) {
    // The offline finding says so already; here only what the chain would have done.
  } else if (ctx.authorities?.length) {
    const dialer: Dialer = {
      subject,
      host: verifiedName,
      roots: ctx.authorities,
      rootsFile: ctx.authorityOrigin!,
      files,
      says: (goError) => `Unable to connect to the server: ${CLIENT_TLS_PREFIX}${goError}`,
    };
    for (const f of await servedChainFindings(dialer, result.served, now)) {
      if (f.code !== FindingCode.ChainUntrusted) {
        out.push(f);
        continue;
      }
      const fromClientCa =
        ctx.clientCertificates?.[0] && keyId(ctx.clientCertificates[0], 'authorityKeyId') === chainSigner(result.served).key;
      out.push({
        ...f,
        diagnosis: `${f.diagnosis}: ${servedSigner(result.served, ctx)}`,
        fix: fromClientCa
          ? `put the CA that signed both into the kubeconfig: kubectl config set-cluster ${ctx.context.clusterName} --kubeconfig ${ctx.file} --certificate-authority CA.crt --embed-certs (on a kubeadm control plane, CA.crt is /etc/kubernetes/pki/ca.crt)`
          : `ask for the cluster's CA certificate (on a kubeadm control plane /etc/kubernetes/pki/ca.crt) and embed it: kubectl config set-cluster ${ctx.context.clusterName} --kubeconfig ${ctx.file} --certificate-authority CA.crt --embed-certs`,
      });
    }
  } else if (ctx.context.cluster?.certificateAuthority) {
    out.push(
      notChecked(
        subject,
        "the served chain not checked: the kubeconfig's certificate-authority cannot be read (see the offline finding)",
        'fix the certificate-authority first',
        files,
      ),
    );
  } else {
    out.push(
      notChecked(
        subject,
        "the served chain not checked against the system's trusted roots, which kpki does not read",
        'nothing, if the apiserver serves a publicly trusted certificate',
        files,
        'info',
      ),
    );
  }
  if (!credentials) {
    if (ctx.clientCertificates?.length)
      out.push(
        notChecked(
          subject,
          'the client certificate not presented: it cannot be used with its key (see the offline finding)',
          'fix the client certificate and key first',
          files,
        ),
      );
    return out;
  }
  out.push(
    ...clientAnswerFindings(
      subject,
      ctx.file,
      credentials.leaf as x509.X509Certificate,
      result,
      refusalReason(credentials.leaf, result.served, now),
    ),
  );
  if (result.status !== 200) {
    if (result.status === undefined && !result.error)
      out.push(notChecked(subject, 'the apiserver closed the connection without an answer', 'run kpki verify --live again', files));
    return out;
  }
  const namespace = ctx.context.namespace ?? 'default';
  const answers = await accessAnswers(base, namespace);
  if ('error' in answers)
    return [
      ...out,
      notChecked(
        subject,
        `what ${describeUser(credentials.leaf)} may do was not asked: ${answers.error}`,
        'kubectl auth can-i --list asks the same',
        files,
        'info',
      ),
    ];
  return [...out, ...permissionFindings(subject, ctx.file, describeUser(credentials.leaf), infoOf(credentials.leaf).commonName, answers)];
}

export interface ContextDialing {
  timeoutMs: number;
  /** The environment kubectl would run with (HTTPS_PROXY, NO_PROXY). */
  env: Record<string, string | undefined>;
  now: Date;
}

/** The live findings of each context: every connection bounded, what could not be reached said so. */
export async function contextsLive(contexts: LoadedContext[], dialing: ContextDialing): Promise<Finding[]> {
  return (await Promise.all(contexts.map((ctx) => contextFindings(ctx, dialing.timeoutMs, dialing.env, dialing.now)))).flat();
}

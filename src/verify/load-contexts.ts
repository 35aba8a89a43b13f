import type { KeyObject } from '../pki/keys.js';
import path from 'node:path';
import { badFlag, badInput, KpkiError } from '../errors.js';
import { parseKubeconfigContexts, type KubeconfigContext, type Source } from '../kubeconfig/kubeconfig.js';
import type { Wiring } from '../model/flags.js';
import type { Profile } from '../model/profile.js';
import type { CertificateData } from '../pki/parse.js';
import type { ReadFile } from '../store/bounded-read.js';
import { emptyFacts, type Facts, type LoadedContext } from './facts.js';
import { FindingCode, type Finding } from './findings.js';
import { rootCertificates, tlsCertificates, tlsPrivateKey, type Read } from './go-readers.js';

/**
 * A kubeconfig checked on its own (a laptop's ~/.kube/config): every context, or the one asked
 * for, with its CA, client certificate and key read as client-go reads them: embedded data, or a
 * file relative to the kubeconfig's directory. Unreadable credentials are findings in kubectl's words.
 */

export interface ContextLoadOptions {
  read: (file: string) => Promise<ReadFile | undefined>;
  now: Date;
  warnWithinSeconds: number;
  /** `--context`: only this context. */
  context?: string;
  profile: Profile;
  wiring: Wiring;
}

/** The names client-go's validation gives each credential field. */
const FIELD = { ca: 'certificate-authority', cert: 'client-cert', key: 'client-key' } as const;

export async function loadContexts(files: string[], options: ContextLoadOptions): Promise<Facts> {
  const inputs = {
    profile: options.profile,
    wiring: options.wiring,
    kubeconfigs: [],
    apiServices: [],
    extensionServingCerts: [],
    pkiFiles: [],
    nodeAddresses: [],
  };
  const facts: Facts = {
    ...emptyFacts(inputs, {
      now: options.now,
      warnWithinSeconds: options.warnWithinSeconds,
      root: undefined,
      certDir: undefined,
      assumedFlags: false,
    }),
    contexts: [],
  };
  const reported = new Set<string>();
  const report = (finding: Finding) => {
    // A file several contexts share is reported once.
    const id = `${finding.code} ${finding.files.join(' ')}`;
    if (!reported.has(id)) facts.loadFindings.push(finding);
    reported.add(id);
  };
  let found = false;
  for (const file of files) {
    const read = await options.read(file);
    if (!read) throw badInput(file, 'no such file', 'give the path of a kubeconfig, e.g. --kubeconfig ~/.kube/config');
    const contexts = parseKubeconfigContexts(read.data.toString('utf8'), file).filter(
      (c) => !options.context || c.name === options.context,
    );
    if (!contexts.length && !options.context) throw badInput(file, 'has no contexts', 'kubectl config set-context creates one');
    found ||= contexts.length > 0;
    for (const context of contexts)
      facts.contexts!.push({ ...(await loadContext(file, context, options, facts, report)), fileMode: read.mode });
  }
  if (options.context && !found) {
    throw badFlag(
      '--context',
      `no context "${options.context}" in ${files.join(', ')}`,
      `kubectl config get-contexts --kubeconfig ${files[0]} lists them`,
    );
  }
  return facts;
}

async function loadContext(
  file: string,
  context: KubeconfigContext,
  options: ContextLoadOptions,
  facts: Facts,
  report: (f: Finding) => void,
): Promise<LoadedContext> {
  const label = `${file} context ${context.name}${context.userName ? ` (user ${context.userName})` : ''}`;
  for (const problem of context.problems) {
    report({
      code: FindingCode.FileInvalid,
      severity: 'error',
      subject: label,
      symptom: `error: invalid configuration: ${problem}`,
      diagnosis: `${file} cannot be used with context ${context.name}: ${problem}`,
      fix: `fix the context's entries (kubectl config set-context ${context.name} --kubeconfig ${file} --cluster … --user …)`,
      files: [file],
    });
  }
  // client-go makes referenced paths absolute against the kubeconfig's directory, and its errors show them so.
  const dir = path.resolve(path.dirname(file));
  const owner = (kind: keyof typeof FIELD) => (kind === 'ca' ? context.clusterName : context.userName);

  const credential = async <T>(
    source: Source | undefined,
    kind: keyof typeof FIELD,
    reader: (data: Buffer) => Read<T>,
  ): Promise<{ value?: T; origin?: string }> => {
    if (!source) return {};
    const named = source.path && path.resolve(dir, source.path);
    let data = source.data;
    if (named) {
      const subject = `${label}: ${FIELD[kind]} ${source.path}`;
      try {
        data = (await options.read(named))?.data;
      } catch (error) {
        const message = error instanceof KpkiError ? error.message.replace(/^.*?: /, '') : (error as Error).message;
        report({
          code: FindingCode.FileInvalid,
          severity: 'error',
          subject,
          symptom: `error: unable to read ${FIELD[kind]} ${named} for ${owner(kind)} due to ${message}`,
          diagnosis: `${named} (named by ${file}) cannot be read: ${message}`,
          fix: 'make the file readable, or embed its data in the kubeconfig (kubectl config set-credentials --embed-certs)',
          files: [named],
        });
        return { origin: named };
      }
      if (!data) {
        report({
          code: FindingCode.FileMissing,
          severity: 'error',
          subject,
          symptom: `error: unable to read ${FIELD[kind]} ${named} for ${owner(kind)} due to open ${named}: no such file or directory`,
          diagnosis: `${file} names ${source.path}${source.path !== named ? ` (${named}, relative to the kubeconfig's directory)` : ''}, which does not exist`,
          fix: `put the file there, or point ${file} at it (kubectl config set-${kind === 'ca' ? 'cluster' : 'credentials'} … --${FIELD[kind] === 'client-cert' ? 'client-certificate' : FIELD[kind]} FILE --embed-certs)`,
          files: [named],
        });
        return { origin: named };
      }
    }
    const origin = named ?? source.origin;
    const parsed = reader(data!);
    if (!parsed.ok) {
      report({
        code: FindingCode.FileInvalid,
        severity: 'error',
        subject: label,
        symptom: parsed.error,
        diagnosis: `${origin} (the ${FIELD[kind]} of ${label}) cannot be used: ${parsed.error}`,
        fix: 'restore it from its source, or ask for a new kubeconfig',
        files: [named ?? file],
      });
      return { origin };
    }
    return { value: parsed.value, origin };
  };

  const ca = await credential<CertificateData[]>(context.cluster?.certificateAuthority, 'ca', rootCertificates);
  const cert = await credential<CertificateData[]>(context.user?.clientCertificate, 'cert', tlsCertificates);
  const key = await credential<KeyObject>(context.user?.clientKey, 'key', tlsPrivateKey);
  if (context.user?.clientCertificate && !context.user.clientKey) {
    const problem = `client-key-data or client-key must be specified for ${context.userName} to use the clientCert authentication method.`;
    report({
      code: FindingCode.FileInvalid,
      severity: 'error',
      subject: label,
      symptom: `error: invalid configuration: ${problem}`,
      diagnosis: `${file}: user ${context.userName} has a client certificate but no key`,
      fix: `add the key (kubectl config set-credentials ${context.userName} --kubeconfig ${file} --client-key FILE --embed-certs)`,
      files: [file],
    });
  }
  // Validity, key strength and signatures are the hygiene rule's, as for every other certificate.
  const renew = `ask the cluster's administrator for a new client certificate (kpki kubeconfig user --client-name ${context.userName || 'NAME'} --org GROUP on the machine holding the CA)`;
  if (cert.value)
    facts.certificateSources.push({ file: cert.origin!, subject: `${label} client certificate`, certificates: cert.value, renew });
  if (ca.value)
    facts.certificateSources.push({
      file: ca.origin!,
      subject: `${file} cluster ${context.clusterName} certificate-authority`,
      certificates: ca.value,
    });
  return {
    file,
    context,
    label,
    authorities: ca.value,
    authorityOrigin: ca.origin,
    clientCertificates: cert.value,
    clientCertificateOrigin: cert.origin,
    clientKey: key.value,
    clientKeyOrigin: key.origin,
  };
}

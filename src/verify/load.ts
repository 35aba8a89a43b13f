import type { KeyObject } from '../pki/keys.js';
import path from 'node:path';
import { KpkiError } from '../errors.js';
import { parseKubeconfig, type Source } from '../kubeconfig/kubeconfig.js';
import type { CertificateData, CertificateParses } from '../pki/parse.js';
import {
  emptyFacts,
  factName,
  inputReferences,
  type Facts,
  type FileFact,
  type FileReference,
  type LoadedKubeconfig,
  type ReadAs,
} from './facts.js';
import { FindingCode, type Finding } from './findings.js';
import { caBundle, parseDer, privateKey, publicKeys, rootCertificates, tlsCertificates, tlsPrivateKey, type Read } from './go-readers.js';
import type { ClusterInputs } from './model.js';
import type { ReadFile } from '../store/bounded-read.js';
import type { PathResolver } from '../store/node-root.js';

export interface LoadOptions {
  /** Reads a file as store's readBounded does: undefined when absent, KpkiError when unusable. */
  read: (file: string) => Promise<ReadFile | undefined>;
  now: Date;
  warnWithinSeconds: number;
  root: string | undefined;
  certDir: string | undefined;
  assumedFlags: boolean;
  resolve: PathResolver;
}

type Parsed = CertificateData[] | KeyObject | KeyObject[];

const READERS: Record<Exclude<ReadAs, 'kubeconfig'>, (data: Buffer, parses: CertificateParses) => Read<Parsed>> = {
  'tls-cert': tlsCertificates,
  'tls-key': tlsPrivateKey,
  'ca-bundle': caBundle,
  'root-certificates': rootCertificates,
  'public-keys': publicKeys,
  'private-key': privateKey,
};

const looksLikeText = (data: Buffer) => data.length > 0 && data.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));

/** The command that turns a DER file into the PEM Kubernetes reads, when the file is DER. */
function derFix(data: Buffer, file: string, readAs: ReadAs): string | undefined {
  if (looksLikeText(data)) return undefined;
  const wantsKey = readAs === 'tls-key' || readAs === 'private-key';
  // Not a DER certificate either: nothing to convert.
  if (!wantsKey && !parseDer(data).ok) return undefined;
  // openssl creates the output with the umask's mode: set the one a key or certificate must have.
  return `openssl ${wantsKey ? 'pkey' : 'x509'} -inform DER -in ${file} -out ${file}.pem && chmod ${wantsKey ? '600' : '644'} ${file}.pem && mv ${file}.pem ${file}`;
}

/** Reads every file the inputs name once, parses each as its component would, and records what fails. */
export async function loadFacts(inputs: ClusterInputs, options: LoadOptions): Promise<Facts> {
  const facts = emptyFacts(inputs, {
    now: options.now,
    warnWithinSeconds: options.warnWithinSeconds,
    root: options.root,
    certDir: options.certDir,
    assumedFlags: options.assumedFlags,
  });
  const parses: CertificateParses = new Map();
  const reported = new Set<string>();
  const report = (finding: Finding) => {
    // One finding per file: the first component to read it names the problem.
    const id = `${finding.code} ${finding.files.join(' ')}`;
    if (reported.has(id)) return;
    reported.add(id);
    facts.loadFindings.push(finding);
  };
  const invalid = (file: string, subject: string, symptom: string, fix: string) =>
    report({
      code: FindingCode.FileInvalid,
      severity: 'error',
      subject,
      symptom,
      diagnosis: `${file} (from ${subject}) cannot be used: ${symptom}`,
      fix,
      files: [file],
    });

  // Reads start all at once (the disk and the thread pool overlap them); results are taken in order.
  const fetches = new Map<string, Promise<{ real: string; loaded?: ReadFile; error?: unknown }>>();
  const fetch = (ref: FileReference) => {
    const name = factName(ref.file, ref.relativeTo);
    let pending = fetches.get(name);
    if (!pending) {
      pending = (async () => {
        let real = '';
        try {
          real = await options.resolve(ref.file, ref.relativeTo);
          return { real, loaded: await options.read(real) };
        } catch (error) {
          return { real, error };
        }
      })();
      fetches.set(name, pending);
    }
    return pending;
  };

  const read = async (ref: FileReference): Promise<FileFact> => {
    const name = factName(ref.file, ref.relativeTo);
    const fetched = await fetch(ref);
    let fact = facts.files.get(name);
    if (!fact) {
      fact = { name, real: fetched.real, readAs: new Set(), subjects: [], ...fetched.loaded };
      facts.files.set(name, fact);
      const { error } = fetched;
      if (error) {
        const message = error instanceof KpkiError ? error.message.replace(/^.*?: /, '') : (error as Error).message;
        invalid(ref.file, ref.subject, message, error instanceof KpkiError && error.hint ? error.hint : 'restore the file or reissue it');
        fact.unreadable = true;
      }
    }
    fact.readAs.add(ref.readAs);
    if (!fact.subjects.includes(ref.subject)) fact.subjects.push(ref.subject);
    if (!fact.data && !fact.unreadable && !ref.optional) {
      report({
        code: FindingCode.FileMissing,
        severity: 'error',
        subject: ref.subject,
        symptom: `open ${ref.file}: no such file or directory`,
        diagnosis: `${ref.subject} names ${ref.file}, which does not exist${options.root ? ` under ${options.root}` : ''}`,
        fix: `create it (kpki init writes kubeadm's layout) or point ${ref.subject} at the right file`,
        files: [ref.file],
      });
    }
    return fact;
  };

  const parse = (data: Buffer, ref: FileReference, shownAs: string): Parsed | undefined => {
    const result = READERS[ref.readAs as keyof typeof READERS](data, parses);
    if (result.ok) return result.value;
    const symptom = ref.wrap ? ref.wrap(result.error) : result.error;
    invalid(shownAs, ref.subject, symptom, derFix(data, shownAs, ref.readAs) ?? 'restore the file from its source or reissue it');
    return undefined;
  };

  const store = (name: string, readAs: ReadAs, value: Parsed, subject: string) => {
    if (readAs === 'tls-key' || readAs === 'private-key') facts.keys.set(name, value as KeyObject);
    else if (readAs === 'public-keys') facts.publicKeys.set(name, value as KeyObject[]);
    else if (!facts.certificates.has(name)) {
      facts.certificates.set(name, value as CertificateData[]);
      facts.certificateSources.push({ file: name, subject, certificates: value as CertificateData[] });
    }
  };

  const stored = (name: string, readAs: ReadAs): Parsed | undefined =>
    readAs === 'tls-key' || readAs === 'private-key'
      ? facts.keys.get(name)
      : readAs === 'public-keys'
        ? facts.publicKeys.get(name)
        : facts.certificates.get(name);

  const load = async (ref: FileReference): Promise<Parsed | undefined> => {
    const fact = await read(ref);
    if (!fact.data || ref.readAs === 'kubeconfig') return undefined;
    const value = stored(fact.name, ref.readAs) ?? parse(fact.data, ref, ref.file);
    if (value) store(fact.name, ref.readAs, value, ref.subject);
    return value;
  };

  /** A kubeconfig with its credentials read as client-go reads them: embedded data or files beside it. */
  const loadKubeconfig = async (ref: FileReference, fact: FileFact): Promise<LoadedKubeconfig | undefined> => {
    let credentials;
    try {
      credentials = parseKubeconfig(fact.data!.toString('utf8'), ref.file);
    } catch (error) {
      const message = (error as Error).message.replace(/^.*?: /, '');
      invalid(ref.file, ref.subject, message, error instanceof KpkiError && error.hint ? error.hint : 'restore the file or reissue it');
      return undefined;
    }
    // Relative paths in a kubeconfig are relative to where the file really is.
    const dir = path.dirname(fact.real);
    const credential = async (source: Source | undefined, readAs: ReadAs): Promise<Parsed | undefined> => {
      if (!source) return undefined;
      if (source.path) return load({ file: source.path, readAs, subject: `${ref.file}: ${source.origin}`, relativeTo: dir });
      // Embedded data is keyed by its origin: `admin.conf: users[…].client-certificate-data`.
      const value = parse(source.data!, { file: source.origin, readAs, subject: ref.subject }, source.origin);
      if (value) store(source.origin, readAs, value, ref.subject);
      return value;
    };
    return {
      file: ref.file,
      credentials,
      authorities: (await credential(credentials.certificateAuthority, 'root-certificates')) as CertificateData[] | undefined,
      clientCertificates: (await credential(credentials.clientCertificate, 'tls-cert')) as CertificateData[] | undefined,
      clientKey: (await credential(credentials.clientKey, 'tls-key')) as KeyObject | undefined,
    };
  };

  const refs = inputReferences(inputs);
  const pkiRefs = inputs.pkiFiles.map((file): FileReference => ({
    file,
    readAs: file.endsWith('.key') ? 'tls-key' : file.endsWith('.pub') ? 'public-keys' : 'tls-cert',
    subject: file,
  }));
  for (const ref of [...refs, ...pkiRefs]) void fetch(ref);
  for (const ref of refs.filter((r) => r.readAs !== 'kubeconfig')) await load(ref);
  for (const ref of refs.filter((r) => r.readAs === 'kubeconfig')) {
    const fact = await read(ref);
    if (!fact.data || facts.kubeconfigs.has(ref.file)) continue;
    const loaded = await loadKubeconfig(ref, fact);
    if (loaded) facts.kubeconfigs.set(ref.file, loaded);
  }
  // The rest of the PKI directory: hygiene looks at every file, named by a flag or not.
  for (const ref of pkiRefs) if (!facts.files.has(ref.file)) await load(ref);
  return facts;
}

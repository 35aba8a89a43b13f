import { createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KpkiError } from '../errors.js';
import { parseKubeconfig, type KubeconfigCredentials, type Source } from '../kubeconfig/kubeconfig.js';
import type { x509 } from '../pki/crypto.js';
import { parseCertificates, parseKey, pemBlocks } from '../pki/pem.js';
import { readOptional } from '../store/files.js';
import { FindingCode, type Finding } from './findings.js';

export interface ContextOptions {
  /** A copy of a node's filesystem: absolute paths from manifests and kubeconfigs are read below it. */
  root: string | undefined;
  now: Date;
  /** Certificates expiring sooner than this are reported. */
  warnWithinSeconds: number;
  /** Paths the user gave kpki itself: used as given, never looked up below `root`. */
  givenPaths?: string[];
}

export interface LoadedKubeconfig {
  /** Path as the component names it. */
  file: string;
  credentials: KubeconfigCredentials;
  authorities: x509.X509Certificate[] | undefined;
  clientCertificates: x509.X509Certificate[] | undefined;
  clientKey: KeyObject | undefined;
}

/** A certificate file some flag names, for the expiry and strength checks. */
export interface SeenCertificate {
  file: string;
  subject: string;
  certificates: x509.X509Certificate[];
}

/**
 * What rules share: file loading that turns every missing or broken file into one finding (and
 * `undefined`, so rules skip what they cannot evaluate), and the list of findings.
 */
export class VerifyContext {
  readonly findings: Finding[] = [];
  readonly seenCertificates: SeenCertificate[] = [];
  readonly seenKeys = new Map<string, string>();
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(readonly options: ContextOptions) {}

  get now(): Date {
    return this.options.now;
  }

  report(finding: Omit<Finding, 'files'> & { files?: string[] }): void {
    this.findings.push({ ...finding, files: finding.files ?? [] });
  }

  /** Where a path found inside an input file really is: below --root when absolute. */
  resolve(file: string, relativeTo?: string): string {
    if (!path.isAbsolute(file)) return path.resolve(relativeTo ?? '.', file);
    const given = (this.options.givenPaths ?? []).some((p) => file === p || file.startsWith(`${p}${path.sep}`));
    return this.options.root && !given ? path.join(this.options.root, file) : file;
  }

  private once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let cached = this.cache.get(key) as Promise<T> | undefined;
    if (!cached) this.cache.set(key, (cached = load()));
    return cached;
  }

  /** Reads a file; a missing or unreadable one becomes a finding against `subject`. */
  private async read(file: string, subject: string, relativeTo?: string): Promise<Buffer | undefined> {
    return this.once(`read:${file}`, async () => {
      try {
        const data = await readOptional(this.resolve(file, relativeTo));
        if (data === undefined) {
          this.report({
            code: FindingCode.FileMissing,
            severity: 'error',
            subject,
            symptom: `open ${file}: no such file or directory`,
            diagnosis: `${subject} names ${file}, which does not exist${this.options.root ? ` under ${this.options.root}` : ''}`,
            fix: `create it (kpki init writes kubeadm's layout) or point ${subject} at the right file`,
            files: [file],
          });
        }
        return data;
      } catch (error) {
        this.invalid(file, subject, error);
        return undefined;
      }
    });
  }

  private invalid(file: string, subject: string, error: unknown): void {
    const message = error instanceof KpkiError ? error.message.replace(/^.*?: /, '') : (error as Error).message;
    this.report({
      code: FindingCode.FileInvalid,
      severity: 'error',
      subject,
      symptom: message,
      diagnosis: `${file} (from ${subject}) cannot be used: ${message}`,
      fix: error instanceof KpkiError && error.hint ? error.hint : 'restore the file or reissue it',
      files: [file],
    });
  }

  /** Every certificate of a file (leaf first, then the rest of a bundle). */
  async certificates(file: string, subject: string, relativeTo?: string): Promise<x509.X509Certificate[] | undefined> {
    return this.once(`certs:${file}`, async () => {
      const data = await this.read(file, subject, relativeTo);
      if (!data) return undefined;
      try {
        const certs = parseCertificates(data, file);
        this.seenCertificates.push({ file, subject, certificates: certs });
        return certs;
      } catch (error) {
        this.invalid(file, subject, error);
        return undefined;
      }
    });
  }

  async privateKey(file: string, subject: string, relativeTo?: string): Promise<KeyObject | undefined> {
    return this.once(`key:${file}`, async () => {
      const data = await this.read(file, subject, relativeTo);
      if (!data) return undefined;
      this.seenKeys.set(this.resolve(file, relativeTo), file);
      try {
        return parseKey(data, file);
      } catch (error) {
        this.invalid(file, subject, error);
        return undefined;
      }
    });
  }

  /** A kubeconfig with its credentials decoded (embedded or referenced files). */
  async kubeconfig(file: string, subject: string): Promise<LoadedKubeconfig | undefined> {
    return this.once(`kubeconfig:${file}`, async () => {
      const data = await this.read(file, subject);
      if (!data) return undefined;
      let credentials: KubeconfigCredentials;
      try {
        credentials = parseKubeconfig(data.toString('utf8'), file);
      } catch (error) {
        this.invalid(file, subject, error);
        return undefined;
      }
      const dir = path.dirname(this.resolve(file));
      const certs = async (source: Source | undefined) => {
        if (!source) return undefined;
        if (source.path) return this.certificates(source.path, `${file}: ${source.origin}`, dir);
        try {
          const parsed = parseCertificates(source.data!, source.origin);
          this.seenCertificates.push({ file: source.origin, subject, certificates: parsed });
          return parsed;
        } catch (error) {
          this.invalid(source.origin, subject, error);
          return undefined;
        }
      };
      const key = async (source: Source | undefined) => {
        if (!source) return undefined;
        if (source.path) return this.privateKey(source.path, `${file}: ${source.origin}`, dir);
        try {
          return parseKey(source.data!, source.origin);
        } catch (error) {
          this.invalid(source.origin, subject, error);
          return undefined;
        }
      };
      return {
        file,
        credentials,
        authorities: await certs(credentials.certificateAuthority),
        clientCertificates: await certs(credentials.clientCertificate),
        clientKey: await key(credentials.clientKey),
      };
    });
  }

  /** Every public key a file holds (PUBLIC KEY, RSA PUBLIC KEY, certificates, private keys), as Go's key-file readers accept. */
  async publicKeys(file: string, subject: string): Promise<KeyObject[] | undefined> {
    return this.once(`pub:${file}`, async () => {
      const data = await this.read(file, subject);
      if (!data) return undefined;
      // Node derives a public key from public keys, private keys and certificates alike.
      const keys = pemBlocks(data).flatMap((block) => {
        try {
          return [createPublicKey(`-----BEGIN ${block.type}-----\n${block.der.toString('base64')}\n-----END ${block.type}-----\n`)];
        } catch {
          return [];
        }
      });
      if (!keys.length) {
        this.invalid(file, subject, new Error('data does not contain any valid RSA or ECDSA public keys'));
        return undefined;
      }
      return keys;
    });
  }

  /** File modes of every private key read, for the permission check. */
  async keyModes(): Promise<{ file: string; mode: number }[]> {
    const out: { file: string; mode: number }[] = [];
    for (const [real, shown] of this.seenKeys) {
      const stat = await fs.stat(real).catch(() => undefined);
      if (stat) out.push({ file: shown, mode: stat.mode & 0o777 });
    }
    return out;
  }
}

import { certificateFacts, type CertificateFacts } from '../pki/certificate-facts.js';
import type { CertificateData } from '../pki/parse.js';
import type { Facts } from './facts.js';
import type { Finding, FindingCode } from './findings.js';

/** A check over the facts: no I/O, so it runs the same from the CLI, the library or a test. */
export interface Rule {
  id: string;
  /** The finding codes it may produce. */
  codes: readonly FindingCode[];
  /** Async only because signature checks use WebCrypto. */
  check(facts: Facts): Finding[] | Promise<Finding[]>;
}

export const defineRule = (rule: Rule): Rule => rule;

/** A finding with `files` defaulting to none. */
export const finding = (f: Omit<Finding, 'files'> & { files?: string[] }): Finding => ({ ...f, files: f.files ?? [] });

const certFacts = new WeakMap<CertificateData, CertificateFacts>();

/** certificateFacts, once per certificate: rules ask for the same certificates many times. */
export function infoOf(cert: CertificateData): CertificateFacts {
  let info = certFacts.get(cert);
  if (!info) certFacts.set(cert, (info = certificateFacts(cert)));
  return info;
}

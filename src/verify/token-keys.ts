import path from 'node:path';
import type { Facts } from './facts.js';
import { FindingCode, type Finding } from './findings.js';

/** CA keys in a PKCS#11 token: the settings file that says so, and what their missing key files meant. */
export interface TokenKeyFacts {
  file: string;
  /** CA entry name → PKCS#11 URI. */
  caKeys: Record<string, string>;
  /** The CA key files the token stands in for. */
  keyFiles: string[];
  /** Load findings about those files: no key file is normal then, what named it is judged by the tokenKeys rule. */
  missing: Finding[];
}

/**
 * Records that the settings keep some CA keys in a token: their key files' absence is no
 * FILE_MISSING (the rule `tokenKeys` says what signs CSRs instead). Pure: the caller read the settings.
 */
export function noteTokenKeys(facts: Facts, file: string, caKeys: Record<string, string>): void {
  const certDir = facts.certDir;
  if (!certDir) return;
  const keyFiles = facts.inputs.profile.certificates
    .filter((c) => c.name in caKeys && c.file)
    .map((c) => path.join(certDir, `${c.file}.key`));
  const isTokenKeyFile = (f: Finding) => f.code === FindingCode.FileMissing && f.files.some((k) => keyFiles.includes(path.normalize(k)));
  const missing = facts.loadFindings.filter(isTokenKeyFile);
  facts.loadFindings = facts.loadFindings.filter((f) => !isTokenKeyFile(f));
  facts.tokenKeys = { file, caKeys, keyFiles, missing };
}

/** Stable error codes: scripts match on these, so never rename one. */
export const ErrorCode = {
  /** A flag or option value is malformed or out of range. */
  BadFlag: 'BAD_FLAG',
  /** An input file (config, profile, PEM, kubeconfig) cannot be read or parsed. */
  BadInput: 'BAD_INPUT',
  /** A file that should exist does not. */
  MissingFile: 'MISSING_FILE',
  /** Existing material no longer matches the requested settings; reissue needs consent. */
  StaleFile: 'STALE_FILE',
  /** An external CA (certificate without key) cannot sign what is missing. */
  ExternalCaMissing: 'EXTERNAL_CA_MISSING',
  /** A kubeconfig entry of that name already exists with other contents (kubectl keeps the first). */
  NameClash: 'NAME_CLASH',
  /** Another run holds the directory lock. */
  Locked: 'LOCKED',
  /** Writing to disk failed. */
  WriteFailed: 'WRITE_FAILED',
  /** The run was interrupted by a signal. */
  Interrupted: 'INTERRUPTED',
  /** A cluster refused or did not finish a request: unreachable, unauthorized, CSR denied or not issued in time. */
  ClusterRefused: 'CLUSTER_REFUSED',
  /** An optional package a command needs (the Kubernetes client of the API commands, the PKCS#11 provider of token keys) is not installed. */
  MissingPackage: 'MISSING_PACKAGE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Exit status the CLI uses for each code: 2 for unusable input, 1 for state that needs a decision. */
export const exitCodeFor: Record<ErrorCode, number> = {
  BAD_FLAG: 2,
  BAD_INPUT: 2,
  MISSING_FILE: 2,
  STALE_FILE: 1,
  EXTERNAL_CA_MISSING: 1,
  NAME_CLASH: 1,
  LOCKED: 1,
  WRITE_FAILED: 1,
  INTERRUPTED: 130,
  CLUSTER_REFUSED: 1,
  MISSING_PACKAGE: 2,
};

export interface KpkiErrorDetails {
  /** The file or flag the problem concerns. */
  subject?: string;
  /** What the user should do about it. */
  hint?: string;
}

/** The one error type the library throws on purpose; anything else is a bug. */
export class KpkiError extends Error {
  readonly code: ErrorCode;
  readonly subject: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, details: KpkiErrorDetails = {}) {
    super(message);
    this.name = 'KpkiError';
    this.code = code;
    this.subject = details.subject;
    this.hint = details.hint;
  }

  toJSON(): { code: ErrorCode; message: string; subject?: string; hint?: string } {
    return { code: this.code, message: this.message, subject: this.subject, hint: this.hint };
  }
}

export function badFlag(flag: string, message: string, hint?: string): KpkiError {
  return new KpkiError(ErrorCode.BadFlag, `${flag}: ${message}`, { subject: flag, hint });
}

export function badInput(file: string, message: string, hint?: string): KpkiError {
  return new KpkiError(ErrorCode.BadInput, `${file}: ${message}`, { subject: file, hint });
}

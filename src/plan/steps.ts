import type { FileWrite } from '../model/files.js';
import type { KeyObject } from '../pki/keys.js';
import type { KeyType } from '../pki/key-types.js';
import type { Signer } from './render.js';
import type { x509 } from '../pki/crypto.js';
import type { SigningKey } from '../pki/signing-key.js';
import type { CertSpec, KeyPairSpec, KubeconfigSpec, ManifestSpec } from '../model/spec.js';

/** What a run does with one entry. */
export type Action =
  /** Nothing exists: generate key and certificate (or file). */
  | 'create'
  /** Everything exists and matches: leave the bytes alone. */
  | 'reuse'
  /** Exists but no longer matches (or --renew names it), and the user asked to replace it. */
  | 'reissue'
  /** A key exists without its certificate (or public key): complete it, keeping the key. */
  | 'complete'
  /** Signed by an external CA whose key kpki does not hold: checked only. */
  | 'external'
  /** Taken byte for byte from the cluster's shared directory (CAs, service-account key, shared leaves). */
  | 'copy'
  /** Exists, does not match, and the user did not ask to replace it: the run refuses to write. */
  | 'conflict'
  /** Exists and is signed again before it expires: its subject, SANs and usages kept (kpki renew). */
  | 'renew'
  /** Its CA is external: a new key and a request for that CA to sign (kpki renew --csr-only). */
  | 'csr';

export type ItemKind = 'ca' | 'certificate' | 'key-pair' | 'kubeconfig' | 'manifest';

/** One entry of a plan, as `--dry-run` and `--json` show it. */
export interface PlanItem {
  kind: ItemKind;
  name: string;
  files: string[];
  action: Action;
  /** Why the item is reissued, refused or external-checked. */
  reasons: string[];
  subject?: string;
  issuer?: string;
  sans?: string[];
  keyType?: string;
  validitySeconds?: number;
}

type Spec = CertSpec | KeyPairSpec | KubeconfigSpec | ManifestSpec;

/** What every step carries: the item shown to the user and the spec it renders. */
interface StepOf<A extends Action, S extends Spec = Spec> extends PlanItem {
  action: A;
  spec: S;
  /** For a CA: the certificate and key it signs with as they exist (what this step makes is added by rendering). */
  authority?: Authority;
}

/** A CA's signing material: an external CA has no key; a CA whose certificate is remade has none yet. */
export interface Authority {
  certificate: x509.X509Certificate | undefined;
  /** A key file's key, or the key in the PKCS#11 token the settings name. */
  key: SigningKey | undefined;
}

/**
 * One decision: a tagged union on `action`, each variant carrying what rendering it needs
 * (nothing for reuse, conflict and external, which write no file).
 */
export type Step =
  | StepOf<'create' | 'reuse' | 'conflict' | 'external'>
  /** A reissue that signs a matching key again (`existingKey`) writes only the certificate. */
  | (StepOf<'reissue'> & { existingKey?: KeyObject })
  | (StepOf<'complete'> & { existingKey: SigningKey })
  | (StepOf<'copy'> & { copies: FileWrite[] })
  | RenewStep
  | (StepOf<'csr', CertSpec> & { node: string | undefined })
  | FollowStep;

/** A renewal of one file set: the certificate (or kubeconfig) signed again, maybe with the key it has. */
export interface RenewStep extends StepOf<'renew', CertSpec> {
  /** Node name; undefined for the cluster's shared directory, `local` for a single-node PKI. */
  node: string | undefined;
  /** The key to sign again (--keep-key); a new one otherwise. */
  keptKey: KeyObject | undefined;
  /** For a kubeconfig: its text, in which only the embedded credentials change. */
  kubeconfig: string | undefined;
}

/** A node's byte-for-byte copy of a shared certificate (or kubeconfig), which takes the renewed bytes of the one it follows. */
export interface FollowStep extends StepOf<'copy', CertSpec> {
  node: string | undefined;
  follows: RenewStep;
  /** Which file the renewal writes goes where on the node (the key only when the node holds one and the renewal makes a new one). */
  pairs: { from: string; to: string }[];
}

/** Steps that change files. */
export const writes = (step: Step): boolean => step.action !== 'reuse' && step.action !== 'external' && step.action !== 'conflict';

/** The item of a step, without what only rendering needs. */
export function planItem({ kind, name, files, action, reasons, subject, issuer, sans, keyType, validitySeconds }: Step): PlanItem {
  return { kind, name, files, action, reasons, subject, issuer, sans, keyType, validitySeconds };
}

/** The item of a certificate (or a kubeconfig's client certificate) as a plan shows it. */
export function certificateItem(spec: CertSpec, kind: ItemKind, files: string[]) {
  return {
    kind,
    name: spec.name,
    files,
    subject: spec.organizations.length ? `CN=${spec.commonName}, O=${spec.organizations.join('+')}` : `CN=${spec.commonName}`,
    issuer: spec.issuer ?? 'self-signed',
    sans: [...spec.dnsNames, ...spec.ipAddresses],
    keyType: spec.keyType,
    validitySeconds: spec.validity,
  };
}

/** The CA certificates and keys a day-2 run made, by entry (or key pair) name: what its derived files are made of. */
export interface MadeMaterial {
  cas: ReadonlyMap<string, { certificate: x509.X509Certificate; key: SigningKey }>;
  keys: ReadonlyMap<string, KeyObject>;
}

/**
 * One decision of a CA renewal or a rotation phase (plan/ca-renewal.ts, plan/rotation.ts),
 * rendered by plan/render.ts renderDay2Steps — the only code that generates keys and signs —
 * into files, in the order of the steps.
 */
export type Day2Step =
  /** A CA with a new key, self-signed, keeping the old one's subject (a rotation's incoming CA). */
  | {
      action: 'new-ca';
      name: string;
      spec: CertSpec;
      keepSubject: x509.Name;
      /** With `tokenUri`, the second file holds that URI: the key is made in the token there and never written. */
      files: [crt: string, key: string];
      tokenUri?: string;
    }
  /** A CA certified again with its own key for a new lifetime, keeping subject and key id (`ca renew`); it writes no file itself. */
  | {
      action: 'recertified-ca';
      name: string;
      spec: CertSpec;
      ca: { certificate: x509.X509Certificate; key: SigningKey };
      subjectKeyId: string | undefined;
    }
  /** A new key pair's private key (a rotation's incoming service-account key). */
  | { action: 'new-key'; name: string; keyType: KeyType; file: string }
  /** A file whose bytes the decision already knows (the outgoing material, a key copy, a trust file without a new CA). */
  | { action: 'write'; write: FileWrite }
  /** Trust files (CA files, kubeconfigs' CA data, caBundles, sa.pub) edited to hold what the run made. */
  | { action: 'trust-edit'; edit: (made: MadeMaterial) => FileWrite[] }
  /** Leaves and kubeconfigs signed again by the CAs given (a rotation's reissue), rendered as `kpki renew` renders them. */
  | { action: 'renew'; steps: Step[]; signers: ReadonlyMap<string, Signer> }
  /** The rotation's record for the phase it moves to. */
  | { action: 'record'; write: FileWrite };

/** Day-2 steps of files whose bytes are known. */
export const writeSteps = (writes: FileWrite[]): Day2Step[] => writes.map((write) => ({ action: 'write', write }));

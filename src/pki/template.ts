import type { keyTypeOf } from './keys.js';

/**
 * What pki needs to know to issue a certificate or to check one against what it should be.
 * pki owns this shape; kpki's model (CertSpec) satisfies it without pki importing the model.
 */

export type KeyUsageName = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign' | 'keyAgreement';
export type ExtKeyUsageName = 'serverAuth' | 'clientAuth';

export interface CertificateTemplate {
  /** Name of the signing CA; undefined for a self-signed CA. */
  issuer: string | undefined;
  isCA: boolean;
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  keyUsages: KeyUsageName[];
  extKeyUsages: ExtKeyUsageName[];
  basicConstraints: boolean;
  /** Validity in seconds from the signing time. */
  validity: number;
  /** Seconds NotBefore lies before the signing time. */
  backdate: number;
  keyType: NonNullable<ReturnType<typeof keyTypeOf>>;
}

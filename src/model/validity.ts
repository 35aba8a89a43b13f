/**
 * kubeadm's warnings about certificate lifetimes (v1.31+, cmd/kubeadm/app/apis/kubeadm/validation):
 * a validity above its recommended defaults, and a leaf that would outlive its CA. kpki warns in
 * the same words; it also never lets a leaf outlive its CA (it cuts the leaf to the CA's expiry).
 */

/** kubeadm's CertificateValidityPeriod and CACertificateValidityPeriod, in seconds. */
export const KUBEADM_CERT_VALIDITY = 8760 * 3600;
export const KUBEADM_CA_VALIDITY = 87600 * 3600;

/** A duration as Go's time.Duration prints it: `17520h0m0s`. */
export function goDuration(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m${s % 60}s`;
}

/** kubeadm's warning for a validity above its default, naming the flag the value came from. */
export function validityAboveDefault(source: string, seconds: number, ca: boolean): string | undefined {
  const limit = ca ? KUBEADM_CA_VALIDITY : KUBEADM_CERT_VALIDITY;
  if (seconds <= limit) return undefined;
  return `${source}: the value ${goDuration(seconds)} is more than the recommended default for ${ca ? 'CA certificate' : 'certificate'} expiration: ${goDuration(limit)}`;
}

/** The warning for a leaf the run cut at its CA's expiry: asked to live longer than the CA that signs it. */
export function outlivesCa(name: string, ca: string, wanted: Date, caNotAfter: Date): string {
  return `certificate ${name} will expire after its CA ${ca} (${wanted.toISOString()} > ${caNotAfter.toISOString()}): kpki cut it to the CA's expiry; renew the CA (kpki ca renew ${ca}) before then`;
}

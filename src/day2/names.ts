/**
 * Beside every ca.key while a CA rotation is under way (and kept after it): the one certificate
 * matching that key, for kube-controller-manager's --cluster-signing-cert-file, which refuses a file
 * holding several. A module of its own so that verify's rules name it without the rotation's I/O.
 */
export const SIGNER_CERT = 'ca-signer.crt';

import type * as Kubernetes from '@kubernetes/client-node';
import { certificatePem, type Issuer } from '../pki/certificate.js';
import type { x509 } from '../pki/crypto.js';
import { parseCsrRequest, signCsr, type CsrRequest } from '../pki/csr-sign.js';
import { decideCsr, type CsrFacts } from '../plan/csr-signing.js';
import { apiErrorCode, clusterRefused, connect, csrCondition, pollCsrs, type CsrPolling } from './client.js';

export interface SignerOptions extends CsrPolling {
  kubeconfig?: string;
  /** The signer names to serve. */
  signers: readonly string[];
  /** The CA that signs: the cluster CA, its key in a file or a token. */
  ca: Issuer & { certificate: x509.X509Certificate };
  /** --cluster-signing-duration as seconds. */
  durationSeconds: number;
  /** One line per thing done (stdout). */
  report: (line: string) => void;
}

export interface SignOutcome {
  csr: string;
  signerName: string;
  /** signed; failed (SignerValidationFailure written); error (left for a later pass, as the controller retries); lost (another signer wrote first). */
  result: 'signed' | 'failed' | 'error' | 'lost';
  message: string;
}

function csrFacts(csr: Kubernetes.V1CertificateSigningRequest, request: CsrRequest | undefined): CsrFacts {
  const spec = csr.spec;
  return {
    name: csr.metadata!.name!,
    signerName: spec.signerName,
    usages: spec.usages ?? [],
    approved: Boolean(csrCondition(csr, 'Approved')),
    failed: Boolean(csrCondition(csr, 'Failed')),
    issued: Boolean(csr.status?.certificate),
    expirationSeconds: spec.expirationSeconds,
    request: request ?? { commonName: '', organizations: [], dnsNames: [], ipAddresses: [], emailAddresses: [], uris: [] },
  };
}

/**
 * Signs approved CSRs of the served signers as kube-controller-manager's csrsigning controller
 * would (plan/csr-signing.ts decides), writing status.certificate through /status. Never
 * approves. The update carries the resourceVersion read, so two signers at once cannot both
 * write: the loser's 409 is reported as `lost`. With `watch`, repeats until the signal aborts.
 */
export async function runSigner(options: SignerOptions): Promise<SignOutcome[]> {
  const api = await connect(options.kubeconfig);
  const certificates = api.config.makeApiClient(api.k8s.CertificatesV1Api);
  const served = new Set(options.signers);
  const outcomes: SignOutcome[] = [];
  const reported = new Map<string, string>();
  const say = (outcome: SignOutcome) => {
    const line = `${outcome.result} ${outcome.csr} (${outcome.signerName}): ${outcome.message}`;
    if (reported.get(outcome.csr) === line) return;
    reported.set(outcome.csr, line);
    options.report(line);
    outcomes.push(outcome);
  };
  const writeStatus = async (
    csr: Kubernetes.V1CertificateSigningRequest,
    status: Kubernetes.V1CertificateSigningRequestStatus,
    what: string,
  ): Promise<boolean> => {
    const name = csr.metadata!.name!;
    try {
      await certificates.replaceCertificateSigningRequestStatus({ name, body: { ...csr, status } });
      return true;
    } catch (error) {
      if (apiErrorCode(error) === 409) return false;
      throw clusterRefused(`${what} CSR ${name}`, error, 'update on certificatesigningrequests/status and sign on the signer');
    }
  };
  await pollCsrs(api, certificates, options, async (items) => {
    for (const csr of items) {
      const name = csr.metadata!.name!;
      const signerName = csr.spec.signerName;
      if (!served.has(signerName) || csr.status?.certificate) continue;
      let request: CsrRequest | undefined;
      let parseError: string | undefined;
      try {
        request = parseCsrRequest(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
      } catch (error) {
        parseError = `unable to parse csr "${name}": ${(error as Error).message}`;
      }
      const decision = decideCsr(csrFacts(csr, request), {
        signers: served,
        now: new Date(),
        caNotAfter: options.ca.certificate.notAfter,
        durationSeconds: options.durationSeconds,
      });
      if (decision.action === 'skip') continue;
      if (parseError) {
        say({ csr: name, signerName, result: 'error', message: parseError });
        continue;
      }
      if (decision.action === 'error') {
        say({ csr: name, signerName, result: 'error', message: decision.message });
        continue;
      }
      if (decision.action === 'fail') {
        const condition = {
          type: 'Failed',
          status: 'True',
          reason: decision.reason,
          message: decision.message,
          lastUpdateTime: new Date(),
        };
        const written = await writeStatus(
          csr,
          { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] },
          'marking failed',
        );
        say({
          csr: name,
          signerName,
          result: written ? 'failed' : 'lost',
          message: written ? decision.message : 'changed meanwhile; looked at again on the next pass',
        });
        continue;
      }
      let pem: string;
      try {
        const cert = await signCsr({
          request: request!,
          keyUsages: decision.keyUsages,
          extKeyUsages: decision.extKeyUsages,
          notBefore: decision.notBefore,
          notAfter: decision.notAfter,
          issuer: options.ca,
        });
        pem = certificatePem(cert);
      } catch (error) {
        say({ csr: name, signerName, result: 'error', message: `error auto signing csr: ${(error as Error).message}` });
        continue;
      }
      const written = await writeStatus(
        csr,
        { ...csr.status, certificate: Buffer.from(pem).toString('base64') },
        'writing the certificate of',
      );
      const message = written
        ? `${request!.commonName}, valid until ${decision.notAfter.toISOString()}`
        : 'another signer wrote its status first';
      say({ csr: name, signerName, result: written ? 'signed' : 'lost', message });
    }
  });
  return outcomes;
}

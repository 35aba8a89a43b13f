import { certificateFacts } from '../../pki/certificate.js';
import type { x509 } from '../../pki/crypto.js';
import { parseCertificates } from '../../pki/pem.js';
import type { VerifyContext } from '../context.js';
import { FindingCode } from '../findings.js';
import type { ApiServiceInput, ClusterInputs } from '../model.js';
import { checkHosts, checkTrust, CLIENT_TLS_PREFIX, type NamedCert } from './common.js';

const fixWithKpki = (svc: ApiServiceInput) =>
  `kpki cert extension-apiserver --service ${svc.service?.name} --namespace ${svc.service?.namespace} --out ${svc.service?.name}, serve that certificate and set caBundle from the -apiservice.yaml it writes`;

function caBundle(ctx: VerifyContext, svc: ApiServiceInput, label: string): x509.X509Certificate[] | undefined {
  try {
    return parseCertificates(Buffer.from(Buffer.from(svc.caBundle!, 'base64').toString('utf8')), `${svc.file}: ${svc.name} caBundle`);
  } catch (error) {
    ctx.report({
      code: FindingCode.FileInvalid,
      severity: 'error',
      subject: label,
      symptom: (error as Error).message.replace(/^.*?: /, ''),
      diagnosis: `the caBundle of APIService ${svc.name} is not base64 of PEM certificates`,
      fix: `set caBundle to base64 -w0 of the CA certificate that signed the service's serving certificate`,
      files: [svc.file],
    });
    return undefined;
  }
}

/** Rule: each APIService's caBundle verifies its extension apiserver's serving certificate for `<service>.<namespace>.svc`. */
export async function apiServices(ctx: VerifyContext, inputs: ClusterInputs): Promise<void> {
  const serving: NamedCert[] = [];
  for (const file of inputs.extensionServingCerts) {
    const certs = await ctx.certificates(file, '--serving-cert');
    if (certs) serving.push({ label: `--serving-cert ${file}`, file, certs });
  }
  for (const svc of inputs.apiServices) {
    if (!svc.service) continue; // served by kube-apiserver itself: no TLS hop
    const label = `APIService ${svc.name}`;
    const host = `${svc.service.name}.${svc.service.namespace}.svc`;
    if (svc.insecureSkipTLSVerify) {
      ctx.report({
        code: FindingCode.ApiServiceInsecure,
        severity: 'error',
        subject: label,
        symptom: '',
        diagnosis: `insecureSkipTLSVerify: true: kube-apiserver sends every ${svc.group} request, with the user's identity headers, to whoever answers as ${host}, unverified`,
        fix: fixWithKpki(svc),
        files: [svc.file],
      });
      continue;
    }
    if (!svc.caBundle) {
      ctx.report({
        code: FindingCode.ApiServiceNoCaBundle,
        severity: 'error',
        subject: label,
        symptom: `${svc.name} False (FailedDiscoveryCheck): failing or missing response from https://…/apis/${svc.group}/${svc.version}: ${CLIENT_TLS_PREFIX}x509: certificate signed by unknown authority`,
        diagnosis: `APIService ${svc.name} has no caBundle, so nothing can verify ${host}'s serving certificate`,
        fix: fixWithKpki(svc),
        files: [svc.file],
      });
      continue;
    }
    const roots = caBundle(ctx, svc, label);
    if (!roots) continue;
    // The serving certificate for this service: one that names it, else the only one given.
    const candidate = serving.find((s) => certificateFacts(s.certs[0]!).dnsNames.includes(host)) ?? (serving.length === 1 ? serving[0] : undefined);
    if (!candidate) {
      if (serving.length) {
        ctx.report({
          code: FindingCode.SanMissing,
          severity: 'error',
          subject: label,
          symptom: `${svc.name} False (FailedDiscoveryCheck): … x509: certificate is valid for …, not ${host}`,
          diagnosis: `none of the serving certificates given (${serving.map((s) => s.file).join(', ')}) is valid for ${host}`,
          fix: fixWithKpki(svc),
          files: serving.map((s) => s.file),
        });
      }
      continue;
    }
    const symptom = (e: string) => `${svc.name} False (FailedDiscoveryCheck): failing or missing response from https://…/apis/${svc.group}/${svc.version}: ${CLIENT_TLS_PREFIX}${e}`;
    const trusted = await checkTrust(ctx, {
      leaf: candidate,
      roots: { label: `${label} caBundle`, file: svc.file, certs: roots },
      usage: 'serverAuth',
      relation: `kube-apiserver proxying to ${host}`,
      symptom,
    });
    if (trusted) checkHosts(ctx, candidate, [{ host, who: `kube-apiserver (APIService ${svc.name})` }], symptom(''));
  }
}

import type { ApiServiceInput } from '../inputs/apiservice.js';
import { FindingCode, type Finding } from '../findings.js';
import { rootCertificates } from '../go-readers.js';
import { defineRule, finding, infoOf } from '../rule.js';
import { CLIENT_TLS_PREFIX, hostFindings, trustFindings, type NamedCert } from './common.js';
import { notCaFindings } from './ca-files.js';

/** The kpki command that issues a serving certificate and a matching caBundle for this APIService. */
const fixWithKpki = (svc: ApiServiceInput) =>
  `kpki cert extension-apiserver --service ${svc.service?.name} --namespace ${svc.service?.namespace} --api-group ${svc.group} --api-version ${svc.version} --out ${svc.service?.name} && kubectl apply -f ${svc.service?.name}-apiservice.yaml  # then serve ${svc.service?.name}.crt/.key from the extension apiserver`;

/** Rule: each APIService's caBundle is a CA that verifies its extension apiserver's serving certificate for `<service>.<namespace>.svc`. */
export const apiServices = defineRule({
  id: 'apiservices',
  codes: [
    FindingCode.ApiServiceInsecure,
    FindingCode.ApiServiceNoCaBundle,
    FindingCode.FileInvalid,
    FindingCode.NotCa,
    FindingCode.SanMissing,
    FindingCode.ChainUntrusted,
    FindingCode.Unchecked,
  ],
  async check(facts) {
    const out: Finding[] = [];
    const given: NamedCert[] = facts.inputs.extensionServingCerts.flatMap((file) => {
      const certs = facts.certificates.get(file);
      return certs ? [{ label: `--serving-cert ${file}`, file, certs }] : [];
    });
    for (const svc of facts.inputs.apiServices) {
      if (!svc.service) continue; // served by kube-apiserver itself: no TLS hop
      const label = `APIService ${svc.name}`;
      const host = `${svc.service.name}.${svc.service.namespace}.svc`;
      if (svc.insecureSkipTLSVerify) {
        out.push(
          finding({
            code: FindingCode.ApiServiceInsecure,
            severity: 'error',
            subject: label,
            symptom: '',
            diagnosis: `insecureSkipTLSVerify: true: kube-apiserver sends every ${svc.group} request, with the user's identity headers, to whoever answers as ${host}, unverified`,
            fix: fixWithKpki(svc),
            files: [svc.file],
          }),
        );
        continue;
      }
      if (!svc.caBundle) {
        out.push(
          finding({
            code: FindingCode.ApiServiceNoCaBundle,
            severity: 'error',
            subject: label,
            symptom: `${svc.name} False (FailedDiscoveryCheck): failing or missing response from https://…/apis/${svc.group}/${svc.version}: ${CLIENT_TLS_PREFIX}x509: certificate signed by unknown authority`,
            diagnosis: `APIService ${svc.name} has no caBundle, so nothing can verify ${host}'s serving certificate`,
            fix: fixWithKpki(svc),
            files: [svc.file],
          }),
        );
        continue;
      }
      const bundle = rootCertificates(Buffer.from(svc.caBundle, 'base64'));
      if (!bundle.ok) {
        out.push(
          finding({
            code: FindingCode.FileInvalid,
            severity: 'error',
            subject: label,
            symptom: bundle.error,
            diagnosis: `the caBundle of APIService ${svc.name} is not base64 of PEM certificates`,
            fix: "set caBundle to base64 -w0 of the CA certificate that signed the service's serving certificate",
            files: [svc.file],
          }),
        );
        continue;
      }
      const notCa = notCaFindings(bundle.value, svc.file, `${label} caBundle`);
      out.push(...notCa);
      // The serving certificate: a given one that names the service, else the only one given, else one found among the files read.
      const found: NamedCert[] = [...facts.certificates]
        .filter(([file, certs]) => !given.some((g) => g.file === file) && infoOf(certs[0]!).dnsNames.includes(host))
        .map(([file, certs]) => ({ label: file, file, certs }));
      const candidate = given.find((s) => infoOf(s.certs[0]!).dnsNames.includes(host)) ?? (given.length === 1 ? given[0] : found[0]);
      if (!candidate) {
        if (given.length) {
          out.push(
            finding({
              code: FindingCode.SanMissing,
              severity: 'error',
              subject: label,
              symptom: `${svc.name} False (FailedDiscoveryCheck): … x509: certificate is valid for …, not ${host}`,
              diagnosis: `none of the serving certificates given (${given.map((s) => s.file).join(', ')}) is valid for ${host}`,
              fix: fixWithKpki(svc),
              files: given.map((s) => s.file),
            }),
          );
        } else if (!notCa.length) {
          out.push(
            finding({
              code: FindingCode.Unchecked,
              severity: 'warning',
              subject: label,
              symptom: '',
              diagnosis: `the caBundle holds a CA, but ${host}'s serving certificate was not given, so kpki cannot tell whether that CA signed it or whether it names ${host}`,
              fix: `pass the extension apiserver's serving certificate: kpki verify --apiservice ${svc.file} --serving-cert <its .crt>`,
              files: [svc.file],
            }),
          );
        }
        continue;
      }
      const symptom = (e: string) =>
        `${svc.name} False (FailedDiscoveryCheck): failing or missing response from https://…/apis/${svc.group}/${svc.version}: ${CLIENT_TLS_PREFIX}${e}`;
      const untrusted = await trustFindings(facts, {
        leaf: candidate,
        roots: { label: `${label} caBundle`, file: svc.file, certs: bundle.value },
        usage: 'serverAuth',
        relation: `kube-apiserver proxying to ${host}`,
        symptom,
      });
      out.push(...untrusted);
      if (!untrusted.length)
        out.push(
          ...hostFindings(candidate, [{ host, who: `kube-apiserver (APIService ${svc.name})`, fix: fixWithKpki(svc) }], symptom('')),
        );
    }
    return out;
  },
});

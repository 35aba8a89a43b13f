/**
 * The same bootstrap as bootstrap.sh, through kpki's library API: no text parsing, typed results.
 * Run (Node 20 does not run TypeScript itself; the test suite does the same):
 *   npm run build && npx esbuild examples/bootstrap.ts --outfile=examples/.bootstrap.mjs && node examples/.bootstrap.mjs [WORKDIR]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkExpiration, initPki, issueKubeconfig, KpkiError, verify } from 'kpki';

async function main(work: string): Promise<void> {
  const certDir = path.join(work, 'pki');
  const init = await initPki({
    certDir,
    kubeconfigDir: work,
    nodeName: 'cp1',
    advertiseAddress: '10.0.0.11',
    controlPlaneEndpoint: 'k8s-api.example.com:6443',
    keyType: 'ecdsa-p256',
  });
  console.log(`init: ${init.items.filter((i) => i.action !== 'reuse').length} entries written`);

  const users = [];
  for (const [name, validity] of [
    ['alice', '1y'],
    ['bob', '24h'],
  ] as const) {
    const out = path.join(work, `${name}.conf`);
    const issued = await issueKubeconfig({
      kind: 'user',
      certDir,
      clientName: name,
      organizations: ['developers'],
      validity,
      out,
      force: true,
    });
    users.push(out);
    console.log(`kubeconfig: ${issued.contextName} until ${issued.notAfter}`);
  }

  const result = await verify({ certDir, kubeconfigDir: work, kubeconfigs: users });
  writeFileSync(path.join(work, 'verify.json'), JSON.stringify(result, null, 2));
  if (result.counts.error > 0)
    throw new Error(`verify found ${result.counts.error} error(s): ${result.findings.map((f) => f.code).join(', ')}`);

  const expiry = await checkExpiration({ certDir, kubeconfigDir: work, warnWithinSeconds: 30 * 86400 });
  if (expiry.expiringSoon.length) throw new Error(`expiring soon: ${expiry.expiringSoon.map((r) => r.name).join(', ')}`);
  console.log(`bootstrap: PKI and kubeconfigs in ${work} verified`);
}

main(process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'kpki-example-'))).catch((error: unknown) => {
  console.error(error instanceof KpkiError ? `kpki: ${error.code}: ${error.message}` : error);
  process.exit(1);
});

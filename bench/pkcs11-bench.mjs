#!/usr/bin/env node
// `npm run bench` (part): CA keys in a PKCS#11 token (SoftHSM, a token of its own in a temp dir).
//   1. `kpki init` (whole processes, wall clock, median) ECDSA-P256 and RSA-2048 with the three CA
//      keys made in the token, next to the same init with file keys;
//   2. kpki signer's signing path — parse the CSR, decide as kube-controller-manager would, sign
//      through the token (src/live/signer.ts minus the API round trips) — in CSRs per second,
//      next to SoftHSM's own signing speed (node-webcrypto-p11's sign, one at a time, same key
//      type): the limit the signer cannot pass.
// A report: exits non-zero only when a tool fails.
// Environment: BENCH_RUNS=N (default 5), BENCH_SIGNATURES=N (default 300).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KPKI = path.join(ROOT, 'bin', 'kpki.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIGNATURES = Number(process.env.BENCH_SIGNATURES ?? 300);
const PIN = '1234';
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const SETTINGS = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--control-plane-endpoint', 'lb.example.com:6443'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpki-pkcs11-bench-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
fs.mkdirSync(path.join(tmp, 'tokens'));
const conf = path.join(tmp, 'softhsm2.conf');
fs.writeFileSync(conf, `directories.tokendir = ${path.join(tmp, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = conf;
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', PIN, '--so-pin', '5678'], { stdio: 'ignore' });

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function timeInit(keyType, token, run) {
  const dir = path.join(tmp, `${keyType}-${token ? 'token' : 'file'}-${run}`);
  const uris = token
    ? ['ca', 'front-proxy-ca', 'etcd-ca'].flatMap((name) => ['--ca-key-uri', `${name}=pkcs11:token=bench;object=${name}-${keyType}-${run}`])
    : [];
  const start = process.hrtime.bigint();
  const r = spawnSync(
    process.execPath,
    [KPKI, 'init', '--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir, '--key-type', keyType, ...SETTINGS, ...uris],
    {
      env: { ...process.env, KPKI_PKCS11_PIN: PIN },
      encoding: 'utf8',
    },
  );
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) {
    console.error(`bench: kpki init failed (${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  if (token && fs.existsSync(path.join(dir, 'pki', 'ca.key'))) {
    console.error('bench: a token init wrote ca.key');
    process.exit(1);
  }
  return ms;
}

console.log(`kpki init, median of ${RUNS} runs (wall clock, ms), CA keys as files or in SoftHSM:`);
console.log('| key type | file keys | token keys |');
console.log('|---|---|---|');
for (const keyType of ['ecdsa-p256', 'rsa-2048']) {
  timeInit(keyType, false, 'warm');
  timeInit(keyType, true, 'warm');
  const file = [];
  const token = [];
  for (let i = 0; i < RUNS; i++) {
    file.push(timeInit(keyType, false, i));
    token.push(timeInit(keyType, true, i));
  }
  console.log(`| ${keyType} | ${median(file).toFixed(0)} | ${median(token).toFixed(0)} |`);
}

// Signing: the token's own speed, and kpki signer's path through it.
const { openTokenKeys } = await import(pathToFileURL(path.join(ROOT, 'dist/hsm/token.js')).href);
const { parsePkcs11Uri } = await import(pathToFileURL(path.join(ROOT, 'dist/model/pkcs11-uri.js')).href);
const { parseCsrRequest, signCsr } = await import(pathToFileURL(path.join(ROOT, 'dist/pki/csr-sign.js')).href);
const { decideCsr, SERVED_SIGNERS } = await import(pathToFileURL(path.join(ROOT, 'dist/plan/csr-signing.js')).href);
const { issueCertificate } = await import(pathToFileURL(path.join(ROOT, 'dist/pki/certificate.js')).href);
const { createCsrPem } = await import(pathToFileURL(path.join(ROOT, 'dist/pki/csr.js')).href);
const { generateKeyPair } = await import(pathToFileURL(path.join(ROOT, 'dist/pki/keys.js')).href);

console.log(`\nSigning through SoftHSM, ${SIGNATURES} one after another (per second):`);
console.log("| key type | SoftHSM's own signatures | kpki signer's path (parse, decide, sign a CSR) |");
console.log('|---|---|---|');
for (const keyType of ['ecdsa-p256', 'rsa-2048']) {
  const uri = parsePkcs11Uri(`pkcs11:token=bench;object=signer-${keyType}`, 'bench');
  const tokens = await openTokenKeys(new Map([['ca', uri]]), { module: MODULE, pin: async () => PIN });
  try {
    const key = await tokens.make('ca', keyType);
    const now = new Date();
    const spec = {
      name: 'ca',
      commonName: 'kubernetes',
      organizations: [],
      keyUsages: ['digitalSignature', 'keyEncipherment', 'keyCertSign'],
      extKeyUsages: [],
      basicConstraints: true,
      isCA: true,
      dnsNames: [],
      ipAddresses: [],
      validity: 10 * 365 * 86400,
      backdate: 0,
      keyType,
    };
    const caCert = await issueCertificate({ spec, publicKey: key.publicKey, issuer: { key, certificate: undefined }, now });
    const algorithm = keyType === 'rsa-2048' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
    const data = new Uint8Array(512);
    let start = process.hrtime.bigint();
    for (let i = 0; i < SIGNATURES; i++) await key.crypto.subtle.sign(algorithm, key.privateKey, data);
    const raw = SIGNATURES / (Number(process.hrtime.bigint() - start) / 1e9);
    const leaf = await generateKeyPair('ecdsa-p256');
    const pem = await createCsrPem(leaf, 'system:node:w1', ['system:nodes']);
    const csrFacts = (request) => ({
      name: 'x',
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'key encipherment', 'client auth'],
      approved: true,
      failed: false,
      issued: false,
      request,
    });
    start = process.hrtime.bigint();
    for (let i = 0; i < SIGNATURES; i++) {
      const request = parseCsrRequest(pem);
      const decision = decideCsr(csrFacts(request), {
        signers: new Set(SERVED_SIGNERS),
        now: new Date(),
        caNotAfter: caCert.notAfter,
        durationSeconds: 365 * 86400,
      });
      if (decision.action !== 'sign') throw new Error(`bench: the signer would not sign: ${JSON.stringify(decision)}`);
      await signCsr({
        request,
        keyUsages: decision.keyUsages,
        extKeyUsages: decision.extKeyUsages,
        notBefore: decision.notBefore,
        notAfter: decision.notAfter,
        issuer: { key, certificate: caCert },
      });
    }
    const signer = SIGNATURES / (Number(process.hrtime.bigint() - start) / 1e9);
    console.log(`| ${keyType} | ${raw.toFixed(0)} | ${signer.toFixed(0)} |`);
  } finally {
    tokens.close();
  }
}

#!/usr/bin/env node
// `npm run bench`: times `kpki init` (whole processes, wall clock) against kubeadm v1.20.2 (the
// reference), an openssl-CLI script and a cfssl script making the same kubeadm PKI, for RSA-2048
// and ECDSA-P256, checks the performance targets and shows where kpki's time goes. It is a
// report: it exits 0 on a MISS (and on a target it could not check, said loudly) and non-zero
// only when a tool fails (non-zero exit, missing files, a chain that does not verify).
//
// Before timing, one untimed run of each tool per key type (also the warm-up) is checked: every
// chain with `openssl verify -x509_strict -purpose …`, every key against its certificate, and
// every certificate's subject, issuer, SANs, KeyUsage, EKU, BasicConstraints, key identifiers,
// validity, serial size, key type, PEM types, file modes and kubeconfig fields compared with
// kpki's (kubeadm v1.20.2 with `kpki init --profile kubeadm-v1.20`). Differences are printed, not
// failed.
//
// Environment:
//   BENCH_RUNS=N            runs per measurement (default 5 for rsa-2048, 10 for ecdsa-p256)
//   BENCH_KEY_TYPES=a,b     key types (default rsa-2048,ecdsa-p256)
//   BENCH_CHECK=0           skip the output check (a single warm-up run is still made)
//   BENCH_TMPDIR=DIR        where the per-run temp dirs go (default os.tmpdir())
//   KPKI_K8S_BIN=DIR        where kubeadm v1.20.2 is (default /var/cache/kpki/k8s-v1.20.2/bin,
//                           built by scripts/k8s-binaries.sh); without it the kubeadm target is
//                           reported as not checked
// Needs node, bash, openssl and cfssl/cfssljson on PATH. Linux adds a CPU column (children's
// user+sys time from /proc/self/stat).
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KPKI = path.join(ROOT, 'bin', 'kpki.js');
const OPENSSL_SCRIPT = path.join(ROOT, 'bench', 'openssl-pki.sh');
const CFSSL_SCRIPT = path.join(ROOT, 'bench', 'cfssl-pki.sh');
const TIMELINE = path.join(ROOT, 'bench', 'init-timeline.mjs');
const KUBEADM = path.join(process.env.KPKI_K8S_BIN ?? '/var/cache/kpki/k8s-v1.20.2/bin', 'kubeadm');
const KUBEADM_VERSION = 'v1.20.2';
// The scripts default to the same settings.
const SETTINGS = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--control-plane-endpoint', 'lb.example.com:6443'];
const DEFAULT_RUNS = { 'rsa-2048': 5, 'ecdsa-p256': 10 };
const KEY_TYPES = (process.env.BENCH_KEY_TYPES ?? 'rsa-2048,ecdsa-p256')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const RUNS_OVERRIDE = process.env.BENCH_RUNS ? Number.parseInt(process.env.BENCH_RUNS, 10) : undefined;
const CHECK = process.env.BENCH_CHECK !== '0';
const TMP = process.env.BENCH_TMPDIR ?? os.tmpdir();
const CORES = os.availableParallelism();
const TARGET_RSA_VS_KUBEADM = 0.6;
const TARGET_ECDSA_MS = 200;
const TARGET_VERSION_VS_NODE = 1.3;
const KEYS_IN_SET = 16;

for (const keyType of KEY_TYPES) {
  if (!(keyType in DEFAULT_RUNS)) fail(`unknown key type in BENCH_KEY_TYPES: ${keyType} (rsa-2048, ecdsa-p256)`);
}
if (RUNS_OVERRIDE !== undefined && !(RUNS_OVERRIDE >= 1)) fail(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);

class ToolError extends Error {}
function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Running and timing processes

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU (user+sys, ms) of this process's waited-for children, or NaN off Linux. */
function childrenCpuMs() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK; // cutime, cstime
  } catch {
    return Number.NaN;
  }
}

/** Runs one process to completion: wall ms, children's CPU ms and stdout. Throws on failure. */
function run(cmd, args, { cwd = ROOT, stdout = 'ignore' } = {}) {
  const cpu0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const result = spawnSync(cmd, args, { cwd, stdio: ['ignore', stdout, 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = childrenCpuMs() - cpu0;
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
    throw new ToolError(`${[cmd, ...args].join(' ')} failed (${why})\n${(result.stderr ?? '').trim()}`);
  }
  return { ms, cpu, stdout: result.stdout ?? '' };
}

const tempDirs = new Set();
function freshDir(tag) {
  const dir = fs.mkdtempSync(path.join(TMP, `kpki-bench-${tag}-`));
  tempDirs.add(dir);
  return dir;
}
function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const kpkiInit = (dir, keyType, ...extra) => [
  'init',
  '--cert-dir',
  path.join(dir, 'pki'),
  '--kubeconfig-dir',
  dir,
  '--key-type',
  keyType,
  ...SETTINGS,
  ...extra,
];

const TOOLS = {
  kpki: (dir, keyType) => run(process.execPath, [KPKI, ...kpkiInit(dir, keyType)], { cwd: dir }),
  openssl: (dir, keyType) => run('bash', [OPENSSL_SCRIPT, dir, keyType], { cwd: dir }),
  cfssl: (dir, keyType) => run('bash', [CFSSL_SCRIPT, dir, keyType], { cwd: dir }),
};

/** The same settings as SETTINGS, for kubeadm (its `certs` phase has no --node-name flag). */
const kubeadmConfig = (dir) => `apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.11
  bindPort: 6443
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: ${KUBEADM_VERSION}
controlPlaneEndpoint: lb.example.com:6443
certificatesDir: ${path.join(dir, 'pki')}
`;

/**
 * kubeadm v1.20.2 (RSA-2048 only) and the same set from kpki (profile kubeadm-v1.20: 15 key pairs,
 * no super-admin.conf). kubeadm's time is its two phases', run one after the other; its config
 * file is written untimed. kubernetesVersion is set so that kubeadm looks nothing up online.
 */
const KUBEADM_TOOLS = {
  'kpki-v1.20': (dir, keyType) => run(process.execPath, [KPKI, ...kpkiInit(dir, keyType, '--profile', 'kubeadm-v1.20')], { cwd: dir }),
  kubeadm: (dir) => {
    const config = path.join(dir, 'kubeadm-config.yaml');
    fs.writeFileSync(config, kubeadmConfig(dir));
    const certs = run(KUBEADM, ['init', 'phase', 'certs', 'all', '--config', config], { cwd: dir });
    const kubeconfigs = run(KUBEADM, ['init', 'phase', 'kubeconfig', 'all', '--config', config, '--kubeconfig-dir', dir], { cwd: dir });
    return { ms: certs.ms + kubeconfigs.ms, cpu: certs.cpu + kubeconfigs.cpu, stdout: '' };
  },
};
const TOOL_NAMES = {
  kpki: 'kpki',
  openssl: 'openssl script',
  cfssl: 'cfssl script',
  'kpki-v1.20': 'kpki (kubeadm-v1.20)',
  kubeadm: `kubeadm ${KUBEADM_VERSION}`,
};

/** kubeadm present and the version the comparison is about; otherwise why not (said loudly). */
function kubeadmProblem() {
  const version = spawnSync(KUBEADM, ['version', '-o', 'short'], { encoding: 'utf8' });
  if (version.error) return `${KUBEADM} not found (build it with scripts/k8s-binaries.sh, or set KPKI_K8S_BIN)`;
  if (version.stdout.trim() !== KUBEADM_VERSION)
    return `${KUBEADM} is ${version.stdout.trim() || `broken (exit ${version.status})`}, not ${KUBEADM_VERSION}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { n: sorted.length, median, min: sorted[0], max: sorted.at(-1) };
}
const ms = (x) => (Number.isFinite(x) ? Math.round(x).toString() : '–');
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

/** A Markdown table; the first column (or every column, with `left`) left-aligned, the rest right. */
function table(header, rows, { left = false } = {}) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const isLeft = (i) => left || i === 0;
  const line = (cells) =>
    `| ${cells.map((c, i) => (isLeft(i) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (isLeft(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function firstLine(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Output check: chains, key/cert pairs, and a field-by-field comparison with kpki

const CERTS = [
  // name, file base (pki-relative) or kubeconfig, issuer name, purposes
  { name: 'ca', base: 'ca', issuer: 'ca', purposes: [] },
  { name: 'apiserver', base: 'apiserver', issuer: 'ca', purposes: ['sslserver'] },
  { name: 'apiserver-kubelet-client', base: 'apiserver-kubelet-client', issuer: 'ca', purposes: ['sslclient'] },
  { name: 'front-proxy-ca', base: 'front-proxy-ca', issuer: 'front-proxy-ca', purposes: [] },
  { name: 'front-proxy-client', base: 'front-proxy-client', issuer: 'front-proxy-ca', purposes: ['sslclient'] },
  { name: 'etcd/ca', base: 'etcd/ca', issuer: 'etcd/ca', purposes: [] },
  { name: 'etcd/server', base: 'etcd/server', issuer: 'etcd/ca', purposes: ['sslserver', 'sslclient'] },
  { name: 'etcd/peer', base: 'etcd/peer', issuer: 'etcd/ca', purposes: ['sslserver', 'sslclient'] },
  { name: 'etcd/healthcheck-client', base: 'etcd/healthcheck-client', issuer: 'etcd/ca', purposes: ['sslclient'] },
  { name: 'apiserver-etcd-client', base: 'apiserver-etcd-client', issuer: 'etcd/ca', purposes: ['sslclient'] },
  ...['admin', 'super-admin', 'controller-manager', 'scheduler', 'kubelet'].map((k) => ({
    name: `${k}.conf`,
    conf: `${k}.conf`,
    issuer: 'ca',
    purposes: ['sslclient'],
  })),
];
const EXPECTED_FILES = [
  ...CERTS.filter((c) => c.base).flatMap((c) => [`pki/${c.base}.crt`, `pki/${c.base}.key`]),
  'pki/sa.key',
  'pki/sa.pub',
  ...CERTS.filter((c) => c.conf).map((c) => c.conf),
  'kubeadm-cluster-admins.yaml',
];

// kubeadm v1.20's set: no super-admin.conf, no RBAC manifest.
const V120_CERTS = CERTS.filter((c) => c.name !== 'super-admin.conf');
const V120_FILES = EXPECTED_FILES.filter((f) => f !== 'super-admin.conf' && f !== 'kubeadm-cluster-admins.yaml');

const pemType = (pem) => /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1] ?? '(no PEM)';
const spki = (key) => (key?.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' }).toString('base64');
const mode = (file) => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');

/** Extensions and signature algorithm from `openssl x509 -text`, identifiers reduced to presence. */
function opensslFields(file) {
  const text = run('openssl', ['x509', '-noout', '-text', '-in', file], { stdout: 'pipe' }).stdout;
  const lines = text.split('\n');
  const sigAlg = /Signature Algorithm: (\S+)/.exec(text)?.[1] ?? '?';
  const extensions = {};
  const start = lines.findIndex((l) => l.trim() === 'X509v3 extensions:');
  if (start >= 0) {
    let current;
    for (const line of lines.slice(start + 1)) {
      if (!/^\s{12}/.test(line)) break; // back to "    Signature Algorithm" level
      if (/^\s{12}\S/.test(line)) {
        const [, name, critical] = /^\s+(?:X509v3 )?(.+?):\s*(critical)?\s*$/.exec(line) ?? [null, line.trim(), undefined];
        current = name;
        extensions[current] = { critical: Boolean(critical), value: [] };
      } else if (current) {
        extensions[current].value.push(line.trim());
      }
    }
  }
  const ext = (name) => {
    const e = extensions[name];
    if (!e) return 'absent';
    let value = e.value.join(' ');
    if (/Key Identifier/.test(name)) value = 'keyid';
    return `${value}${e.critical ? ' (critical)' : ''}`;
  };
  const known = [
    'Key Usage',
    'Extended Key Usage',
    'Basic Constraints',
    'Subject Key Identifier',
    'Authority Key Identifier',
    'Subject Alternative Name',
  ];
  const others = Object.keys(extensions).filter((n) => !known.includes(n));
  return {
    'signature algorithm': sigAlg,
    KeyUsage: ext('Key Usage'),
    ExtKeyUsage: ext('Extended Key Usage'),
    BasicConstraints: ext('Basic Constraints'),
    SubjectKeyIdentifier: ext('Subject Key Identifier'),
    AuthorityKeyIdentifier: ext('Authority Key Identifier'),
    SAN: ext('Subject Alternative Name'),
    'other extensions': others.length ? others.join(', ') : 'none',
  };
}

const dn = (s) => s.split('\n').filter(Boolean).join(', ');
function certFields(file, pem, keyPem, startedAt) {
  const cert = new X509Certificate(pem);
  const pub = cert.publicKey;
  const details = pub.asymmetricKeyDetails ?? {};
  const backdate = (startedAt - Date.parse(cert.validFrom)) / 60000;
  const serialBits = BigInt(`0x${cert.serialNumber}`).toString(2).length;
  return {
    subject: dn(cert.subject),
    issuer: dn(cert.issuer),
    ...opensslFields(file),
    'public key': `${pub.asymmetricKeyType}${details.modulusLength ? `-${details.modulusLength}` : ''}${details.namedCurve ? ` ${details.namedCurve}` : ''}`,
    NotBefore: backdate < 1 ? 'creation time' : `creation − ${Math.round(backdate)} min`,
    NotAfter: `creation + ${Math.round((Date.parse(cert.validTo) - startedAt) / 86400000)} days`,
    'serial size': serialBits <= 64 ? '≤ 64 bits' : serialBits <= 128 ? '≤ 128 bits' : '≤ 160 bits',
    'key PEM type': pemType(keyPem),
    'key matches cert': spki(keyPem) === spki(pub) ? 'yes' : 'NO',
  };
}

/** Checks one generated tree; returns { fields: {cert: {field: value}}, errors: [] }. */
function inspectTree(dir, startedAt, certs, files) {
  const errors = [];
  const fields = {};
  const missing = files.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length) return { fields, errors: [`missing files: ${missing.join(', ')}`] };
  const work = path.join(dir, '.bench-check');
  fs.mkdirSync(work, { recursive: true });
  const crtFile = (c) => (c.base ? path.join(dir, 'pki', `${c.base}.crt`) : path.join(work, `${c.conf}.crt`));
  const caData = fs.readFileSync(path.join(dir, 'pki', 'ca.crt'), 'utf8');
  for (const c of certs) {
    let pem;
    let keyPem;
    const extra = {};
    if (c.base) {
      pem = fs.readFileSync(crtFile(c), 'utf8');
      keyPem = fs.readFileSync(path.join(dir, 'pki', `${c.base}.key`), 'utf8');
      extra['file modes (crt/key)'] = `${mode(crtFile(c))}/${mode(path.join(dir, 'pki', `${c.base}.key`))}`;
    } else {
      const file = path.join(dir, c.conf);
      const kc = parseYaml(fs.readFileSync(file, 'utf8'));
      const ctx = kc.contexts?.find((x) => x.name === kc['current-context'])?.context ?? {};
      const cluster = kc.clusters?.find((x) => x.name === ctx.cluster)?.cluster ?? {};
      const user = kc.users?.find((x) => x.name === ctx.user)?.user ?? {};
      pem = Buffer.from(user['client-certificate-data'] ?? '', 'base64').toString();
      keyPem = Buffer.from(user['client-key-data'] ?? '', 'base64').toString();
      fs.writeFileSync(crtFile(c), pem);
      extra['kubeconfig server'] = cluster.server;
      extra['kubeconfig names (cluster/user/context)'] = `${ctx.cluster} / ${ctx.user} / ${kc['current-context']}`;
      extra['kubeconfig CA data = ca.crt'] =
        Buffer.from(cluster['certificate-authority-data'] ?? '', 'base64')
          .toString()
          .trim() === caData.trim()
          ? 'yes'
          : 'no';
      extra['file mode'] = mode(file);
    }
    try {
      fields[c.name] = { ...certFields(crtFile(c), pem, keyPem, startedAt), ...extra };
      if (fields[c.name]['key matches cert'] !== 'yes') errors.push(`${c.name}: private key does not match the certificate`);
    } catch (error) {
      errors.push(`${c.name}: ${error.message.split('\n')[0]}`);
    }
  }
  // sa key pair
  const saKey = fs.readFileSync(path.join(dir, 'pki', 'sa.key'), 'utf8');
  const saPub = fs.readFileSync(path.join(dir, 'pki', 'sa.pub'), 'utf8');
  const saMatch = spki(createPrivateKey(saKey)) === spki(saPub);
  if (!saMatch) errors.push('sa.pub does not match sa.key');
  const saType = createPrivateKey(saKey);
  fields.sa = {
    'public key': `${saType.asymmetricKeyType}${saType.asymmetricKeyDetails?.modulusLength ? `-${saType.asymmetricKeyDetails.modulusLength}` : ''}${saType.asymmetricKeyDetails?.namedCurve ? ` ${saType.asymmetricKeyDetails.namedCurve}` : ''}`,
    'key PEM type': `${pemType(saKey)} / ${pemType(saPub)}`,
    'file modes (key/pub)': `${mode(path.join(dir, 'pki', 'sa.key'))}/${mode(path.join(dir, 'pki', 'sa.pub'))}`,
  };
  // Chains: one `openssl verify` per (CA, purpose); CAs verify against themselves.
  const groups = new Map();
  for (const c of certs) {
    for (const purpose of c.purposes.length ? c.purposes : ['any']) {
      const key = `${c.issuer}\0${purpose}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(c);
    }
  }
  for (const [key, group] of groups) {
    const [issuer, purpose] = key.split('\0');
    const args = ['verify', '-x509_strict', '-CAfile', path.join(dir, 'pki', `${issuer}.crt`)];
    if (purpose !== 'any') args.push('-purpose', purpose);
    const result = spawnSync('openssl', [...args, ...group.map(crtFile)], { encoding: 'utf8' });
    if (result.status !== 0) {
      const out = `${result.stdout}${result.stderr}`
        .trim()
        .split('\n')
        .filter((l) => !/: OK$/.test(l));
      errors.push(`openssl verify -purpose ${purpose} against ${issuer}: ${out.join(' | ')}`);
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
  return { fields, errors };
}

function checkOutputs(keyType, withKubeadm) {
  console.log(`\n### Output check, ${keyType}\n`);
  let ok = checkSet(keyType, TOOLS, CERTS, EXPECTED_FILES);
  if (withKubeadm) {
    console.log(
      `\nkubeadm ${KUBEADM_VERSION} (\`init phase certs all\` + \`init phase kubeconfig all\`) against \`kpki init --profile kubeadm-v1.20\`:\n`,
    );
    ok = checkSet(keyType, KUBEADM_TOOLS, V120_CERTS, V120_FILES) && ok;
  }
  return ok;
}

/** Runs each tool once, checks its tree, and prints how the others differ from the first. */
function checkSet(keyType, tools, certs, files) {
  const trees = {};
  let failed = false;
  for (const tool of Object.keys(tools)) {
    const dir = freshDir(`check-${tool}`);
    const startedAt = Date.now();
    tools[tool](dir, keyType);
    if (tool === 'kpki') {
      // The second run must change nothing.
      const before = files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs).join();
      const json = JSON.parse(run(process.execPath, [KPKI, ...kpkiInit(dir, keyType, '--json')], { cwd: dir, stdout: 'pipe' }).stdout);
      const after = files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs).join();
      const actions = [...new Set(json.items.map((i) => i.action))].join(',');
      if (json.changed !== false || before !== after) {
        console.log(
          `- kpki second run: changed=${json.changed}, actions ${actions}, files ${before === after ? 'untouched' : 'REWRITTEN'}`,
        );
        failed = true;
      } else {
        console.log(`- kpki second run: nothing changed (actions: ${actions}; no file rewritten)`);
      }
    }
    const { fields, errors } = inspectTree(dir, startedAt, certs, files);
    if (errors.length) {
      failed = true;
      console.log(`- ${TOOL_NAMES[tool]}: FAILED\n${errors.map((e) => `    - ${e}`).join('\n')}`);
    } else {
      console.log(
        `- ${TOOL_NAMES[tool]}: all ${files.length} files present; ${certs.length} certificates verify (openssl verify -x509_strict, per purpose); all keys match; sa.pub matches sa.key`,
      );
    }
    trees[tool] = fields;
    removeDir(dir);
  }
  // Differences from the reference (the first tool), grouped by (field, values).
  const [reference, ...peers] = Object.keys(tools);
  const diffs = new Map();
  const differing = new Set();
  const allFields = new Set();
  for (const [cert, kf] of Object.entries(trees[reference])) {
    for (const [field, kv] of Object.entries(kf)) {
      allFields.add(field);
      const values = peers.map((peer) => trees[peer][cert]?.[field] ?? '(missing)');
      if (values.every((v) => v === kv)) continue;
      const key = [field, kv, ...values].join('\0');
      if (!diffs.has(key)) diffs.set(key, { field, kv, values, certs: [] });
      diffs.get(key).certs.push(cert);
      differing.add(field);
    }
  }
  const identical = [...allFields].filter((f) => !differing.has(f));
  console.log(
    `\nIdentical in ${peers.length === 1 ? 'both' : `all ${peers.length + 1}`} for every certificate/key: ${identical.join('; ')}.`,
  );
  if (diffs.size) {
    console.log(`\nDifferences from ${TOOL_NAMES[reference]} (✓ = same as ${TOOL_NAMES[reference]}):\n`);
    const all = certs.map((c) => c.name);
    const leaves = certs.filter((c) => c.issuer !== c.name).map((c) => c.name);
    const which = (names) => {
      const key = [...names].sort().join();
      if (key === [...all].sort().join()) return `all ${all.length} certificates`;
      if (key === [...leaves].sort().join()) return `all ${leaves.length} leaf and kubeconfig certificates`;
      return names.join(', ');
    };
    const rows = [...diffs.values()].map((d) => [d.field, which(d.certs), d.kv, ...d.values.map((v) => (v === d.kv ? '✓' : v))]);
    console.log(table(['field', 'certificates', TOOL_NAMES[reference], ...peers.map((peer) => TOOL_NAMES[peer])], rows, { left: true }));
  }
  return !failed;
}

// ---------------------------------------------------------------------------------------------
// Reference points

/** CPU time of 16 RSA-2048 keys from OpenSSL 3's own key generation (crypto.generateKeyPairSync). */
function nodeKeygenCpuMs() {
  const code = `const c=require('node:crypto');const t=process.cpuUsage();for(let i=0;i<${KEYS_IN_SET};i++)c.generateKeyPairSync('rsa',{modulusLength:2048});const d=process.cpuUsage(t);process.stdout.write(String((d.user+d.system)/1000))`;
  return Number(run(process.execPath, ['-e', code], { stdout: 'pipe' }).stdout);
}
/** Wall and CPU time (all threads) of kpki's 16 RSA-2048 keys, asked for at once as init does. */
function kpkiKeygen() {
  const url = (file) => JSON.stringify(pathToFileURL(path.join(ROOT, file)).href);
  const code = `import { sizeThreadPool } from ${url('bin/load-cli.js')};
sizeThreadPool();
const { generateKeyPair } = await import(${url('dist/pki/keys.js')});
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: ${KEYS_IN_SET} }, () => generateKeyPair('rsa-2048')));
const { user, system } = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, cpu: (user + system) / 1000 }));`;
  return JSON.parse(run(process.execPath, ['--input-type=module', '-e', code], { stdout: 'pipe' }).stdout);
}
/** CPU time of 16 sequential `openssl genpkey` RSA-2048 processes. */
function opensslKeygen(dir) {
  let cpu = 0;
  for (let i = 0; i < KEYS_IN_SET; i++) {
    cpu += run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path.join(dir, `k${i}.pem`)]).cpu;
  }
  return { cpu };
}

// ---------------------------------------------------------------------------------------------
// Where kpki's time goes: bench/init-timeline.mjs runs `kpki init` in-process as bin/kpki.js
// does and reports when each step the CLI reports happened, and the CPU used by then.

const TIMELINE_STEPS = [
  ['started', 'Node started, first line of the script runs'],
  ['loaded', 'CLI bundle loaded (read, code cache, evaluated)'],
  ['keys started', 'settings, profile, lock and plan done: keys asked for'],
  ['keys: first', 'first key ready'],
  ['keys: last', 'last key ready'],
  ['writes: first', 'first file staged (temp name, fsynced)'],
  ['writes: last', 'last file staged'],
  ['returned', 'init returned (journal committed, files renamed, directories synced)'],
];

function timeline(dir, keyType) {
  return JSON.parse(run(process.execPath, [TIMELINE, ...kpkiInit(dir, keyType)], { cwd: dir, stdout: 'pipe' }).stdout);
}

/** Median time of each step since the process started, and the median wall and CPU since the step before. */
function timelineTable(runs) {
  const order = TIMELINE_STEPS.map(([step]) => step).sort(
    (a, b) => stats(runs.map((r) => r[a].at)).median - stats(runs.map((r) => r[b].at)).median,
  );
  const label = Object.fromEntries(TIMELINE_STEPS);
  const rows = order.map((step, i) => {
    const since = (field) =>
      i ? stats(runs.map((r) => r[step][field] - r[order[i - 1]][field])).median : stats(runs.map((r) => r[step][field])).median;
    return [label[step], ms(stats(runs.map((r) => r[step].at)).median), ms(since('at')), ms(since('cpu'))];
  });
  return table(['step (median of the runs)', 'at ms', 'took ms', 'CPU ms (all threads)'], rows);
}

// ---------------------------------------------------------------------------------------------
// Main

function machine() {
  const cfssl = firstLine('cfssl', ['version']);
  const cfsslVersion = cfssl
    ? cfssl
        .split('\n')
        .map((l) => l.replace(/^\w+:\s*/, ''))
        .join(' ')
    : 'not found';
  const git = firstLine('git', ['-C', ROOT, 'describe', '--always', '--dirty']);
  return [
    `- cores: ${CORES} (os.availableParallelism()), CPU: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.platform()} ${os.release()}`,
    `- node ${process.version} (bundled OpenSSL ${process.versions.openssl}), ${firstLine('openssl', ['version']) ?? 'openssl not found'}, cfssl ${cfsslVersion}`,
    `- kpki ${git ? `git ${git}` : ''}, temp dirs under ${TMP}, load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ].join('\n');
}

function main() {
  for (const [file, what] of [
    [KPKI, 'bin/kpki.js'],
    [path.join(ROOT, 'dist', 'cli', 'kpki.cjs'), 'dist/cli/kpki.cjs (run `npm run build`)'],
    [OPENSSL_SCRIPT, 'bench/openssl-pki.sh'],
    [CFSSL_SCRIPT, 'bench/cfssl-pki.sh'],
  ]) {
    if (!fs.existsSync(file)) fail(`missing ${what}`);
  }
  for (const [cmd, args] of [
    ['openssl', ['version']],
    ['cfssl', ['version']],
    ['cfssljson', ['-h']],
    ['bash', ['--version']],
  ]) {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.error) fail(`${cmd} not found on PATH`);
  }
  const noKubeadm = KEY_TYPES.includes('rsa-2048') ? kubeadmProblem() : undefined;
  if (noKubeadm) {
    console.error(
      `\nbench: WARNING: ${noKubeadm}.\nbench: WARNING: the RSA-2048 target (kpki ≤ ${TARGET_RSA_VS_KUBEADM}x kubeadm) will be reported NOT CHECKED.\n`,
    );
  }
  const withKubeadm = (keyType) => keyType === 'rsa-2048' && !noKubeadm;

  console.log(`## kpki init benchmark, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(machine());
  console.log(`- kubeadm: ${noKubeadm ? `NOT FOUND: ${noKubeadm}` : `${KUBEADM} (${KUBEADM_VERSION})`}`);
  console.log(
    `\nSettings: ${SETTINGS.join(' ')}; 16 key pairs, 15 certificates, 5 kubeconfigs per run (kubeadm ${KUBEADM_VERSION} and kpki's kubeadm-v1.20 profile: 15 key pairs, 14 certificates, 4 kubeconfigs).`,
  );

  let ok = true;
  for (const keyType of KEY_TYPES) {
    if (CHECK) {
      ok = checkOutputs(keyType, withKubeadm(keyType)) && ok;
      continue;
    }
    const tools = { ...TOOLS, ...(withKubeadm(keyType) ? KUBEADM_TOOLS : {}) };
    for (const tool of Object.keys(tools)) {
      const dir = freshDir('warmup');
      tools[tool](dir, keyType);
      removeDir(dir);
    }
  }

  const n = (keyType) => RUNS_OVERRIDE ?? DEFAULT_RUNS[keyType];
  const startup = { node: [], kpkiVersion: [] };

  const results = {};
  for (const keyType of KEY_TYPES) {
    const peers = ['openssl', 'cfssl', ...(withKubeadm(keyType) ? ['kpki-v1.20', 'kubeadm'] : [])];
    const slots = ['fresh', 'reuse', ...peers];
    const samples = Object.fromEntries(slots.map((slot) => [slot, []]));
    const cpu = Object.fromEntries(slots.map((slot) => [slot, []]));
    const ref = { nodeKeygen: [], kpkiKeygen: [], kpkiKeygenWall: [], opensslKeygen: [] };
    const timelines = [];
    process.stderr.write(`timing ${keyType}: `);
    // Interleaved, so drifting background load hits every tool alike.
    for (let i = 0; i < n(keyType); i++) {
      const dir = freshDir('kpki');
      for (const [slot, r] of [
        ['fresh', TOOLS.kpki(dir, keyType)],
        ['reuse', TOOLS.kpki(dir, keyType)],
      ]) {
        samples[slot].push(r.ms);
        cpu[slot].push(r.cpu);
      }
      removeDir(dir);
      for (const tool of peers) {
        const d = freshDir(tool);
        const r = (TOOLS[tool] ?? KUBEADM_TOOLS[tool])(d, keyType);
        samples[tool].push(r.ms);
        cpu[tool].push(r.cpu);
        removeDir(d);
      }
      startup.node.push(run(process.execPath, ['-e', '0']).ms);
      startup.kpkiVersion.push(run(process.execPath, [KPKI, '--version']).ms);
      const t = freshDir('timeline');
      timelines.push(timeline(t, keyType));
      removeDir(t);
      if (keyType === 'rsa-2048') {
        ref.nodeKeygen.push(nodeKeygenCpuMs());
        const keys = kpkiKeygen();
        ref.kpkiKeygen.push(keys.cpu);
        ref.kpkiKeygenWall.push(keys.ms);
        const d = freshDir('keygen');
        ref.opensslKeygen.push(opensslKeygen(d).cpu);
        removeDir(d);
      }
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    results[keyType] = { samples, cpu, ref, timelines };
  }

  // Report
  const nodeStart = stats(startup.node);
  const kpkiStart = stats(startup.kpkiVersion);
  const verdicts = [];
  for (const keyType of KEY_TYPES) {
    const { samples, cpu, ref, timelines } = results[keyType];
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
    const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, stats(v).median]));
    console.log(`\n### ${keyType}: ${n(keyType)} runs each, wall clock of the whole process, fresh empty temp dir per run\n`);
    const named = [
      ['fresh', 'kpki init (fresh)'],
      ['reuse', 'kpki init (2nd run on the tree: all reused)'],
      ['kpki-v1.20', "kpki init --profile kubeadm-v1.20 (fresh; kubeadm v1.20's set)"],
      ['kubeadm', `kubeadm ${KUBEADM_VERSION} init phase certs all + kubeconfig all`],
      ['openssl', 'openssl CLI script (bench/openssl-pki.sh)'],
      ['cfssl', 'cfssl script (bench/cfssl-pki.sh)'],
    ].filter(([slot]) => s[slot]);
    const rows = named.map(([slot, name]) => [name, ms(s[slot].median), ms(s[slot].min), ms(s[slot].max), ms(c[slot])]);
    rows.push([`\`node -e 0\` (Node start; all ${nodeStart.n} runs)`, ms(nodeStart.median), ms(nodeStart.min), ms(nodeStart.max), '']);
    rows.push([`\`kpki --version\` (all ${kpkiStart.n} runs)`, ms(kpkiStart.median), ms(kpkiStart.min), ms(kpkiStart.max), '']);
    if (keyType === 'rsa-2048') {
      const keygenRow = (name, cpuSamples) => {
        const st = stats(cpuSamples);
        return [`${name}, CPU / ${CORES} cores`, ms(st.median / CORES), ms(st.min / CORES), ms(st.max / CORES), ms(st.median)];
      };
      const kk = stats(ref.kpkiKeygenWall);
      rows.push([
        `16 RSA-2048 keys as kpki makes them (wall, asked for at once)`,
        ms(kk.median),
        ms(kk.min),
        ms(kk.max),
        ms(stats(ref.kpkiKeygen).median),
      ]);
      rows.push(keygenRow("16 RSA-2048 keys, OpenSSL 3's own keygen (node crypto)", ref.nodeKeygen));
      rows.push(keygenRow('16 `openssl genpkey` RSA-2048', ref.opensslKeygen));
    }
    console.log(table(['ms', 'median', 'min', 'max', 'CPU (median)'], rows));
    const k = s.fresh.median;
    const parts = [];
    if (s.kubeadm) {
      parts.push(
        `kpki / kubeadm ${ratio(k, s.kubeadm.median)}`,
        `kpki (kubeadm-v1.20 profile) / kubeadm ${ratio(s['kpki-v1.20'].median, s.kubeadm.median)}`,
      );
      // On a machine busier than its cores, wall clocks follow CPU time more than parallelism.
      parts.push(`kpki CPU / kubeadm CPU ${ratio(c.fresh, c.kubeadm)}`);
    }
    parts.push(`kpki / openssl script ${ratio(k, s.openssl.median)}`, `kpki / cfssl script ${ratio(k, s.cfssl.median)}`);
    parts.push(`kpki 2nd run / fresh ${ratio(s.reuse.median, k)}`);
    console.log(`\nRatios (medians): ${parts.join(', ')}.`);
    console.log(
      `\nWhere \`kpki init\`'s time goes (${keyType}; bench/init-timeline.mjs: the same run in-process, timed at each step it reports; a step's CPU includes the thread pool's):\n`,
    );
    console.log(timelineTable(timelines));
    if (keyType === 'rsa-2048') {
      if (s.kubeadm) {
        const r = k / s.kubeadm.median;
        verdicts.push(
          `- ${r <= TARGET_RSA_VS_KUBEADM ? 'PASS' : 'MISS'} rsa-2048: kpki init ${ms(k)} ms = ${r.toFixed(2)}x kubeadm ${KUBEADM_VERSION} (${ms(s.kubeadm.median)} ms); target ≤ ${TARGET_RSA_VS_KUBEADM}x`,
        );
      } else {
        verdicts.push(`- NOT CHECKED rsa-2048 against kubeadm: ${noKubeadm}`);
      }
    } else if (keyType === 'ecdsa-p256') {
      verdicts.push(
        `- ${k <= TARGET_ECDSA_MS ? 'PASS' : 'MISS'} ecdsa-p256: kpki init ${ms(k)} ms including Node's start (${ms(nodeStart.median)} ms); target ≤ ${TARGET_ECDSA_MS} ms`,
      );
    }
  }
  const versionRatio = kpkiStart.median / nodeStart.median;
  verdicts.push(
    `- ${versionRatio <= TARGET_VERSION_VS_NODE ? 'PASS' : 'MISS'} kpki --version: ${ms(kpkiStart.median)} ms = ${versionRatio.toFixed(2)}x \`node -e 0\` (${ms(nodeStart.median)} ms); target ≤ ${TARGET_VERSION_VS_NODE}x`,
  );
  console.log(`\n### Targets\n\n${verdicts.join('\n')}`);
  console.log(
    `\nLoad average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine skews the numbers).`,
  );
  if (noKubeadm) console.error(`\nbench: WARNING: kubeadm was not measured: ${noKubeadm}.`);
  if (!ok) {
    console.log('\nThe output check FAILED (see above).');
    process.exitCode = 1;
  }
}

try {
  main();
} catch (error) {
  if (!(error instanceof ToolError)) throw error;
  console.error(`\nbench: a tool failed: ${error.message}`);
  process.exitCode = 1;
}

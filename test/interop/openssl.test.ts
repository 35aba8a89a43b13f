/**
 * OpenSSL as a real peer: chain/purpose verification, subjects and extensions as openssl decodes
 * them, key/cert pairing, and TLS handshakes between s_server and s_client with client-cert auth.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CA_NAMES,
  KUBEADM_FIXTURE,
  type BackgroundProcess,
  type CaName,
  type Leaf,
  type Pki,
  type PkiSource,
  type RunResult,
  Resources,
  describeRun,
  isIp,
  kpkiSource,
  leafPlan,
  opensslAtTime,
  opensslTrustOnly,
  opensslSubject,
  requireTool,
  run,
  runOk,
  startHealthzServer,
  usePki,
} from './helpers.js';

const openssl = requireTool('openssl');
const res = new Resources();
afterAll(() => res.dispose());

const SOURCES: PkiSource[] = [kpkiSource('rsa-2048'), kpkiSource('ecdsa-p256'), KUBEADM_FIXTURE];

/** How openssl shows each key type, and the signature algorithm a CA of that type signs with. */
const KEY_TYPES: Record<string, { pemType: string; text: RegExp[]; signature: string }> = {
  'rsa-2048': { pemType: 'RSA PRIVATE KEY', text: [/^Private-Key: \(2048 bit, 2 primes\)$/m], signature: 'sha256WithRSAEncryption' },
  'rsa-3072': { pemType: 'RSA PRIVATE KEY', text: [/^Private-Key: \(3072 bit, 2 primes\)$/m], signature: 'sha256WithRSAEncryption' },
  'rsa-4096': { pemType: 'RSA PRIVATE KEY', text: [/^Private-Key: \(4096 bit, 2 primes\)$/m], signature: 'sha256WithRSAEncryption' },
  'ecdsa-p256': {
    pemType: 'EC PRIVATE KEY',
    text: [/^Private-Key: \(256 bit\)$/m, /^ASN1 OID: prime256v1$/m],
    signature: 'ecdsa-with-SHA256',
  },
  'ecdsa-p384': {
    pemType: 'EC PRIVATE KEY',
    text: [/^Private-Key: \(384 bit\)$/m, /^ASN1 OID: secp384r1$/m],
    signature: 'ecdsa-with-SHA384',
  },
};

const EKU_TEXT: Record<string, string> = { server: 'TLS Web Server Authentication', client: 'TLS Web Client Authentication' };

function verify(pki: Pki, ca: CaName, cert: string, purpose?: 'sslserver' | 'sslclient'): Promise<RunResult> {
  const args = [
    'verify',
    '-x509_strict',
    ...opensslAtTime(pki),
    ...(purpose ? ['-purpose', purpose] : []),
    '-CAfile',
    pki.caCert(ca),
    cert,
  ];
  return run(openssl, args);
}

/** `openssl x509 -ext …` output as { name → { critical, value } }. */
async function extensions(cert: string): Promise<Map<string, { critical: boolean; value: string }>> {
  const r = await runOk(openssl, ['x509', '-noout', '-ext', 'keyUsage,extendedKeyUsage,basicConstraints,subjectAltName', '-in', cert]);
  const map = new Map<string, { critical: boolean; value: string }>();
  let current: { critical: boolean; value: string } | undefined;
  for (const line of r.stdout.split('\n')) {
    const header = line.match(/^X509v3 (.+?):( critical)?\s*$/);
    if (header) {
      current = { critical: Boolean(header[2]), value: '' };
      map.set(header[1]!, current);
    } else if (current && line.trim()) {
      current.value += (current.value ? '\n' : '') + line.trim();
    }
  }
  return map;
}

/** An IP as OpenSSL 3 prints it in a SAN: IPv6 fully expanded, without leading zeros. */
function opensslIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16).toUpperCase()).join(':');
}

async function publicKeyOfCert(cert: string): Promise<string> {
  return (await runOk(openssl, ['x509', '-noout', '-pubkey', '-in', cert])).stdout;
}

async function publicKeyOfKey(key: string): Promise<string> {
  return (await runOk(openssl, ['pkey', '-pubout', '-in', key])).stdout;
}

const HTTP_GET = 'GET /healthz HTTP/1.0\r\n\r\n';

interface ClientOptions {
  /** Trust anchor for the server cert. */
  ca: CaName;
  /** Name (DNS or IP) the server cert must be valid for. */
  host?: string;
  client?: Leaf;
}

/** s_client fetching /healthz; it verifies the server cert and exits non-zero on any failure. */
function fetchHealthz(pki: Pki, port: number, opts: ClientOptions): Promise<RunResult> {
  const hostArgs =
    opts.host === undefined
      ? []
      : isIp(opts.host)
        ? ['-verify_ip', opts.host, '-noservername']
        : ['-verify_hostname', opts.host, '-servername', opts.host];
  return run(
    openssl,
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-quiet',
      ...opensslTrustOnly(pki.caCert(opts.ca)),
      '-verify_return_error',
      ...opensslAtTime(pki),
      ...hostArgs,
      ...(opts.client ? ['-cert', opts.client.cert, '-key', opts.client.key] : []),
    ],
    { input: HTTP_GET, timeoutMs: 20_000 },
  );
}

function expectServed(r: RunResult): void {
  expect(r.code, describeRun(r)).toBe(0);
  expect(r.stdout, describeRun(r)).toMatch(/^HTTP\/1\.0 200 ok\r\n[\s\S]*\r\n\r\nok\n$/);
}

/**
 * The servers to stand up. Every client-auth leaf of clientCa must be accepted; wrongCaClients
 * (from other CAs) and serverOnlyClient (right CA, no clientAuth EKU) must be refused.
 */
const SERVERS: { name: string; serving: string; clientCa: CaName; wrongCaClients: string[]; serverOnlyClient?: string }[] = [
  {
    name: 'kube-apiserver',
    serving: 'apiserver',
    clientCa: 'ca',
    wrongCaClients: ['front-proxy-client', 'etcd/healthcheck-client', 'apiserver-etcd-client'],
    serverOnlyClient: 'apiserver',
  },
  {
    name: 'etcd',
    serving: 'etcd/server',
    clientCa: 'etcd/ca',
    wrongCaClients: ['apiserver-kubelet-client', 'admin.conf', 'front-proxy-client'],
  },
  {
    name: 'extension apiserver (requestheader CA)',
    serving: 'apiserver',
    clientCa: 'front-proxy-ca',
    wrongCaClients: ['apiserver-kubelet-client', 'admin.conf'],
  },
];

for (const source of SOURCES) {
  describe(source.label, () => {
    const pki = usePki(res, source);

    const plan = leafPlan(source);
    const keyType = KEY_TYPES[source.settings.keyType]!;

    describe('CAs', () => {
      it.each(CA_NAMES)('%s is a self-signed CA that openssl verifies strictly', async (ca) => {
        const r = await verify(pki(), ca, pki().caCert(ca));
        expect(r.code, describeRun(r)).toBe(0);
        expect(r.stdout.trim()).toBe(`${pki().caCert(ca)}: OK`);
        const ext = await extensions(pki().caCert(ca));
        expect(ext.get('Basic Constraints')).toEqual({ critical: true, value: 'CA:TRUE' });
        expect(ext.get('Key Usage')).toEqual({ critical: true, value: 'Digital Signature, Key Encipherment, Certificate Sign' });
        expect(ext.has('Extended Key Usage')).toBe(false);
        const cn = (await opensslSubject(pki().caCert(ca))).cn;
        if (source.flavour.caCommonNameSan) expect(ext.get('Subject Alternative Name')).toEqual({ critical: false, value: `DNS:${cn[0]}` });
        else expect(ext.has('Subject Alternative Name')).toBe(false);
      });

      it.each(CA_NAMES)('%s.key matches %s.crt', async (ca) => {
        expect(await publicKeyOfKey(pki().caKey(ca))).toBe(await publicKeyOfCert(pki().caCert(ca)));
      });

      it('the three CAs are distinct keys', async () => {
        const keys = await Promise.all(CA_NAMES.map((ca) => publicKeyOfCert(pki().caCert(ca))));
        expect(new Set(keys).size).toBe(3);
      });
    });

    describe('leaf chains (openssl verify -x509_strict -purpose)', () => {
      it.each(plan.map((l) => l.id))('%s verifies against its CA for each of its purposes', async (id) => {
        const leaf = pki().leaf(id);
        for (const usage of leaf.usages) {
          const r = await verify(pki(), leaf.ca, leaf.cert, usage === 'server' ? 'sslserver' : 'sslclient');
          expect(r.code, describeRun(r)).toBe(0);
          expect(r.stdout.trim()).toBe(`${leaf.cert}: OK`);
        }
      });

      it.each(plan.map((l) => l.id))('%s is refused for a purpose it lacks', async (id) => {
        const leaf = pki().leaf(id);
        const missing = (['server', 'client'] as const).filter((u) => !leaf.usages.includes(u));
        for (const usage of missing) {
          const r = await verify(pki(), leaf.ca, leaf.cert, usage === 'server' ? 'sslserver' : 'sslclient');
          expect(r.code, describeRun(r)).toBe(2);
          expect(r.stderr + r.stdout).toContain('error 26 at 0 depth lookup: unsuitable certificate purpose');
        }
      });

      it.each(plan.map((l) => l.id))('%s does not verify against the other CAs', async (id) => {
        const leaf = pki().leaf(id);
        for (const ca of CA_NAMES.filter((c) => c !== leaf.ca)) {
          const r = await verify(pki(), ca, leaf.cert);
          expect(r.code, describeRun(r)).toBe(2);
          expect(r.stderr + r.stdout).toContain('error 20 at 0 depth lookup: unable to get local issuer certificate');
        }
      });
    });

    describe('subjects, extensions and keys as openssl decodes them', () => {
      const pkiLeaves = plan.filter((l) => !l.id.endsWith('.conf'));

      it.each(pkiLeaves.map((l) => l.id))('%s has the expected subject and issuer', async (id) => {
        const leaf = pki().leaf(id);
        const subject = await opensslSubject(leaf.cert);
        expect(subject).toEqual({ cn: [leaf.cn], o: [...leaf.o].sort(), other: [] });
        const issuer = await opensslSubject(leaf.cert, 'issuer');
        expect(issuer).toEqual(await opensslSubject(pki().caCert(leaf.ca)));
      });

      it.each(pkiLeaves.map((l) => l.id))(
        '%s has critical KU digitalSignature+keyEncipherment, its EKUs, basic constraints and exact SANs',
        async (id) => {
          const leaf = pki().leaf(id);
          const ext = await extensions(leaf.cert);
          expect(ext.get('Key Usage')).toEqual({ critical: true, value: 'Digital Signature, Key Encipherment' });
          expect(ext.get('Extended Key Usage')).toEqual({ critical: false, value: leaf.usages.map((u) => EKU_TEXT[u]).join(', ') });
          expect(ext.get('Basic Constraints')).toEqual(
            source.flavour.leafBasicConstraints ? { critical: true, value: 'CA:FALSE' } : undefined,
          );
          const sans = [...leaf.dnsSans.map((d) => `DNS:${d}`), ...leaf.ipSans.map((ip) => `IP Address:${opensslIp(ip)}`)];
          if (sans.length === 0) expect(ext.has('Subject Alternative Name')).toBe(false);
          else expect(ext.get('Subject Alternative Name')).toEqual({ critical: false, value: sans.join(', ') });
        },
      );

      it.each(plan.map((l) => l.id))('%s: the key matches the certificate', async (id) => {
        const leaf = pki().leaf(id);
        const [fromKey, fromCert] = await Promise.all([publicKeyOfKey(leaf.key), publicKeyOfCert(leaf.cert)]);
        expect(fromKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
        expect(fromKey).toBe(fromCert);
      });

      it('every key differs (no key reuse between certificates)', async () => {
        const keys = await Promise.all(pki().allLeaves.map((l) => publicKeyOfCert(l.cert)));
        expect(new Set(keys).size).toBe(pki().allLeaves.length);
      });

      it(`keys are ${source.settings.keyType} in ${keyType.pemType} PEM, certs signed with ${keyType.signature}`, async () => {
        const keyFiles = [
          ...CA_NAMES.map((ca) => pki().caKey(ca)),
          ...pki().allLeaves.map((l) => l.key),
          path.join(pki().pkiDir, 'sa.key'),
        ];
        for (const key of keyFiles) {
          expect((await readFile(key, 'utf8')).split('\n')[0], key).toBe(`-----BEGIN ${keyType.pemType}-----`);
          const text = (await runOk(openssl, ['pkey', '-noout', '-text', '-in', key])).stdout;
          for (const pattern of keyType.text) expect(text, key).toMatch(pattern);
        }
        for (const cert of [...CA_NAMES.map((ca) => pki().caCert(ca)), ...pki().allLeaves.map((l) => l.cert)]) {
          const text = (await runOk(openssl, ['x509', '-noout', '-text', '-in', cert])).stdout;
          expect(text, cert).toContain(`Signature Algorithm: ${keyType.signature}`);
        }
      });

      it('sa.pub is the public half of sa.key', async () => {
        const sa = path.join(pki().pkiDir, 'sa');
        const pub = await readFile(`${sa}.pub`, 'utf8');
        expect(pub.split('\n')[0]).toBe('-----BEGIN PUBLIC KEY-----');
        expect(await publicKeyOfKey(`${sa}.key`)).toBe((await runOk(openssl, ['pkey', '-pubin', '-in', `${sa}.pub`])).stdout);
      });
    });

    describe.each(SERVERS)('TLS: s_server as $name (serving $serving, client certs from $clientCa required)', (server) => {
      let port!: number;
      let proc!: BackgroundProcess;
      const serving = plan.find((l) => l.id === server.serving)!;
      const goodClients = plan.filter((l) => l.ca === server.clientCa && l.usages.includes('client'));

      beforeAll(async () => {
        ({ port, proc } = await startHealthzServer(res, pki(), server.name, pki().leaf(server.serving), server.clientCa));
      }, 30_000);

      it.each(goodClients.map((l) => l.id))('accepts the %s client cert', async (id) => {
        expectServed(await fetchHealthz(pki(), port, { ca: serving.ca, client: pki().leaf(id) }));
      });

      it('the server cert verifies for every name in it (s_client -verify_hostname / -verify_ip)', async () => {
        const leaf = pki().leaf(server.serving);
        const client = pki().leaf(goodClients[0]!.id);
        expect(leaf.dnsSans.length + leaf.ipSans.length).toBeGreaterThan(0);
        for (const host of [...leaf.dnsSans, ...leaf.ipSans]) {
          expectServed(await fetchHealthz(pki(), port, { ca: serving.ca, host, client }));
        }
      });

      it('s_client refuses the server cert for a name not in it', async () => {
        const r = await fetchHealthz(pki(), port, {
          ca: serving.ca,
          host: 'not-in-cert.kpki.test',
          client: pki().leaf(goodClients[0]!.id),
        });
        expect(r.code, describeRun(r)).toBe(1);
        expect(r.stderr).toContain('verify error:num=62:hostname mismatch');
      });

      it('s_client refuses the server cert when trusting a different CA', async () => {
        const other = CA_NAMES.find((ca) => ca !== serving.ca)!;
        const r = await fetchHealthz(pki(), port, { ca: other, client: pki().leaf(goodClients[0]!.id) });
        expect(r.code, describeRun(r)).toBe(1);
        expect(r.stderr).toContain('verify error:num=20:unable to get local issuer certificate');
      });

      it.each(server.wrongCaClients)('rejects the %s client cert (wrong CA)', async (id) => {
        const from = proc.output.length;
        const r = await fetchHealthz(pki(), port, { ca: serving.ca, client: pki().leaf(id) });
        expect(r.code, describeRun(r)).toBe(1);
        expect(r.stdout).not.toContain('ok');
        expect(r.stderr).toContain('alert unknown ca');
        await proc.waitFor(/verify error:num=20:unable to get local issuer certificate/, { from, timeoutMs: 5_000 });
      });

      it('rejects a connection without a client cert', async () => {
        const r = await fetchHealthz(pki(), port, { ca: serving.ca });
        expect(r.code, describeRun(r)).toBe(1);
        expect(r.stderr).toContain('alert certificate required');
      });

      const serverOnly = server.serverOnlyClient;
      if (serverOnly)
        it(`rejects ${serverOnly}.crt (right CA, serverAuth only) as a client cert`, async () => {
          const from = proc.output.length;
          const r = await fetchHealthz(pki(), port, { ca: serving.ca, client: pki().leaf(serverOnly) });
          expect(r.code, describeRun(r)).toBe(1);
          expect(r.stderr).toContain('alert unsupported certificate');
          await proc.waitFor(/verify error:num=26:unsuitable certificate purpose/, { from, timeoutMs: 5_000 });
        });
    });
  });
}

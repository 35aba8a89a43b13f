import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, KPKI_BIN, kpki, kpkiInterrupted } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const NODE = ['--node-name', 'cp1', '--advertise-address', '10.0.0.11'];
const initArgs = (dir: string, ...extra: string[]) => [
  'init',
  '--cert-dir',
  path.join(dir, 'pki'),
  '--kubeconfig-dir',
  dir,
  ...NODE,
  ...extra,
];

describe('kpki CLI', () => {
  it('--help lists init; init --help documents flags with examples; --version prints the version', () => {
    const help = kpki(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('init');
    const initHelp = kpki(['init', '--help']);
    expect(initHelp.status).toBe(0);
    for (const flag of ['--cert-dir', '--control-plane-endpoint', '--key-type', '--config', '--dry-run', '--renew', '--json']) {
      expect(initHelp.stdout).toContain(flag);
    }
    expect(initHelp.stdout).toMatch(/Examples:\s+kpki init/);
    const version = kpki(['--version']);
    expect(version.stdout).toContain(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  });

  it.each([
    [['init', '--bogus-flag'], 'Unknown option `--bogus-flag`'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['init', '--advertise-address', 'not-an-ip', '--node-name', 'cp1'], '--advertise-address: "not-an-ip" is not an IP address'],
    // A zone is no part of an address Go reads (it once reached the URL parser: "internal error").
    [['init', '--advertise-address', 'fe80::1%eth0', '--node-name', 'cp1'], '--advertise-address: "fe80::1%eth0" is not an IP address'],
    [['init', '--key-type', 'dsa', ...NODE], 'use one of rsa-2048'],
    [['init', '--profile', 'nope', ...NODE], '--profile: "nope" is neither a built-in profile nor a file'],
    [['init', '--config', '/nonexistent/kubeadm.yaml', ...NODE], '/nonexistent/kubeadm.yaml'],
    [['init', '--renew', 'apiserverr', ...NODE, '--dry-run'], '--renew: unknown entry "apiserverr"'],
  ])('%j fails with exit 2 and one line', (args, fragment) => {
    const result = kpki(args, { cwd: tempDir() });
    expect(result.status).toBe(2);
    expectOneLineError(result, fragment);
  });

  it('colours only where kleur would (a terminal, FORCE_COLOR): a pipe gets plain text', () => {
    const dir = tempDir();
    expect(kpki(initArgs(dir, '--key-type', 'ecdsa-p256')).status).toBe(0);
    const verify = ['verify', '--cert-dir', path.join(dir, 'pki')];
    const piped = kpki(verify, { env: { NO_COLOR: undefined, FORCE_COLOR: undefined } });
    expect(piped.stdout).toMatch(/^No problems found/m);
    expect(piped.stdout).not.toContain('\x1b[');
    const forced = kpki(verify, { env: { NO_COLOR: undefined, FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain('\x1b[32mNo problems found');
  });

  it('a reader that has gone (EPIPE) ends the output quietly: the exit status is the command’s', () => {
    const dir = tempDir();
    expect(kpki(initArgs(dir, '--key-type', 'ecdsa-p256')).status).toBe(0);
    const fifo = path.join(dir, 'stdout');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    closeSync(reader);
    try {
      const result = spawnSync(process.execPath, [KPKI_BIN, 'inspect', path.join(dir, 'pki')], {
        stdio: ['ignore', writer, 'pipe'],
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    } finally {
      closeSync(writer);
    }
  });

  it('init writes the PKI, prints a summary on stdout and no progress when not a TTY', () => {
    const dir = tempDir();
    const result = kpki(initArgs(dir, '--key-type', 'ecdsa-p256'));
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/created\s+apiserver\s/);
    expect(readdirSync(path.join(dir, 'pki')).sort()).toContain('front-proxy-ca.key');
  });

  it('--json prints the result; a second run reports reuse with exit 0', () => {
    const dir = tempDir();
    const first = JSON.parse(kpki(initArgs(dir, '--key-type', 'ecdsa-p256', '--json')).stdout);
    expect(first.items.map((i: { action: string }) => i.action)).not.toContain('reuse');
    const again = kpki(initArgs(dir, '--key-type', 'ecdsa-p256', '--json'));
    expect(again.status).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second.changed).toBe(false);
    expect(new Set(second.items.map((i: { action: string }) => i.action))).toEqual(new Set(['reuse']));
  });

  it('defaults: ./pki with kubeconfigs beside it, in the working directory', () => {
    const dir = tempDir();
    expect(kpki(['init', ...NODE, '--key-type', 'ecdsa-p256'], { cwd: dir }).status).toBe(0);
    expect(existsSync(path.join(dir, 'pki/ca.crt'))).toBe(true);
    expect(existsSync(path.join(dir, 'admin.conf'))).toBe(true);
  });

  it('--dry-run shows subjects, SANs, issuers and validity, and writes nothing', () => {
    const dir = tempDir();
    const result = kpki(initArgs(dir, '--dry-run', '--control-plane-endpoint', 'lb.example.com'));
    expect(result.status).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(result.stdout).toContain('subject CN=kube-apiserver, issuer ca, key rsa-2048, valid 365d');
    expect(result.stdout).toContain(
      'SANs cp1, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local, lb.example.com, 10.96.0.1, 10.0.0.11',
    );
    expect(result.stdout).toContain('subject CN=system:node:cp1, O=system:nodes');
  });

  it('a stale file exits 1 with the file, the reason and the fix, and --renew fixes it', () => {
    const dir = tempDir();
    kpki(initArgs(dir, '--key-type', 'ecdsa-p256'));
    const stale = kpki(initArgs(dir, '--key-type', 'ecdsa-p256', '--apiserver-cert-extra-sans', 'api.example.com'));
    expect(stale.status).toBe(1);
    expectOneLineError(stale, 'apiserver.crt', 'lacks SAN api.example.com', '--renew apiserver');
    const renewed = kpki(
      initArgs(dir, '--key-type', 'ecdsa-p256', '--apiserver-cert-extra-sans', 'api.example.com', '--renew', 'apiserver'),
    );
    expect(renewed.status).toBe(0);
    expect(renewed.stdout).toMatch(/reissued\s+apiserver/);
  });

  it('garbage in an existing file exits 2 naming the file and leaves it as it was', () => {
    const dir = tempDir();
    kpki(initArgs(dir, '--key-type', 'ecdsa-p256'));
    const key = path.join(dir, 'pki/apiserver.key');
    writeFileSync(key, '-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n-----END RSA PRIVATE KEY-----\n');
    const result = kpki(initArgs(dir, '--key-type', 'ecdsa-p256', '--force'));
    expect(result.status).toBe(2);
    expectOneLineError(result, key);
    expect(readFileSync(key, 'utf8')).toContain('not base64 at all');
  });

  /** A rerun after any interruption must finish the set without conflicts or leftovers. */
  function expectRerunCompletes(args: string[], dir: string) {
    const rerun = kpki([...args, '--json']);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout).items.map((i: { action: string }) => i.action)).not.toContain('conflict');
    const final = JSON.parse(kpki([...args, '--json']).stdout);
    expect(new Set(final.items.map((i: { action: string }) => i.action))).toEqual(new Set(['reuse']));
    const files = readdirSync(dir, { recursive: true }).map(String);
    expect(files.filter((f) => f.includes('.kpki'))).toEqual([]);
  }

  it.each(['pki/ca.crt', 'pki/etcd/ca.crt', 'admin.conf'])('SIGKILL once %s is written: a rerun completes the set', async (marker) => {
    const dir = tempDir();
    const args = initArgs(dir, '--key-type', 'rsa-2048');
    const killed = await kpkiInterrupted(args, 'SIGKILL', () => existsSync(path.join(dir, marker)));
    // The kill lands while files are being written, or just after the run ended.
    expect(killed.signal === 'SIGKILL' || killed.status === 0).toBe(true);
    expectRerunCompletes(args, dir);
  });

  it('SIGINT during key generation stops at once, releases the lock and writes nothing', async () => {
    const dir = tempDir();
    const args = initArgs(dir, '--key-type', 'rsa-4096');
    const lock = path.join(dir, 'pki/.kpki.lock');
    const interrupted = await kpkiInterrupted(args, 'SIGINT', () => existsSync(lock));
    // Dies by the signal once clean (a shell shows status 130), not waiting for key generation.
    expect(interrupted.signal).toBe('SIGINT');
    expectOneLineError(interrupted, 'interrupted', 'run the same command again');
    expect(readdirSync(dir, { recursive: true })).toEqual(['pki']);
    // Nothing was written, so any key type may follow; ECDSA keeps the test quick.
    expectRerunCompletes(initArgs(dir, '--key-type', 'ecdsa-p256'), dir);
  });
});

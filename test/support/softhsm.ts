/**
 * A SoftHSM token of its own for a test run: SOFTHSM2_CONF points at a config and token directory
 * in a temp dir (removed by the caller's clean-up), so runs never share or leave tokens behind.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const TOKEN_PIN = '4711-user';
export const TOKEN_SO_PIN = '0815-so';

/** The tool, or a failure naming the package (bash .ci/run installs both). */
export function requirePkcs11Tool(tool: 'softhsm2-util' | 'pkcs11-tool'): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(
    `${tool} is not installed: apt-get install ${tool === 'softhsm2-util' ? 'softhsm2' : 'opensc'} (bash .ci/run installs it)`,
  );
}

export interface SoftHsm {
  /** The environment every process that opens the token needs (SOFTHSM2_CONF). */
  env: Record<string, string>;
  /** `pkcs11:token=LABEL;object=OBJECT` for a token made by initToken. */
  uri(token: string, object: string): string;
  /** Initializes a token with the user PIN TOKEN_PIN. */
  initToken(label: string): void;
  /** pkcs11-tool --list-objects of a token, logged in. */
  listObjects(label: string): string;
}

export async function softHsm(dir: string): Promise<SoftHsm> {
  const util = requirePkcs11Tool('softhsm2-util');
  const tool = requirePkcs11Tool('pkcs11-tool');
  const tokens = path.join(dir, 'tokens');
  await mkdir(tokens, { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return {
    env,
    uri: (token, object) => `pkcs11:token=${token};object=${object}`,
    initToken: (label) => void run(util, ['--init-token', '--free', '--label', label, '--pin', TOKEN_PIN, '--so-pin', TOKEN_SO_PIN]),
    listObjects: (label) =>
      run(tool, ['--module', SOFTHSM_MODULE, '--token-label', label, '--login', '--pin', TOKEN_PIN, '--list-objects']),
  };
}

/** pkcs11-tool's listing as objects: kind (`Private Key Object; EC`), label and access flags. */
export function parseObjectList(text: string): { kind: string; label: string; access: string[] }[] {
  return text
    .split(/\n(?=\S)/)
    .filter((block) => /Object;/.test(block))
    .map((block) => ({
      kind: block.split('\n')[0]!.trim(),
      label: /^\s*label:\s*(.*)$/m.exec(block)?.[1]?.trim() ?? '',
      access: (/^\s*Access:\s*(.*)$/m.exec(block)?.[1] ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    }));
}

/** `kpki init` of a cluster of two control planes and a worker under `dir`, its CA keys at the `--ca-key-uri` values given. */
export function tokenClusterInitArgs(dir: string, caKeyUris: string[]): string[] {
  return [
    'init',
    '--cert-dir',
    path.join(dir, 'pki'),
    '--control-plane-endpoint',
    '10.0.0.100:6443',
    '--control-plane-nodes',
    'cp1=10.0.0.11,cp2=10.0.0.12',
    '--workers',
    'w1=10.0.0.21',
    '--key-type',
    'ecdsa-p256',
    ...caKeyUris,
  ];
}

/**
 * goverify (./goverify/main.go): Go's crypto/x509 and crypto/tls as a verifier, built once per test
 * file with the Debian Go 1.23 toolchain (bookworm-backports); go.mod says go 1.23, so
 * Go 1.23's GODEBUG defaults apply, as they do to Kubernetes ≥ 1.31 (built from a go ≥ 1.23 module).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll } from 'vitest';
import { describeRun, requireTool, runOk, type Resources } from './helpers.js';

export type Usage = 'server' | 'client' | 'any';

export interface VerifyCheck {
  kind: 'verify';
  cert: string;
  roots: string;
  usage: Usage;
  host?: string;
  at?: string;
}

export interface KeypairCheck {
  kind: 'keypair';
  cert: string;
  key: string;
}

export type Check = VerifyCheck | KeypairCheck;

export interface Result {
  ok: boolean;
  error: string;
}

const GOVERIFY_SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'goverify');

/** Builds goverify in beforeAll and returns the function that runs checks through it, in order. */
export function useGoverify(res: Resources): (checks: Check[]) => Promise<Result[]> {
  const go = requireTool('go');
  let goverify!: string;
  beforeAll(async () => {
    const dir = await res.tempDir('goverify');
    goverify = path.join(dir, 'goverify');
    await runOk(go, ['build', '-o', goverify, '.'], {
      cwd: GOVERIFY_SRC,
      env: {
        GOFLAGS: '-mod=mod',
        GOTOOLCHAIN: 'local',
        GOCACHE: path.join(dir, 'gocache'),
        GOPATH: path.join(dir, 'gopath'),
        CGO_ENABLED: '0',
      },
      timeoutMs: 180_000,
    });
  }, 200_000);
  return async (checks) => {
    const r = await runOk(goverify, [], { input: JSON.stringify(checks), timeoutMs: 30_000 });
    const results = JSON.parse(r.stdout) as Result[];
    if (results.length !== checks.length)
      throw new Error(`goverify answered ${results.length} of ${checks.length} checks:\n${describeRun(r)}`);
    return results;
  };
}

/**
 * `--dry-run --json` transcripts of the day-2 commands (`ca renew`, `renew --all` and every
 * `ca rotate` phase, with the real runs between them) over fixed fixture PKIs, compared byte for
 * byte with the ones checked in under transcripts/: moving day 2's code must not change what it
 * says it would do. Only what differs from run to run is normalised: the temp directory and times.
 * KPKI_RECORD_TRANSCRIPTS=1 writes them anew (for a change of output made on purpose).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeCluster } from '../integration/day2-support.js';
import { kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const TRANSCRIPTS = path.join(import.meta.dirname, 'transcripts');
const RECORD = process.env.KPKI_RECORD_TRANSCRIPTS === '1';

const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g;

/** One command's output with the temp directory and every time replaced by a placeholder. */
function normalised(dir: string, text: string): string {
  return text.split(dir).join('<dir>').replace(ISO_TIME, '<time>');
}

/** Runs each command in turn (writing ones too) and returns the transcript of them all. */
function transcript(dir: string, commands: string[][]): string {
  const entries = commands.map((args) => {
    const result = kpki(args);
    const stdout = normalised(dir, result.stdout);
    return {
      args: normalised(dir, args.join(' ')),
      status: result.status,
      stdout: stdout.startsWith('{') ? JSON.parse(stdout) : stdout,
      stderr: normalised(dir, result.stderr),
    };
  });
  return `${JSON.stringify(entries, null, 2)}\n`;
}

function expectTranscript(name: string, text: string): void {
  const file = path.join(TRANSCRIPTS, `${name}.json`);
  if (RECORD) writeFileSync(file, text);
  expect(existsSync(file), `${file}: not recorded (KPKI_RECORD_TRANSCRIPTS=1)`).toBe(true);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('day-2 transcripts', () => {
  it('a cluster: ca renew, renew --all and every rotation phase say what they did before the move', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir, '--json'];
    const rotate = (step: string, ...extra: string[]) => [
      'ca',
      'rotate',
      step,
      ...(step === 'status' ? [] : ['--offline']),
      ...extra,
      ...at,
    ];
    const dry = '--dry-run';
    const text = transcript(dir, [
      ['ca', 'renew', 'ca', dry, ...at],
      ['ca', 'renew', 'etcd', '--validity', '20y', dry, ...at],
      ['renew', '--all', dry, ...at],
      rotate('status'),
      rotate('begin', '--service-account', dry),
      rotate('begin', '--service-account'),
      rotate('status'),
      rotate('abort', dry),
      rotate('reissue', dry),
      rotate('finish', dry),
      rotate('reissue'),
      rotate('status'),
      rotate('abort', dry),
      rotate('finish', dry),
      ['renew', '--all', dry, ...at],
      rotate('finish'),
      rotate('status'),
    ]);
    expectTranscript('cluster', text);
  });

  it('a single-node PKI: ca renew, renew --all and a rotation of the front-proxy CA', { timeout: 300_000 }, () => {
    const dir = tempDir();
    const at = ['--cert-dir', path.join(dir, 'pki'), '--kubeconfig-dir', dir, '--json'];
    const init = kpki(['init', '--key-type', 'ecdsa-p256', '--node-name', 'cp1', '--advertise-address', '10.0.0.11', ...at]);
    expect(init.status, init.stderr).toBe(0);
    const rotate = (step: string, ...extra: string[]) => [
      'ca',
      'rotate',
      step,
      ...(step === 'status' ? [] : ['--offline']),
      ...extra,
      ...at,
    ];
    const text = transcript(dir, [
      ['ca', 'renew', 'front-proxy-ca', '--dry-run', ...at],
      ['renew', '--all', '--dry-run', ...at],
      ['renew', 'apiserver', 'admin.conf', '--add-san', 'k8s.example.internal', '--dry-run', ...at],
      rotate('begin', '--ca', 'front-proxy', '--dry-run'),
      rotate('begin', '--ca', 'front-proxy'),
      rotate('reissue', '--dry-run'),
      rotate('abort', '--dry-run'),
      rotate('abort'),
      rotate('status'),
    ]);
    expectTranscript('single-node', text);
  });
});

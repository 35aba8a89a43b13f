/**
 * kpki reads a kubeconfig's YAML as kubectl does (client-go through sigs.k8s.io/yaml): for each
 * construct below, the user's token as `kubectl config view` prints it, or kubectl's refusal,
 * against kpki's reading of the same file (readYamlData). Where the two still differ, the
 * difference is named and held as it is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { mergeKubeconfig } from '../../src/kubeconfig/merge.js';
import { readYamlData } from '../../src/kubeconfig/yaml-data.js';
import { describeRun, kubectlRun, requireTool } from './helpers.js';

const kubectl = requireTool('kubectl');
const dir = mkdtempSync(path.join(tmpdir(), 'kpki-kubectl-yaml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = (user: string) => `apiVersion: v1
clusters:
- cluster:
    server: https://127.0.0.1:6443
  name: c
contexts:
- context:
    cluster: c
    user: u
  name: x
current-context: x
kind: Config
users:
- name: u
  user:
${user}
`;

/** A reading of the file: the token's text, a value that is not text, or a refusal of the YAML. */
type Reading = { token: string | undefined } | 'not text' | 'refused';

async function kubectlReads(file: string): Promise<Reading> {
  const r = await kubectlRun(kubectl, ['config', 'view', '--kubeconfig', file, '--raw', '-o', 'jsonpath={.users[0].user}']);
  if (r.code === 0) return { token: (JSON.parse(r.stdout || '{}') as { token?: string }).token };
  // The YAML read, but a value did not fit the field's Go type.
  if (/json: cannot unmarshal \w+ into Go struct field/.test(r.stderr)) return 'not text';
  expect(r.stderr, describeRun(r)).toMatch(/error loading config file .*: (yaml|error converting YAML to JSON): /);
  return 'refused';
}

/** The case's kubeconfig, written where kubectl reads it: its text and its file. */
function writeCase(name: string, user: string): { text: string; file: string } {
  const file = path.join(dir, `${name.replace(/\W+/g, '-')}.conf`);
  const text = kubeconfig(user);
  writeFileSync(file, text);
  return { text, file };
}

function kpkiReads(text: string): Reading {
  const read = readYamlData(text);
  if (!read.ok) return 'refused';
  const token = (read.value as { users: { user: Record<string, unknown> }[] }).users[0]!.user.token;
  // A null is a Go string field's zero value: no token.
  return token === undefined || token === null ? { token: undefined } : typeof token === 'string' ? { token } : 'not text';
}

const BLOB = Buffer.from(`-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(100)}\n-----END CERTIFICATE-----\n`).toString('base64');

describe('kubeconfig YAML: kpki reads it as kubectl does', () => {
  it.each([
    ['a plain token', '    token: abc'],
    ['a quoted token', '    token: "a: b"'],
    ['a comment right after a quoted value', '    token: "abc"#c'],
    ['a lone CR as a line end', '    token: t\r    username: u'],
    ['a flow sequence continued on the next line', '    token: t\n    exec-args: [b,\nc]'],
    ['a 0b integer', '    token: 0b101'],
    ['a 0o integer', '    token: 0o17'],
    ['an explicit !!float', '    token: !!float 1'],
    ['an explicit !!str', '    token: !!str 12'],
    ['a local tag', '    token: !foo bar'],
    ['an anchor and its alias', '    username: &a t\n    token: *a'],
    ['an alias to no anchor', '    token: *x'],
    ['a repeated key', '    token: t\n    token: u'],
    ['two documents', '    token: t\n---\na: b'],
    ['a tab as indentation', '    token: t\n\tusername: u'],
    ['a folded block scalar', '    token: >-\n      a\n      b'],
    ['embedded data beside the token', `    client-certificate-data: ${BLOB}\n    token: t`],
    ['no value', '    token:'],
  ])('%s', async (name, user) => {
    const { text, file } = writeCase(name, user);
    expect(kpkiReads(text)).toEqual(await kubectlReads(file));
  });

  // Known differences, each held so that a change of either reader shows here.
  it.each([
    // YAML 1.1's booleans: Go's reader is YAML 1.1; js-yaml and the yaml package read YAML 1.2.
    ['yes, a boolean to Go only', '    token: yes', { token: 'yes' }, 'not text'],
    // An implicit key longer than 1024 characters: refused by Go, read by js-yaml.
    ['a key over 1024 characters', `    ${'k'.repeat(1100)}: v\n    token: t`, { token: 't' }, 'refused'],
    // A key with no text: refused by Go and js-yaml, read as "" by the yaml package.
    ['an empty key', '    token: t\n    : b', { token: 't' }, 'refused'],
  ] as const)('%s', async (name, user, kpki, go) => {
    const { text, file } = writeCase(name, user);
    expect(kpkiReads(text)).toEqual(kpki);
    expect(await kubectlReads(file)).toEqual(go);
  });
});

/** Names YAML 1.1 (Go's reader) takes for booleans, timestamps, numbers, null or a merge key. */
const TRICKY_NAMES = ['on', 'no', 'y', 'yes', 'off', '2024-01-01', 'true', 'null', '~', '1e3', '0o17', '<<', '-x', '=', 'a: b', '#x'];

describe('kubeconfigs kpki writes: kubectl reads back every name', () => {
  const written = (name: string) =>
    buildKubeconfig({
      clusterName: `${name}`,
      server: 'https://127.0.0.1:6443',
      userName: name,
      contextName: name,
      ca: { path: '/etc/kubernetes/pki/ca.crt' },
      cert: { path: 'client.crt' },
      key: { path: 'client.key' },
    });

  async function namesKubectlReads(file: string) {
    const r = await kubectlRun(kubectl, ['config', 'view', '--kubeconfig', file, '-o', 'json']);
    expect(r.code, describeRun(r)).toBe(0);
    const config = JSON.parse(r.stdout) as Record<'clusters' | 'contexts' | 'users', { name: string }[]> & { 'current-context': string };
    // kubectl prints each list sorted by name.
    const names = (list: { name: string }[]) => list.map((e) => e.name).sort();
    return {
      clusters: names(config.clusters),
      contexts: names(config.contexts),
      users: names(config.users),
      current: config['current-context'],
    };
  }

  it.each(TRICKY_NAMES)('a new kubeconfig named %j', async (name) => {
    const file = path.join(dir, `written-${TRICKY_NAMES.indexOf(name)}.conf`);
    writeFileSync(file, written(name));
    expect(await namesKubectlReads(file)).toEqual({ clusters: [name], contexts: [name], users: [name], current: name });
  });

  it('entries merged into an existing kubeconfig', async () => {
    const file = path.join(dir, 'merged.conf');
    const merged = TRICKY_NAMES.reduce((text, name) => mergeKubeconfig(text, written(name), file), written('kubernetes'));
    writeFileSync(file, merged);
    const all = ['kubernetes', ...TRICKY_NAMES].sort();
    expect(await namesKubectlReads(file)).toEqual({ clusters: all, contexts: all, users: all, current: 'kubernetes' });
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubeconfigText, readYamlData } from '../../src/kubeconfig/yaml-data.js';
import { readYamlDocument, readYamlStream, yamlText } from '../../src/model/yaml.js';
import { REPO_ROOT } from '../support/tmp.js';

const KUBEADM = path.join(REPO_ROOT, 'test/fixtures/kubeadm-v1.20.2/node-root/etc/kubernetes');
const BLOB = Buffer.from(`-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(200)}\n-----END CERTIFICATE-----\n`).toString('base64');

const kubeconfig = (user: string) => `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${BLOB}
    server: https://10.0.0.11:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: admin
  name: admin@kubernetes
current-context: admin@kubernetes
kind: Config
preferences: {}
users:
- name: admin
  user:
${user}
`;

describe('readYamlData (kubeconfig YAML with the base64 values set aside)', () => {
  it.each(readdirSync(KUBEADM).filter((f) => f.endsWith('.conf')))("kubeadm's %s reads as its whole text reads", (name) => {
    const text = readFileSync(path.join(KUBEADM, name), 'utf8');
    const read = readYamlData(text);
    expect(read).toEqual(readYamlDocument(text));
    expect(JSON.stringify(read)).toContain('LS0tLS1CRUdJTi');
  });

  it.each([
    ['embedded data', `    client-certificate-data: ${BLOB}\n    client-key-data: ${BLOB}x`],
    [
      'trailing blanks and an anchor reused by an alias',
      `    client-certificate-data: ${BLOB}  \n    extra: &e\n      token-data: ${BLOB}\n    again: *e`,
    ],
    ['a block scalar holding a data line', `    note: |\n      client-key-data: ${BLOB}\n    client-key-data: ${BLOB}`],
    ['a plain scalar continued on the next line', `    client-key-data: ${BLOB}\n      ${BLOB}`],
    ['a value of digits (an integer to YAML)', `    client-key-data: ${'1'.repeat(80)}`],
    ['a value starting with a sign', `    client-key-data: +${'1'.repeat(80)}`],
    ['the stand-in itself in the text', `    client-key-data: ${BLOB}\n    kpkidata0: kpkidata0`],
    ['an escape spelling the stand-in', `    client-key-data: ${BLOB}\n    other: "kpki\\x64ata0"`],
    ['a flow mapping closed on the next line', `    client-key-data: ${BLOB}\n    flow: {\n      client-key-data: ${BLOB}\n      }`],
    ['CRLF line ends', `    client-key-data: ${BLOB}\r\n    token: t\r`],
    ['a data line in a comment', `    # client-key-data: ${BLOB}\n    token: t`],
    ['invalid YAML after a data line', `    client-key-data: ${BLOB}\n    bad: [unclosed`],
    ['invalid YAML on a data line', `    client-key-data: ${BLOB}\n   client-key-data: ${BLOB}`],
  ])('%s: as its whole text reads', (_, user) => {
    const text = kubeconfig(user);
    expect(readYamlData(text)).toEqual(readYamlDocument(text));
  });
});

describe('readYamlDocument (js-yaml first, the yaml package for what js-yaml refuses)', () => {
  it.each([
    // js-yaml's reading, as kubectl's: the yaml package refuses a comment right after a quote.
    ['a comment right after a quoted value', 'token: "abc"#c', { ok: true, value: { token: 'abc' } }],
    ['a flow sequence continued on the next line', 'args: [b,\nc]', { ok: true, value: { args: ['b', 'c'] } }],
    ['a 0b integer', 'token: 0b101', { ok: true, value: { token: 5 } }],
    ['an empty document', '', { ok: true, value: null }],
    ['a comment alone', '# nothing\n', { ok: true, value: null }],
    // js-yaml refuses a tag it does not know: the yaml package reads it, as kubectl does.
    ['a local tag', 'token: !foo bar', { ok: true, value: { token: 'bar' } }],
    // As Go reads them: a repeated key's last value, the first of several documents.
    ['a repeated key', 'a: 1\na: 2', { ok: true, value: { a: 2 } }],
    ['two documents', 'a: 1\n---\nb: 2', { ok: true, value: { a: 1 } }],
    // Both refuse: the yaml package's words.
    ['an alias to no anchor', 'a: *x', { ok: false, error: 'Unresolved alias (the anchor must be set before the alias): x' }],
    ['a tab as indentation', 'a:\n\tb: 1', { ok: false, error: 'Tabs are not allowed as indentation at line 2, column 1:' }],
    [
      'an unclosed flow sequence',
      'a: [b',
      { ok: false, error: 'Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 6:' },
    ],
  ])('%s', (_, text, expected) => {
    expect(readYamlDocument(text)).toEqual(expected);
  });
});

describe('readYamlStream (every document of a stream)', () => {
  it('reads each document', () => {
    expect(readYamlStream('a: 1\n---\nb: 2\n---\n')).toEqual({ documents: [{ a: 1 }, { b: 2 }, null] });
  });

  it('a stream js-yaml refuses: the documents the yaml package reads, and its first error', () => {
    expect(readYamlStream('a: !foo x\n---\nb: [\n---\nc: 3\n')).toEqual({
      documents: [{ a: 'x' }, { c: 3 }],
      error: 'Flow sequence in block collection must be sufficiently indented and end with a ] at line 4, column 1:',
    });
  });
});

describe('yamlText (YAML as kubeadm writes it)', () => {
  it.each(readdirSync(KUBEADM).filter((f) => f.endsWith('.conf')))("kubeadm's %s, read and written again, is the same bytes", (name) => {
    const text = readFileSync(path.join(KUBEADM, name), 'utf8');
    const read = readYamlDocument(text);
    expect(read.ok).toBe(true);
    expect(yamlText(read.ok && read.value)).toBe(text);
  });

  it('quotes, in double quotes, the strings a YAML 1.1 reader takes for other types', () => {
    expect(yamlText({ a: 'on', b: 'no', c: 'y', d: '2024-01-01', e: 'true', f: '1e3', g: 'kubernetes', h: 'system:node:cp1' })).toBe(
      'a: "on"\nb: "no"\nc: "y"\nd: "2024-01-01"\ne: "true"\nf: "1e3"\ng: kubernetes\nh: system:node:cp1\n',
    );
  });
});

describe('kubeconfigText (kubeconfig YAML with the base64 values set aside)', () => {
  const parsed = (text: string) => {
    const read = readYamlDocument(text);
    if (!read.ok) throw new Error(read.error);
    return read.value;
  };

  it.each(readdirSync(KUBEADM).filter((f) => f.endsWith('.conf')))("kubeadm's %s: the same text as written whole", (name) => {
    const value = parsed(readFileSync(path.join(KUBEADM, name), 'utf8'));
    expect(kubeconfigText(value)).toBe(yamlText(value));
  });

  it.each([
    ['embedded data in lists and maps', { users: [{ user: { 'client-key-data': BLOB, 'token-data': `${BLOB}==` } }] }],
    ['the stand-in itself in a key and a value', { kpkidata0: 'kpkidata1', 'a-data': BLOB }],
    ['data a YAML reader would take for a number, or too short to set aside', { 'a-data': '1'.repeat(80), 'b-data': 'QUJD' }],
    ['base64 under a key that is not *-data', { caBundle: BLOB, 'c-data': BLOB }],
    ['a data key holding a list', { 'd-data': [BLOB, BLOB] }],
    ['a string that needs quotes beside data', { name: 'on', 'e-data': BLOB, path: 'a: b' }],
  ])('%s: the same text as written whole', (_, value) => {
    expect(kubeconfigText(value)).toBe(yamlText(value));
  });
});

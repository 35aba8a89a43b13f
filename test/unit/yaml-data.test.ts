import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { readYamlData } from '../../src/kubeconfig/yaml-data.js';
import { REPO_ROOT } from '../support/tmp.js';

/** The `yaml` package reading the whole text: what readYamlData must answer every time. */
function reference(text: string) {
  const doc = parseDocument(text);
  return doc.errors.length ? { ok: false, error: doc.errors[0]!.message.split('\n')[0] } : { ok: true, value: doc.toJS() };
}

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
  it.each(readdirSync(KUBEADM).filter((f) => f.endsWith('.conf')))("kubeadm's %s reads as the yaml package reads it", (name) => {
    const text = readFileSync(path.join(KUBEADM, name), 'utf8');
    const read = readYamlData(text);
    expect(read).toEqual(reference(text));
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
  ])('%s: as the yaml package reads it', (_, user) => {
    const text = kubeconfig(user);
    expect(readYamlData(text)).toEqual(reference(text));
  });
});

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { buildKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { parseBlockYaml } from '../../src/model/block-yaml.js';
import { parseProfile } from '../../src/model/profile.js';
import { FIXTURE_KUBERNETES, REPO_ROOT } from '../support/tmp.js';

/** What the `yaml` package makes of a text: its value, or undefined when it reports an error. */
function byYamlPackage(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text);
  return doc.errors.length ? undefined : { value: doc.toJS() };
}

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const KUBECTL_STYLE = `apiVersion: v1
clusters:
  - cluster:
      certificate-authority: /etc/kubernetes/pki/ca.crt
      server: https://[fd00::1]:6443
      tls-server-name: kubernetes.default.svc
    name: dev
contexts:
  - context:
      cluster: dev
      namespace: kube-system
      user: alice
    name: alice@dev
current-context: alice@dev
kind: Config
preferences: {}
users:
  - name: alice
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        args:
          - get-token
          - --cluster=dev
        command: /usr/local/bin/aws-iam-authenticator
        env: []
  - name: bob
    user:
      token: abc.def_ghi-123
`;

/** Every kubeconfig and manifest kpki reads that is written in the block style. */
function blockStyleTexts(): string[] {
  const kubeadm = ['admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'].map((f) => readFileSync(path.join(FIXTURE_KUBERNETES, f), 'utf8'));
  const kpki = buildKubeconfig({
    clusterName: 'kubernetes',
    server: 'https://10.0.0.11:6443',
    userName: 'kubernetes-admin',
    contextName: 'kubernetes-admin@kubernetes',
    ca: { pem: PEM },
    cert: { pem: PEM },
    key: { path: '/etc/kubernetes/pki/admin.key' },
  });
  const profile = parseProfile(readFileSync(path.join(REPO_ROOT, 'profiles/kubeadm.yaml'), 'utf8'), 'kubeadm.yaml');
  return [...kubeadm, kpki, KUBECTL_STYLE, ...profile.manifests.map((m) => m.content)];
}

/** A small deterministic generator, so a failing mutation can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const EDITS = [' ', '  ', '\n', '- ', ':', ': ', '#', '"', "'", '{', '}', '[', ']', '&a ', '*a', '!!str ', '|', '>', '~', 'true', 'null', '0x1F', '1', '.5', '-', '\t', '\r', '---\n', '__proto__: x\n', 'name: again\n'];

describe('parseBlockYaml', () => {
  it("reads kubeadm's, kpki's and kubectl's kubeconfigs and kpki's manifests as the yaml package does", () => {
    for (const text of blockStyleTexts()) {
      const value = parseBlockYaml(text);
      expect(value).toBeDefined();
      expect(value).toStrictEqual(byYamlPackage(text)!.value);
    }
  });

  it.each([
    ['a boolean', 'a: true\n'],
    ['a number', 'a: 1\n'],
    ['a hex number', 'a: 0x1F\n'],
    ['a float', 'a: .inf\n'],
    ['null', 'a: null\n'],
    ['a tilde', 'a: ~\n'],
    ['a quoted string', 'a: "b"\n'],
    ['a comment', 'a: b # c\n'],
    ['a flow sequence', 'a: [b]\n'],
    ['a literal block', 'a: |\n  b\n'],
    ['an anchor', 'a: &x b\n'],
    ['a tag', 'a: !!str b\n'],
    ['a repeated key', 'a: b\na: c\n'],
    ['a continued scalar', 'a: b\n  c\n'],
    ['a nested sequence', '- - b\n'],
    ['a negative number', '- -1\n'],
    ['a second document', 'a: b\n---\nc: d\n'],
    ['a tab', 'a:\tb\n'],
    ['CRLF', 'a: b\r\n'],
    ['a trailing space', 'a: b \n'],
    ['an empty text', ''],
  ])('leaves %s to the yaml package', (_, text) => {
    expect(parseBlockYaml(text)).toBeUndefined();
  });

  it('gives, for any edit of those texts, either nothing or exactly what the yaml package gives', () => {
    const next = random(20261207);
    const texts = blockStyleTexts();
    let read = 0;
    for (let i = 0; i < 3000; i++) {
      let text = texts[Math.floor(next() * texts.length)]!;
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        const at = Math.floor(next() * text.length);
        const cut = next() < 0.5 ? Math.floor(next() * 4) : 0;
        text = text.slice(0, at) + EDITS[Math.floor(next() * EDITS.length)] + text.slice(at + cut);
      }
      const value = parseBlockYaml(text);
      if (value === undefined) continue;
      read++;
      const expected = byYamlPackage(text);
      expect(expected, text).toBeDefined();
      expect(value, text).toStrictEqual(expected!.value);
    }
    // The edits leave a good share inside the subset: the comparison above is not vacuous.
    expect(read).toBeGreaterThan(300);
  });
});

import { describe, expect, it } from 'vitest';
import { kpki } from '../support/cli.js';

/** Bad input to the live commands: one `kpki:` line naming the flag or file, exit 2, before any connection. */
describe('live command flags', () => {
  const cases: [string[], RegExp][] = [
    [['kubeconfig', 'user', '--client-name', 'a', '--approve'], /^kpki: --approve: needs --via-api/],
    [['kubeconfig', 'user', '--client-name', 'a', '--kubeconfig', 'admin.conf'], /^kpki: --kubeconfig: needs --via-api/],
    [
      ['kubeconfig', 'user', '--via-api', '--client-name', 'a', '--ca-key', 'ca.key', '--kubeconfig', 'admin.conf'],
      /^kpki: --ca-key: cannot be used with --via-api/,
    ],
    [['kubeconfig', 'user', '--via-api', '--client-name', 'a'], /^kpki: --kubeconfig: is required/],
    [['kubeconfig', 'user', '--via-api', '--client-name', 'a', '--kubeconfig', 'missing.conf'], /^kpki: .*missing\.conf/],
    [['kubeconfig', 'admin', '--via-api', '--kubeconfig', 'admin.conf'], /^kpki: --via-api: works for kinds user and node, not "admin"/],
    [
      ['kubeconfig', 'user', '--via-api', '--client-name', 'a', '--validity', '5m', '--kubeconfig', 'admin.conf'],
      /^kpki: --validity: "5m" is not a duration of at least 10m/,
    ],
    [
      ['kubeconfig', 'user', '--via-api', '--client-name', 'a', '--timeout', 'soon', '--kubeconfig', 'admin.conf'],
      /^kpki: --timeout: "soon" is not a positive duration/,
    ],
    [['approve', 'kubelet-client', '--kubeconfig', 'admin.conf'], /^kpki: kind: "kubelet-client" is not kubelet-serving/],
    [['approve', 'kubelet-serving'], /^kpki: --kubeconfig: is required/],
  ];
  it.each(cases)('kpki %j', (args, message) => {
    const r = kpki(args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.status).toBe(2);
  });
});

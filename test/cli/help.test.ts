import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAGS } from '../../src/cli/flags.js';
import { COMMANDS } from '../../src/cli/main.js';
import { DEFAULTS } from '../../src/model/defaults.js';
import { formatDuration, parseDuration } from '../../src/model/duration.js';
import { expectOneLineError, kpki } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const nameOf = (usage: string) => usage.split(' ')[0]!;

/** The Options section of `kpki <command> --help`: flag name → its text, without cac's own -h. */
function helpOptions(command: string): Map<string, string> {
  const help = kpki([command, '--help']);
  expect(help.status, help.stderr).toBe(0);
  const section = help.stdout.split('\n\n').find((s) => s.startsWith('Options:'))!;
  const options = new Map<string, string>();
  for (const line of section.split('\n').slice(1)) {
    const match = /^ {2}--([a-z0-9-]+)(?: <[^>]+>)? {2,}(.*?)\s*$/.exec(line);
    if (match) options.set(match[1]!, match[2]!);
    else expect(line).toMatch(/^ {2}-h, --help /);
  }
  return options;
}

const helps = new Map<string, Map<string, string>>();
const help = { get: (command: string) => helps.get(command) ?? helps.set(command, helpOptions(command)).get(command) };

describe('kpki <command> --help, made from the flag table', () => {
  it.each(COMMANDS.map((c) => [nameOf(c.usage), c] as const))(
    '%s lists exactly the flags it takes, each with its help and default',
    (name, command) => {
      const names = command.flags.map((id) => FLAGS[id].name);
      expect(new Set(names).size, 'two flags of one command share a name').toBe(names.length);
      const shown = help.get(name)!;
      expect([...shown.keys()]).toEqual(names);
      for (const id of command.flags) {
        const flag = FLAGS[id];
        const line = shown.get(flag.name)!;
        expect(line.startsWith(flag.help), `--${flag.name}: ${line}`).toBe(true);
        if (flag.default === undefined) expect(line).not.toContain('(default:');
        else expect(line.endsWith(`(default: ${flag.default})`), `--${flag.name}: ${line}`).toBe(true);
      }
    },
  );

  // The defaults the library applies, as help shows them.
  it.each([
    ['init', 'cert-dir', `./${DEFAULTS.certDir}`],
    ['init', 'profile', DEFAULTS.profile],
    ['init', 'key-type', DEFAULTS.keyType],
    ['init', 'cert-validity', DEFAULTS.certValidity],
    ['init', 'ca-validity', DEFAULTS.caValidity],
    ['init', 'apiserver-bind-port', String(DEFAULTS.bindPort)],
    ['init', 'service-cidr', DEFAULTS.serviceCidr],
    ['init', 'dns-domain', DEFAULTS.dnsDomain],
    ['init', 'cluster-name', DEFAULTS.clusterName],
    ['init', 'nodes-dir', `<kubeconfig dir>/${DEFAULTS.nodesDirName}`],
    ['node', 'role', DEFAULTS.nodeRole],
    ['node', 'kubeconfig-dir', DEFAULTS.clusterDir],
    ['verify', 'cert-dir', `${DEFAULTS.nodeCertDir} if present, else ./${DEFAULTS.certDir}`],
    ['verify', 'warn-within', DEFAULTS.warnWithin],
    ['verify', 'live-timeout', DEFAULTS.liveTimeout],
    ['verify', 'profile', DEFAULTS.profile],
    ['flags', 'cert-dir', DEFAULTS.nodeCertDir],
    ['check-expiration', 'cert-dir', `${DEFAULTS.nodeCertDir} if present, else ./${DEFAULTS.certDir}`],
    ['kubeconfig', 'cert-dir', `./${DEFAULTS.certDir}`],
    ['kubeconfig', 'profile', DEFAULTS.profile],
    ['kubeconfig', 'validity', DEFAULTS.certValidity],
    ['kubeconfig', 'timeout', DEFAULTS.csrTimeout],
    ['cert', 'validity', DEFAULTS.certValidity],
    ['cert', 'api-group', DEFAULTS.apiGroup],
    ['cert', 'api-version', DEFAULTS.apiVersion],
    ['cert', 'ca', `${DEFAULTS.issueCa} for issue, ${DEFAULTS.extensionApiserverCa} for extension-apiserver`],
    ['renew', 'validity', `the cluster's, else ${DEFAULTS.certValidity}`],
    ['renew', 'csr-dir', `<kubeconfig dir>/${DEFAULTS.csrDirName}`],
    ['ca', 'validity', DEFAULTS.caValidity],
    ['ca', 'profile', `the cluster's, else ${DEFAULTS.profile}`],
  ])('%s --%s shows the default %s', (command, flag, value) => {
    expect(help.get(command)!.get(flag)).toMatch(new RegExp(`\\(default: ${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
  });

  it('the defaults shown are the ones init and flags use', () => {
    const dir = tempDir();
    const plan = kpki(['init', '--dry-run', '--node-name', 'cp1', '--advertise-address', '10.0.0.11'], { cwd: dir });
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`Plan for ${DEFAULTS.certDir} and ${dir} (profile ${DEFAULTS.profile})`);
    const days = (text: string) => formatDuration(parseDuration(text)!);
    expect(plan.stdout).toContain(`subject CN=kubernetes, issuer self-signed, key ${DEFAULTS.keyType}, valid ${days(DEFAULTS.caValidity)}`);
    expect(plan.stdout).toContain(`subject CN=kube-apiserver, issuer ca, key ${DEFAULTS.keyType}, valid ${days(DEFAULTS.certValidity)}`);
    expect(plan.stdout).toContain(`kubernetes.default.svc.${DEFAULTS.dnsDomain}, 10.96.0.1,`);

    const flags = kpki(['flags', 'apiserver']).stdout.split('\n');
    expect(flags).toContain(`--tls-cert-file=${path.join(DEFAULTS.nodeCertDir, 'apiserver.crt')}`);
    expect(kpki(['flags', 'scheduler']).stdout).toContain(
      `--kubeconfig=${path.join(path.dirname(DEFAULTS.nodeCertDir), 'scheduler.conf')}`,
    );
  });
});

describe('flags a command does not take, or takes once', () => {
  // For each command, a flag of the table that it does not take: it is unknown there.
  const elsewhere = COMMANDS.map((c) => {
    const own = new Set(c.flags.map((id) => FLAGS[id].name));
    return [nameOf(c.usage), Object.values(FLAGS).find((f) => !own.has(f.name))!.name] as const;
  });

  it.each(elsewhere)("%s --%s (another command's flag) and --bogus-flag fail with exit 2 and one line", (command, flag) => {
    for (const unknown of [flag, 'bogus-flag']) {
      const result = kpki([command, `--${unknown}`, 'x']);
      expect(result.status).toBe(2);
      expectOneLineError(result, `Unknown option \`--${unknown}\``);
    }
  });

  it('a flag that takes one value, given twice, is refused rather than joined', () => {
    const dir = tempDir();
    const result = kpki(['init', '--cert-dir', 'a', '--cert-dir', 'b', '--node-name', 'cp1'], { cwd: dir });
    expect(result.status).toBe(2);
    expectOneLineError(result, '--cert-dir: is given 2 times ("a", "b")', 'give it once');
  });

  it.each([
    [['node', 'add', 'w1', '--address', '10.0.0.21', '--role', 'master'], '--role: "master" is not one of control-plane, worker, etcd'],
    [['verify', '--live-timeout', 'soon'], '--live-timeout: "soon" is not a positive duration'],
    [['init', '--cert-validity', '0h', '--node-name', 'cp1'], '--cert-validity: "0h" is not a positive duration'],
    [['kubeconfig', 'user', '--client-name', 'a', '--key-type', 'dsa'], '--key-type: "dsa" is not supported; use one of rsa-2048'],
  ])('%j is refused by the table with exit 2 and one line', (args, fragment) => {
    const result = kpki(args, { cwd: tempDir() });
    expect(result.status).toBe(2);
    expectOneLineError(result, fragment);
  });
});

describe('kpki kubeconfig --profile', () => {
  it('picks the kinds from the profile given: kubeadm-v1.20 has no super-admin.conf', () => {
    const dir = tempDir();
    expect(kpki(['init', '--key-type', 'ecdsa-p256', '--node-name', 'cp1', '--advertise-address', '10.0.0.11'], { cwd: dir }).status).toBe(
      0,
    );
    const made = kpki(['kubeconfig', 'super-admin', '--out', 'sa.conf'], { cwd: dir });
    expect(made.status, made.stderr).toBe(0);
    const refused = kpki(['kubeconfig', 'super-admin', '--profile', 'kubeadm-v1.20', '--out', 'sa-v120.conf'], { cwd: dir });
    expect(refused.status).toBe(2);
    expectOneLineError(refused, 'kind: "super-admin" is not user, node or one of admin, controller-manager, scheduler, kubelet');
  });

  it('is refused with --via-api, where the cluster decides', () => {
    const result = kpki(['kubeconfig', 'user', '--via-api', '--client-name', 'a', '--kubeconfig', 'admin.conf', '--profile', 'kubeadm']);
    expect(result.status).toBe(2);
    expectOneLineError(result, '--profile: cannot be used with --via-api');
  });
});

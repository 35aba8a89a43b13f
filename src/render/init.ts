import kleur from 'kleur';
import { formatDuration } from '../model/duration.js';
import type { ClusterResult, NodeResult } from '../commands/cluster.js';
import type { InitAction, InitResult } from '../commands/init.js';
import { table } from './table.js';

const ACTION_LABEL: Record<InitAction, string> = {
  create: kleur.green('create'),
  reuse: kleur.dim('reuse'),
  reissue: kleur.yellow('reissue'),
  complete: kleur.cyan('complete'),
  external: kleur.blue('external'),
  copy: kleur.cyan('copy'),
  conflict: kleur.red('conflict'),
  renew: kleur.yellow('renew'),
  csr: kleur.blue('csr'),
};

const PAST_TENSE: Partial<Record<InitAction, string>> = {
  create: kleur.green('created'),
  reuse: kleur.dim('reused'),
  reissue: kleur.yellow('reissued'),
  complete: kleur.cyan('completed'),
  external: kleur.blue('checked'),
  copy: kleur.cyan('copied'),
};

/** The summary of a run: one row per entry, files and what happened to them. */
export function renderInitResult(result: InitResult): string {
  const header = result.dryRun
    ? `Plan for ${result.certDir} and ${result.kubeconfigDir} (profile ${result.profile}); nothing is written:`
    : `PKI in ${result.certDir}, kubeconfigs in ${result.kubeconfigDir} (profile ${result.profile}):`;
  const lines = [header];
  if (result.dryRun) {
    const rows = table(result.items.map((item) => [ACTION_LABEL[item.action], kleur.bold(item.name), item.files.join(', ')])).split('\n');
    for (const [index, item] of result.items.entries()) {
      lines.push(rows[index]!);
      const details = [
        item.subject && `subject ${item.subject}`,
        item.issuer && `issuer ${item.issuer}`,
        item.keyType && `key ${item.keyType}`,
        item.validitySeconds && `valid ${formatDuration(item.validitySeconds)}`,
      ].filter(Boolean);
      if (details.length) lines.push(`    ${details.join(', ')}`);
      if (item.sans?.length) lines.push(`    SANs ${item.sans.join(', ')}`);
      for (const reason of item.reasons) lines.push(`    ${kleur.dim('because')} ${reason}`);
    }
  } else {
    lines.push(table(result.items.map((i) => [`  ${PAST_TENSE[i.action] ?? ACTION_LABEL[i.action]}`, i.name, i.files.join(', ')])));
    if (!result.changed) lines.push(kleur.dim('Everything already matched the settings; no file was changed.'));
  }
  return `${lines.join('\n')}\n`;
}

/** A whole-cluster run: the shared set, then one line per node with what happened to its files. */
export function renderClusterResult(result: ClusterResult): string {
  const lines = [renderInitResult(result.shared).trimEnd(), ''];
  if (result.shared.dryRun) {
    if (!result.nodes.length) lines.push(kleur.dim('Node directories are planned once the shared set above exists.'));
    for (const node of result.nodes)
      lines.push(`${kleur.bold(node.name)} (${node.role}, ${node.addresses.join(', ')}):`, renderInitResult(node.init).trimEnd(), '');
    return `${lines.join('\n')}\n`;
  }
  lines.push('Nodes (copy each <dir>/etc/kubernetes to the machine):');
  const rows = result.nodes.map((node) => {
    const counts = new Map<string, number>();
    for (const item of node.init.items) counts.set(item.action, (counts.get(item.action) ?? 0) + 1);
    const summary = [...counts].map(([action, n]) => `${n} ${PAST_TENSE[action as InitAction] ?? action}`).join(', ');
    return [`  ${kleur.bold(node.name)}`, node.role, node.addresses.join(','), node.dir, summary];
  });
  lines.push(table(rows), '', `etcd servers: ${result.etcdServers.join(',')}`, `cluster record: ${result.record}`);
  return `${lines.join('\n')}\n`;
}

/** `kpki node add`: the node's files and what happened to them. */
export function renderNodeResult(node: NodeResult): string {
  const lines = [`${node.name} (${node.role}, ${node.addresses.join(', ')}) in ${node.dir}:`];
  lines.push(table(node.init.items.map((i) => [`  ${PAST_TENSE[i.action] ?? ACTION_LABEL[i.action]}`, i.name, i.files.join(', ')])));
  return `${lines.join('\n')}\n`;
}

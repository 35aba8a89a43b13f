import { formatDuration } from '../model/duration.js';
import type { ClusterResult, NodeResult } from '../commands/cluster.js';
import type { InitAction, InitResult } from '../commands/init.js';
import { PLAIN, type Styles } from './styles.js';
import { table } from './table.js';

/** The colour each action is shown in; its word is its name, or its PAST_TENSE once done. */
const ACTION_COLOUR: Record<InitAction, keyof Styles> = {
  create: 'green',
  reuse: 'dim',
  reissue: 'yellow',
  complete: 'cyan',
  external: 'blue',
  copy: 'cyan',
  conflict: 'red',
  renew: 'yellow',
  csr: 'blue',
};

const PAST_TENSE: Partial<Record<InitAction, string>> = {
  create: 'created',
  reuse: 'reused',
  reissue: 'reissued',
  complete: 'completed',
  external: 'checked',
  copy: 'copied',
};

const actionLabel = (action: InitAction, style: Styles, word: string = action) => style[ACTION_COLOUR[action]](word);

/** What happened, in the past tense where the action has one. */
const doneLabel = (action: InitAction, style: Styles) => actionLabel(action, style, PAST_TENSE[action]);

/** The summary of a run: one row per entry, files and what happened to them. */
export function renderInitResult(result: InitResult, style: Styles = PLAIN): string {
  const header = result.dryRun
    ? `Plan for ${result.certDir} and ${result.kubeconfigDir} (profile ${result.profile}); nothing is written:`
    : `PKI in ${result.certDir}, kubeconfigs in ${result.kubeconfigDir} (profile ${result.profile}):`;
  const lines = [header];
  if (result.dryRun) {
    const rows = table(result.items.map((item) => [actionLabel(item.action, style), style.bold(item.name), item.files.join(', ')])).split(
      '\n',
    );
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
      for (const reason of item.reasons) lines.push(`    ${style.dim('because')} ${reason}`);
    }
  } else {
    lines.push(table(result.items.map((i) => [`  ${doneLabel(i.action, style)}`, i.name, i.files.join(', ')])));
    if (!result.changed) lines.push(style.dim('Everything already matched the settings; no file was changed.'));
  }
  return `${lines.join('\n')}\n`;
}

/** A whole-cluster run: the shared set, then one line per node with what happened to its files. */
export function renderClusterResult(result: ClusterResult, style: Styles = PLAIN): string {
  const lines = [renderInitResult(result.shared, style).trimEnd(), ''];
  if (result.shared.dryRun) {
    if (!result.nodes.length) lines.push(style.dim('Node directories are planned once the shared set above exists.'));
    for (const node of result.nodes)
      lines.push(
        `${style.bold(node.name)} (${node.role}, ${node.addresses.join(', ')}):`,
        renderInitResult(node.init, style).trimEnd(),
        '',
      );
    return `${lines.join('\n')}\n`;
  }
  lines.push('Nodes (copy each <dir>/etc/kubernetes to the machine):');
  const rows = result.nodes.map((node) => {
    const counts = new Map<string, number>();
    for (const item of node.init.items) counts.set(item.action, (counts.get(item.action) ?? 0) + 1);
    const summary = [...counts].map(([action, n]) => `${n} ${PAST_TENSE[action as InitAction] ?? action}`).join(', ');
    return [`  ${style.bold(node.name)}`, node.role, node.addresses.join(','), node.dir, summary];
  });
  lines.push(table(rows), '', `etcd servers: ${result.etcdServers.join(',')}`, `cluster record: ${result.record}`);
  return `${lines.join('\n')}\n`;
}

/** `kpki node add`: the node's files and what happened to them. */
export function renderNodeResult(node: NodeResult, style: Styles = PLAIN): string {
  const lines = [`${node.name} (${node.role}, ${node.addresses.join(', ')}) in ${node.dir}:`];
  lines.push(table(node.init.items.map((i) => [`  ${doneLabel(i.action, style)}`, i.name, i.files.join(', ')])));
  return `${lines.join('\n')}\n`;
}

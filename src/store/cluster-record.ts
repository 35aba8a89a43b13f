import path from 'node:path';
import { badInput } from '../errors.js';
import type { ClusterRecord } from '../model/topology.js';
import { readOptional, writeFileAtomic } from './files.js';
import { acquireLock } from './lock.js';

export const RECORD_FILE = 'kpki-cluster.json';
/** Guards the record's read-modify-write; a lock of its own, since the PKI's lock is taken inside it. */
const RECORD_LOCK = '.kpki-cluster.lock';
/** Node additions started together queue up rather than fail: each holds the lock for one node's keys. */
const RECORD_WAIT_MS = 10 * 60_000;

/** Runs `update` holding the record's lock. */
export async function withRecordLock<T>(recordFile: string, update: () => Promise<T>): Promise<T> {
  const release = await acquireLock(path.dirname(recordFile), { name: RECORD_LOCK, waitMs: RECORD_WAIT_MS });
  try {
    return await update();
  } finally {
    await release();
  }
}

const RECORD_PATHS = ['certDir', 'kubeconfigDir', 'nodesDir'] as const;

/** Paths are stored relative to the record, so the tree can move and `node add` run from anywhere. */
export function recordText(file: string, record: ClusterRecord): string {
  const settings = { ...record.settings };
  for (const key of RECORD_PATHS) settings[key] = path.relative(path.dirname(path.resolve(file)), path.resolve(settings[key])) || '.';
  return `${JSON.stringify({ ...record, settings }, null, 2)}\n`;
}

export async function writeRecord(file: string, record: ClusterRecord): Promise<void> {
  const text = recordText(file, record);
  if ((await readOptional(file))?.toString() !== text) await writeFileAtomic(file, text, 0o644);
}

/** The record in `file`, or undefined when there is none. */
export async function readRecordIfAny(file: string): Promise<ClusterRecord | undefined> {
  const data = await readOptional(file);
  if (!data) return undefined;
  let record: ClusterRecord;
  try {
    record = JSON.parse(data.toString('utf8')) as ClusterRecord;
  } catch {
    throw badInput(file, 'is not valid JSON', 'restore it from the run that wrote it');
  }
  const valid =
    Array.isArray(record?.nodes) &&
    record.nodes.every((n) => Array.isArray(n?.addresses)) &&
    RECORD_PATHS.every((k) => typeof record.settings?.[k] === 'string');
  if (!valid) throw badInput(file, 'is not a kpki cluster record', 'restore it from the run that wrote it');
  for (const key of RECORD_PATHS) record.settings[key] = path.resolve(path.dirname(file), record.settings[key]);
  return record;
}

export async function readRecord(file: string): Promise<ClusterRecord> {
  const record = await readRecordIfAny(file);
  if (!record)
    throw badInput(
      file,
      'not found',
      'run kpki init --control-plane-nodes … first, or pass --kubeconfig-dir where it wrote kpki-cluster.json',
    );
  return record;
}

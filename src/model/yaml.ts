import { CORE_SCHEMA, dump, loadAll } from 'js-yaml';
import { parseAllDocuments } from 'yaml';

/**
 * YAML data as Kubernetes' Go readers (kubectl, kubelet, client-go, kubeadm) read and write it.
 * js-yaml reads first: cold, as in a `kpki verify`, it takes a fifth of the `yaml` package's time,
 * and where the two read a file differently it mostly sides with Go's reader
 * (test/interop/kubectl-yaml.test.ts). As Go's does, it keeps a repeated key's last value. What
 * js-yaml refuses, the `yaml` package reads: its reading, or its message for the error.
 */

export type YamlData = { ok: true; value: unknown } | { ok: false; error: string };

/** A stream's documents as plain data: those that read, and the first line of the first error. */
export interface YamlStream {
  documents: unknown[];
  error?: string;
}

export function readYamlStream(text: string): YamlStream {
  try {
    return { documents: loadAll(text, undefined, { schema: CORE_SCHEMA, json: true }) };
  } catch {
    const documents: unknown[] = [];
    let error: string | undefined;
    const failed = (problem: Error) => (error ??= problem.message.split('\n')[0]);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) {
        failed(doc.errors[0]!);
        continue;
      }
      try {
        documents.push(doc.toJS());
      } catch (problem) {
        // An alias to no anchor is an error only when the data is made.
        failed(problem as Error);
      }
    }
    return { documents, error };
  }
}

/** A document as plain data (the first of several, as Go reads it), or the first line of the first error. */
export function readYamlDocument(text: string): YamlData {
  const { documents, error } = readYamlStream(text);
  // An empty stream is no document to js-yaml and null to YAML.
  return error === undefined ? { ok: true, value: documents[0] ?? null } : { ok: false, error };
}

/**
 * Plain data as YAML text that Go's YAML 1.1 reader takes back as the same data: every string that
 * reader would take for something else (`on`, `no`, `y`, `2024-01-01`) is quoted, in double quotes
 * as kubeadm's yaml.v2 writes them. Sequences are not indented and long strings (base64 data) stay
 * on one line, as in kubeadm's files.
 */
export function yamlText(value: unknown): string {
  return dump(value, { lineWidth: -1, noArrayIndent: true, quotingType: '"' });
}

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineRule, FindingCode, RULES, verify } from '../../src/index.js';
import { REPO_ROOT } from '../support/tmp.js';
import { base, copy } from '../support/verify-pki.js';

describe('verify: rules over facts, usable from the library', () => {
  it('RULES are named units with their codes; verify runs a rule of your own over the same facts', async () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const rule of RULES) expect(rule.codes.every((c) => Object.values(FindingCode).includes(c))).toBe(true);
    const dir = copy();
    const seen: string[] = [];
    const ownRule = defineRule({
      id: 'ca-count',
      codes: [FindingCode.Unchecked],
      check(facts) {
        seen.push(...[...facts.certificates.keys()].filter((f) => f.endsWith('ca.crt')));
        return [
          {
            code: FindingCode.Unchecked,
            severity: 'info',
            subject: 'ca-count',
            symptom: '',
            diagnosis: `${seen.length} CA files`,
            fix: 'none',
            files: [],
          },
        ];
      },
    });
    const result = await verify({ ...base(dir), rules: [ownRule] });
    expect(result.findings.map((f) => f.diagnosis)).toEqual(['3 CA files']);
    expect(seen.sort()).toEqual(['ca.crt', 'etcd/ca.crt', 'front-proxy-ca.crt'].map((f) => path.join(dir, 'pki', f)));
  });

  it('rules do no I/O: nothing under src/verify/rules imports the file system, the store or the CLI', () => {
    const dir = path.join(REPO_ROOT, 'src/verify/rules');
    for (const file of readdirSync(dir)) {
      const imports = [...readFileSync(path.join(dir, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      expect(
        imports.filter((i) => /node:fs|node:child_process|node:net|\/store\/|\/cli\/|\/commands\/|\.\.\/(read|gather|load)\.js/.test(i)),
        file,
      ).toEqual([]);
    }
  });
});

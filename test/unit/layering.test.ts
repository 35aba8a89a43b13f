import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/tmp.js';
import { parseProfile } from '../../src/model/profile.js';

/**
 * The layering rules of ../shared/architecture.md, checked over every import in src/. Files that
 * still break a rule are listed below, each with who fixes it; an entry that no longer breaks its
 * rule fails the test too, so the lists only shrink.
 */

/** `file → target`, where target is a src/ file or a node: module. */
type Edge = `${string} → ${string}`;

/** Reads of the file system outside store/: none. */
const FILE_SYSTEM_ALLOWED: Edge[] = [];

/** Imports of commands/ from below it: none. */
const COMMANDS_ALLOWED: Edge[] = [];

/** Imports of node:crypto outside pki/ (key types included: pki/keys.ts exports them). */
const CRYPTO_ALLOWED: Edge[] = [];

/** kubeadm file names written as literals outside the profiles and model/, as `file: 'name'`. */
const FILE_NAME_LITERALS_ALLOWED: string[] = [];

/** Imports of the deciding and checking floors from store/ (observed and written files are model/files.ts types): none. */
const STORE_ALLOWED: Edge[] = [];

/** Known import cycles, each as its sorted members: none. */
const CYCLES_ALLOWED: string[][] = [];

const FILE_SYSTEM = new Set(['fs', 'fs/promises']);
const NETWORK = new Set(['http', 'https', 'http2', 'tls', 'dgram', 'dns', 'child_process']);
/** The deciding floors: no I/O, no knowledge of who wires them. */
const PURE = ['src/model/', 'src/pki/', 'src/plan/', 'src/verify/rules/', 'src/verify/inputs/'];
const WIRING = ['src/store/', 'src/commands/', 'src/cli/', 'src/live/', 'src/hsm/'];
/** What store/ reads and writes for: it hands bytes up and takes files down, knowing none of their types. */
const ABOVE_STORE = ['src/verify/', 'src/plan/', 'src/day2/'];
/** The PKCS#11 provider (a native addon) and its module layer: loaded by src/hsm/ only, and only on demand. */
const TOKEN_PROVIDER = new Set(['node-webcrypto-p11', 'graphene-pk11', 'pkcs11js']);

interface Import {
  target: string;
  /** Erased by the compiler: no runtime edge, though still a dependency. */
  typeOnly: boolean;
}

type Modules = Map<string, Import[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(file) : e.name.endsWith('.ts') ? [file] : [];
  });
}

/** A specifier as a src/ path (`src/verify/facts.ts`), a node: module (`node:fs`), or a package name. */
function resolveSpecifier(from: string, specifier: string): string {
  if (!specifier.startsWith('.'))
    return specifier.startsWith('node:') || !/^[a-z_]+(\/promises)?$/.test(specifier) ? specifier : `node:${specifier}`;
  return path.posix.join(path.posix.dirname(from), specifier).replace(/\.js$/, '.ts');
}

/** Every import, re-export and dynamic import() of one file. */
function importsOf(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found: Import[] = [];
  const add = (specifier: ts.Node | undefined, typeOnly: boolean) => {
    if (specifier && ts.isStringLiteral(specifier)) found.push({ target: resolveSpecifier(file, specifier.text), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allTypes = Boolean(
        clause &&
        !clause.name &&
        bindings &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length &&
        bindings.elements.every((e) => e.isTypeOnly),
      );
      add(node.moduleSpecifier, Boolean(clause?.isTypeOnly) || allTypes);
    } else if (ts.isExportDeclaration(node)) {
      const clause = node.exportClause;
      const allTypes = Boolean(clause && ts.isNamedExports(clause) && clause.elements.length && clause.elements.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier, node.isTypeOnly || allTypes);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every file name the kubeadm profiles give (`ca.crt`, `etcd/ca.key`, `sa.pub`, `admin.conf`, …), with and without its directory. */
function kubeadmFileNames(): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync(path.join(REPO_ROOT, 'profiles')).filter((f) => f.endsWith('.yaml'))) {
    const profile = parseProfile(readFileSync(path.join(REPO_ROOT, 'profiles', file), 'utf8'), file);
    const files = [
      ...profile.certificates.flatMap((c) => [`${c.file}.crt`, `${c.file}.key`]),
      ...profile.keyPairs.flatMap((k) => [`${k.file}.key`, `${k.file}.pub`]),
      ...profile.kubeconfigs.map((k) => k.file),
    ];
    for (const name of files) names.add(name).add(path.posix.basename(name));
  }
  return names;
}

/** String literals (and template texts) of src/ outside the profiles and model/ that are a kubeadm file name, as `file: 'name'`. */
function fileNameLiterals(names: Set<string>): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) {
    const name = path.relative(REPO_ROOT, file).split(path.sep).join('/');
    if (under(name, ['src/model/', 'src/profiles/'])) continue;
    const source = ts.createSourceFile(name, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    const visit = (node: ts.Node): void => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && names.has(node.text))
        found.push(`${name}: '${node.text}'`);
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return [...new Set(found)].sort();
}

function readModules(): Modules {
  const modules: Modules = new Map();
  for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) {
    const name = path.relative(REPO_ROOT, file).split(path.sep).join('/');
    modules.set(name, importsOf(name, readFileSync(file, 'utf8')));
  }
  return modules;
}

const under = (file: string, dirs: string[]) => dirs.some((d) => file.startsWith(d));
const edges = (modules: Modules, broken: (file: string, target: string) => boolean): Edge[] =>
  [...modules].flatMap(([file, imports]) => imports.filter((i) => broken(file, i.target)).map((i): Edge => `${file} → ${i.target}`)).sort();

/** Every rule's violations, by rule. */
function violations(
  modules: Modules,
): Record<'fileSystem' | 'network' | 'pure' | 'pkiModel' | 'store' | 'commands' | 'cli' | 'crypto' | 'verifyDay2', Edge[]> {
  const builtin = (target: string) => target.startsWith('node:') && target.slice(5);
  return {
    fileSystem: edges(modules, (file, target) => FILE_SYSTEM.has(builtin(target) || '') && !file.startsWith('src/store/')),
    network: edges(modules, (file, target) => NETWORK.has(builtin(target) || '') && !file.startsWith('src/live/')),
    pure: edges(modules, (file, target) => under(file, PURE) && (under(target, WIRING) || FILE_SYSTEM.has(builtin(target) || ''))),
    pkiModel: edges(modules, (file, target) => file.startsWith('src/pki/') && target.startsWith('src/model/')),
    store: edges(modules, (file, target) => file.startsWith('src/store/') && under(target, ABOVE_STORE)),
    // render/ shows what a command returns: it knows the result types.
    commands: edges(
      modules,
      (file, target) => target.startsWith('src/commands/') && !under(file, ['src/commands/', 'src/cli/', 'src/render/', 'src/index.ts']),
    ),
    cli: edges(modules, (file, target) => target.startsWith('src/cli/') && !file.startsWith('src/cli/')),
    // Keys and certificates are pki's: every other floor names them through pki/ (key types too).
    crypto: edges(modules, (file, target) => target === 'node:crypto' && !file.startsWith('src/pki/')),
    // Verify reads a rotation's facts from model/ (its record, file names); day 2's deciding and wiring are not its business.
    verifyDay2: edges(
      modules,
      (file, target) => file.startsWith('src/verify/') && (target.startsWith('src/plan/') || target.startsWith('src/commands/')),
    ),
  };
}

/** Strongly connected components of the runtime (non-type) imports among src/ modules, of two or more. */
function cycles(modules: Modules): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const { target, typeOnly } of modules.get(file) ?? []) {
      if (typeOnly || !modules.has(target)) continue;
      if (!index.has(target)) {
        connect(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1) found.push(component.sort());
  };
  for (const file of modules.keys()) if (!index.has(file)) connect(file);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** What a rule finds is exactly its allowed list: nothing new, and no entry left that no longer breaks it. */
function expectOnlyAllowed(found: string[], allowed: string[]): void {
  expect(found.filter((e) => !allowed.includes(e))).toEqual([]);
  expect(allowed.filter((e) => !found.includes(e))).toEqual([]);
}

describe('layering', () => {
  const modules = readModules();
  const found = violations(modules);

  it('reads every import of src/: static, type-only, re-exports and dynamic import()', () => {
    expect(modules.size).toBeGreaterThan(50);
    const of = (file: string) => modules.get(file)!.map((i) => `${i.target}${i.typeOnly ? ' (type)' : ''}`);
    expect(of('src/store/files.ts')).toContain('node:fs');
    expect(of('src/verify/load.ts')).toContain('src/store/bounded-read.ts (type)');
    expect(of('src/index.ts')).toContain('src/commands/init.ts');
    expect(of('src/commands/init.ts')).toContain('src/config/kubeadm.ts');
    expect(of('src/live/client.ts')).toContain('@kubernetes/client-node');
  });

  it('the rules catch what breaks them, and find cycles through re-exports and dynamic imports', () => {
    const fake: Modules = new Map([
      [
        'src/model/bad.ts',
        [
          { target: 'node:fs', typeOnly: false },
          { target: 'src/store/files.ts', typeOnly: true },
        ],
      ],
      [
        'src/pki/bad.ts',
        [
          { target: 'src/model/profile.ts', typeOnly: true },
          { target: 'node:https', typeOnly: false },
        ],
      ],
      [
        'src/verify/bad.ts',
        [
          { target: 'src/commands/verify.ts', typeOnly: false },
          { target: 'src/cli/main.ts', typeOnly: false },
        ],
      ],
      ['src/commands/verify.ts', [{ target: 'src/verify/bad.ts', typeOnly: false }]],
      ['src/cli/main.ts', [{ target: 'src/verify/bad.ts', typeOnly: true }]],
      [
        'src/verify/rules/bad.ts',
        [
          { target: 'node:crypto', typeOnly: true },
          { target: 'src/plan/rotation.ts', typeOnly: true },
        ],
      ],
      [
        'src/store/bad.ts',
        [
          { target: 'src/verify/inputs/args.ts', typeOnly: true },
          { target: 'src/day2/rotate.ts', typeOnly: false },
          { target: 'src/errors.ts', typeOnly: false },
        ],
      ],
    ]);
    expect(violations(fake)).toEqual({
      fileSystem: ['src/model/bad.ts → node:fs'],
      network: ['src/pki/bad.ts → node:https'],
      pure: ['src/model/bad.ts → node:fs', 'src/model/bad.ts → src/store/files.ts'],
      pkiModel: ['src/pki/bad.ts → src/model/profile.ts'],
      store: ['src/store/bad.ts → src/day2/rotate.ts', 'src/store/bad.ts → src/verify/inputs/args.ts'],
      commands: ['src/verify/bad.ts → src/commands/verify.ts'],
      cli: ['src/verify/bad.ts → src/cli/main.ts'],
      crypto: ['src/verify/rules/bad.ts → node:crypto'],
      verifyDay2: ['src/verify/bad.ts → src/commands/verify.ts', 'src/verify/rules/bad.ts → src/plan/rotation.ts'],
    });
    // The type-only edge back from cli/ is no runtime cycle.
    expect(cycles(fake)).toEqual([['src/commands/verify.ts', 'src/verify/bad.ts']]);
  });

  it('only store/ imports the file system', () => {
    expectOnlyAllowed(found.fileSystem, FILE_SYSTEM_ALLOWED);
  });

  it('only live/ talks to the network', () => {
    expect(found.network).toEqual([]);
  });

  it('model, pki, plan, verify rules and input parsers import nothing from store, commands, cli, live or the file system', () => {
    expect(found.pure).toEqual([]);
  });

  it('verify, inspect and kubeconfig are handed what store reads: no runtime import of store/', () => {
    const reads = edges(
      modules,
      (file, target) => under(file, ['src/verify/', 'src/inspect/', 'src/kubeconfig/']) && target.startsWith('src/store/'),
    );
    const typeOnly = new Set(
      [...modules].flatMap(([file, imports]) => imports.filter((i) => i.typeOnly).map((i) => `${file} → ${i.target}`)),
    );
    expect(reads.filter((e) => !typeOnly.has(e))).toEqual([]);
  });

  it('pki imports nothing from model', () => {
    expect(found.pkiModel).toEqual([]);
  });

  it('store imports nothing from verify, plan or day2, types included', () => {
    expect(found.store.filter((e) => !STORE_ALLOWED.includes(e))).toEqual([]);
    expect(STORE_ALLOWED.filter((e) => !found.store.includes(e))).toEqual([]);
  });

  it('commands/ is imported only by cli/, render/ and the library root; cli/ by nothing else', () => {
    expectOnlyAllowed(found.commands, COMMANDS_ALLOWED);
    expect(found.cli).toEqual([]);
  });

  it('only pki/ imports node:crypto, types included', () => {
    expectOnlyAllowed(found.crypto, CRYPTO_ALLOWED);
  });

  it('verify imports nothing of day 2 (plan/, commands/): what it knows of a rotation comes from model/', () => {
    expect(found.verifyDay2).toEqual([]);
  });

  it('kubeadm file names (sa.key, admin.conf, ca.crt, …) are written only in the profiles and model/', () => {
    const names = kubeadmFileNames();
    expect([...names]).toEqual(
      expect.arrayContaining(['sa.key', 'sa.pub', 'admin.conf', 'super-admin.conf', 'ca.crt', 'etcd/ca.crt', 'kubelet.conf']),
    );
    expectOnlyAllowed(fileNameLiterals(names), FILE_NAME_LITERALS_ALLOWED);
  });

  it('only src/hsm/ loads the PKCS#11 provider, and it is reached only through a dynamic import()', () => {
    const runtime = (file: string) => (modules.get(file) ?? []).filter((i) => !i.typeOnly);
    expect(edges(modules, (file, target) => TOKEN_PROVIDER.has(target) && !file.startsWith('src/hsm/'))).toEqual([]);
    expect(runtime('src/hsm/token.ts').map((i) => i.target)).toContain('node-webcrypto-p11');
    // Static imports of src/hsm/ would load it (and the addon) with every command.
    const staticHsm = [...modules].flatMap(([file]) => {
      const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
      return /^import [^;]*from '[^']*\/hsm\/[^']*';/m.test(text) && !/^import type [^;]*\/hsm\//m.test(text) ? [file] : [];
    });
    expect(staticHsm.filter((f) => !f.startsWith('src/hsm/'))).toEqual([]);
  });

  it('src/ has no import cycles', () => {
    expect(cycles(modules)).toEqual(CYCLES_ALLOWED);
  });
});

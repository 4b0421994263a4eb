import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The house's shape, read from the code itself: the import graph of the product folders (type imports included, which
 * ESLint's no-cycle rule skips), which floor may import which, and how long a function may grow.
 */
const root = path.resolve(__dirname, '..', '..');
const PRODUCT = ['model', 'workflows', 'activities', 'client', 'lib', 'worker', 'demo'];
const MAX_FUNCTION_LINES = 80;

interface Edge {
  to: string;
  typeOnly: boolean;
}

const sources = PRODUCT.flatMap((dir) => walk(path.join(root, dir)));
const parsed = new Map(sources.map((f) => [f, parse(f)]));
const graph = new Map(sources.map((f) => [f, importsOf(f, parsed.get(f)!)]));

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** The project file a relative specifier names, or undefined (a package). */
function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
}

/** Every relative import and re-export of a file, with whether it carries types only. */
function importsOf(file: string, sf: ts.SourceFile): Edge[] {
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const to = resolve(file, spec);
    if (to) edges.push({ to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : undefined;
      const allTypes =
        !!named && !clause?.name && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier.text, !!clause?.isTypeOnly || allTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || node.expression.getText(sf) === 'require') &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

const rel = (f: string) => path.relative(root, f);
const folderOf = (f: string) => rel(f).split(path.sep)[0]!;

/** Files that import each other in a loop (Tarjan's strongly connected components of more than one file). */
function loops(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!graph.has(to)) continue;
      if (!idx.has(to)) {
        connect(to);
        low.set(v, Math.min(low.get(v)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(v, Math.min(low.get(v)!, idx.get(to)!));
    }
    if (low.get(v) !== idx.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(rel(w));
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.some((e) => e.to === v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) connect(v);
  return found;
}

/** What other folders may take from `workflows/` at run time: the message definitions and the workflow functions. */
const WORKFLOW_FACES = ['definitions.ts', 'index.ts', 'migration.ts', 'rollback.ts', 'scheduled-job.ts'].map((f) =>
  path.join(root, 'workflows', f),
);

describe('the house', () => {
  test('reads every product folder', () => {
    expect(sources.length).toBeGreaterThan(80);
    expect(new Set(sources.map(folderOf))).toEqual(new Set(PRODUCT));
  });

  test('has no import loop, type imports included', () => {
    expect(loops()).toEqual([]);
  });

  test('model/ is the ground floor: it imports nothing of ours outside model/, not even types', () => {
    const up = [...graph]
      .filter(([f]) => folderOf(f) === 'model')
      .flatMap(([f, edges]) => edges.filter((e) => folderOf(e.to) !== 'model').map((e) => `${rel(f)} -> ${rel(e.to)}`));
    expect(up).toEqual([]);
  });

  test('workflows/ is imported by other folders only for its definitions, its workflow functions and types', () => {
    const reaching = [...graph]
      .filter(([f]) => folderOf(f) !== 'workflows')
      .flatMap(([f, edges]) =>
        edges
          .filter((e) => folderOf(e.to) === 'workflows' && !e.typeOnly && !WORKFLOW_FACES.includes(e.to))
          .map((e) => `${rel(f)} -> ${rel(e.to)}`),
      );
    expect(reaching).toEqual([]);
  });

  test('workflows/ imports other folders than model/ as types only', () => {
    const outward = [...graph]
      .filter(([f]) => folderOf(f) === 'workflows')
      .flatMap(([f, edges]) =>
        edges
          .filter((e) => !['workflows', 'model'].includes(folderOf(e.to)) && !e.typeOnly)
          .map((e) => `${rel(f)} -> ${rel(e.to)}`),
      );
    expect(outward).toEqual([]);
  });

  test(`no function in the product folders is over ${MAX_FUNCTION_LINES} lines`, () => {
    const long: string[] = [];
    for (const [file, sf] of parsed) {
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
          const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
          if (last - first + 1 > MAX_FUNCTION_LINES) long.push(`${rel(file)}:${first + 1} (${last - first + 1} lines)`);
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
    expect(long).toEqual([]);
  });
});

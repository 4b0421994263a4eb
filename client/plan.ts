import fs from 'node:fs';
import path from 'node:path';
import YAML, { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, type Document } from 'yaml';
import type { Plan } from '../model/plan';
import { issuePath, parsePlan, type SchemaIssue } from '../model/plan-schema';

export { parseDuration } from '../model/plan-schema';

/** One problem in a plan: the field's path and what was expected; read from a file, also where (1-based). */
export interface PlanIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A plan that does not validate; `issues` names every field that is wrong. */
export class PlanValidationError extends Error {
  constructor(
    readonly file: string,
    readonly issues: PlanIssue[],
  ) {
    super(
      `plan ${file} is not valid:\n${issues.map((i) => `  - ${where(file, i)}${i.path}: ${i.message}`).join('\n')}`,
    );
    this.name = 'PlanValidationError';
  }
}

function where(file: string, i: PlanIssue): string {
  return i.line === undefined ? '' : `${file}:${i.line}:${i.column} `;
}

/** Validates a parsed plan document; throws `PlanValidationError` naming every wrong field. */
export function validatePlan(doc: unknown, file = '<plan>', baseDir = process.cwd()): Plan {
  return checked(doc, file, baseDir, (i) => ({ path: issuePath(i.keys), message: i.message }));
}

function checked(doc: unknown, file: string, baseDir: string, toIssue: (i: SchemaIssue) => PlanIssue): Plan {
  const result = parsePlan(doc, {
    resolvePath: (p) => path.resolve(baseDir, p),
    readFile: (p) => fs.readFileSync(p, 'utf8'),
  });
  if (!result.success) throw new PlanValidationError(file, result.issues.map(toIssue));
  return result.plan;
}

/** Reads and validates a YAML plan file; relative paths in it are resolved against the file's folder. */
export function loadPlan(file: string): Plan {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanValidationError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  const lineCounter = new LineCounter();
  const yaml = YAML.parseDocument(text, { uniqueKeys: true, lineCounter });
  if (yaml.errors.length > 0) {
    throw new PlanValidationError(file, [{ path: '', message: `not valid YAML: ${yaml.errors[0]!.message}` }]);
  }
  for (const warning of yaml.warnings) process.emitWarning(warning);
  return checked(yaml.toJS(), file, path.dirname(path.resolve(file)), (i) => {
    const { line, col } = lineCounter.linePos(offsetOf(yaml, i));
    return { path: issuePath(i.keys), message: i.message, line, column: col };
  });
}

/**
 * Where an issue is in the file: its node, or its key when the key is the problem; for a field that is missing, the
 * mapping it is missing from (the deepest node on the issue's path that exists).
 */
function offsetOf(yaml: Document, issue: SchemaIssue): number {
  let node: unknown = yaml.contents;
  let offset = startOf(node) ?? 0;
  for (const [n, key] of issue.keys.entries()) {
    if (isAlias(node)) node = node.resolve(yaml);
    const pair = isMap(node)
      ? node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key))
      : undefined;
    if (pair && issue.at === 'key' && n === issue.keys.length - 1) return startOf(pair.key) ?? offset;
    node = pair ? pair.value : isSeq(node) && typeof key === 'number' ? node.items[key] : undefined;
    const start = startOf(node);
    if (start === undefined) break;
    offset = start;
  }
  return offset;
}

const startOf = (node: unknown): number | undefined => (isNode(node) ? node.range?.[0] : undefined);

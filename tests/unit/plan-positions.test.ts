import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlan, type PlanIssue, PlanValidationError } from '../../client/plan';

const demoText = fs.readFileSync(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'), 'utf8');

/** Loads `text` from a temporary plan file and returns the error it is refused with. */
function refusal(text: string): { file: string; error: PlanValidationError } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mo-plan-')), 'plan.yaml');
  fs.writeFileSync(file, text);
  try {
    loadPlan(file);
  } catch (err) {
    if (err instanceof PlanValidationError) return { file, error: err };
    throw err;
  }
  throw new Error('the plan was accepted');
}

/** 1-based line and column of `needle` in the line of `text` that starts with `lineStart`. */
function at(text: string, lineStart: string, needle: string): { line: number; column: number } {
  const lines = text.split('\n');
  const index = lines.findIndex((l) => l.startsWith(lineStart));
  if (index < 0) throw new Error(`no line starts with ${JSON.stringify(lineStart)}`);
  return { line: index + 1, column: lines[index]!.indexOf(needle) + 1 };
}

describe('plan issues from a YAML file', () => {
  const text = demoText
    .replace('  bake: 4s\n', '  bake: soon\n')
    .replace('  composeProject: mo-demo-unified\n', '  composeProject: mo-demo-unified\n  databaseURL: x\n')
    .replace('  minMatchRatio: 1.0\n', '')
    .replace('  steps: [10, 25, 50, 100]\n', '  steps: [10, 50, 25, 100]\n')
    .concat('\nsoak:\n  onFailure: rollback\n  password: hunter2\n');
  const { file, error } = refusal(text);
  const issue = (p: string): PlanIssue | undefined => error.issues.find((i) => i.path === p);

  it('point at the offending value', () => {
    expect(issue('durations.bake')).toEqual({
      path: 'durations.bake',
      message: 'expected a duration such as 90s, 2h or 7d, got the string "soon"',
      ...at(text, '  bake: soon', 'soon'),
    });
    expect(issue('traffic.steps[2]')).toMatchObject(at(text, '  steps: [10, 50, 25', '25'));
  });

  it('point at the key of an unknown or secret-named field', () => {
    expect(issue('target.databaseURL')).toMatchObject({
      message: expect.stringContaining('unknown field (allowed here: databaseUrlEnv, repository'),
      ...at(text, '  databaseURL', 'databaseURL'),
    });
    const secret = error.issues.filter((i) => i.path === 'soak.password');
    expect(secret.map((i) => i.message)).toEqual([
      expect.stringContaining('unknown field'),
      expect.stringContaining('a secret written in the plan'),
    ]);
    for (const i of secret) expect(i).toMatchObject(at(text, '  password: hunter2', 'password'));
  });

  it('point at the mapping a missing field is missing from', () => {
    expect(issue('parallelRun.minMatchRatio')).toEqual({
      path: 'parallelRun.minMatchRatio',
      message: 'is required',
      ...at(text, '  comparisonSql:', 'comparisonSql'),
    });
  });

  it('are listed as file:line:column in the message', () => {
    const { line, column } = at(text, '  bake: soon', 'soon');
    expect(error.message).toContain(
      `  - ${file}:${line}:${column} durations.bake: expected a duration such as 90s, 2h or 7d, got the string "soon"`,
    );
    expect(error.message.split('\n')[0]).toBe(`plan ${file} is not valid:`);
  });

  it('place a document that is not a mapping at its start', () => {
    const { error: list } = refusal('# a plan\n- name: x\n');
    expect(list.issues).toEqual([{ path: '', message: 'expected a mapping, got a list', line: 2, column: 1 }]);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import YAML from 'yaml';
import { loadPlan, PlanValidationError, validatePlan } from '../../client/plan';
import { planJsonSchema } from '../../workflows/plan-schema';
import { PLAN_SCHEMA_FILE } from '../../scripts/plan-schema';

const plansDir = path.join(__dirname, '..', '..', 'plans');
const SHIPPED = ['demo.yaml', 'demo-hand-written.yaml', 'production.example.yaml'];
const readPlan = (file: string) =>
  YAML.parse(fs.readFileSync(path.join(plansDir, file), 'utf8')) as Record<string, any>;

describe('the plan JSON Schema', () => {
  it('is what the schema generates now', () => {
    const committed: unknown = JSON.parse(fs.readFileSync(PLAN_SCHEMA_FILE, 'utf8'));
    // Compared as text, so the order of the fields (the order editors offer them in) counts too.
    if (JSON.stringify(committed) !== JSON.stringify(planJsonSchema()))
      throw new Error('plans/plan.schema.json differs from workflows/plan-schema.ts: run `npm run plan-schema`');
  });

  it('is named on the first line of each shipped plan', () => {
    for (const file of SHIPPED) {
      const first = fs.readFileSync(path.join(plansDir, file), 'utf8').split('\n')[0];
      expect([file, first]).toEqual([file, '# yaml-language-server: $schema=./plan.schema.json']);
    }
  });

  // ajv 6 (installed for ESLint) validates draft-07, the draft the schema is generated for.
  const schema = JSON.parse(fs.readFileSync(PLAN_SCHEMA_FILE, 'utf8')) as object;
  const validate = new Ajv({ allErrors: true }).compile(schema);

  it('accepts both shipped plans', () => {
    for (const file of SHIPPED) {
      validate(readPlan(file));
      expect([file, validate.errors ?? []]).toEqual([file, []]);
    }
  });

  it('refuses an unknown field, a missing section and a malformed duration', () => {
    const doc = readPlan('demo.yaml');
    doc.rollout = {};
    delete doc.rollback;
    doc.durations.bake = 'soon';
    expect(validate(doc)).toBe(false);
    expect(validate.errors?.map((e) => `${e.dataPath} ${e.keyword}`)).toEqual(
      expect.arrayContaining([' additionalProperties', ' required', '.durations.bake pattern']),
    );
  });
});

describe('the normalised plan', () => {
  const demo = loadPlan(path.join(plansDir, 'demo.yaml'));
  const prod = loadPlan(path.join(plansDir, 'production.example.yaml'));

  it('has the fields in the order the workflow has always been given them', () => {
    expect(Object.keys(prod)).toEqual([
      'name',
      'description',
      'target',
      'legacyJobs',
      'unifiedJob',
      'scheduler',
      'traffic',
      'parallelRun',
      'metrics',
      'preflight',
      'durations',
      'approvals',
      'soak',
      'notifications',
      'archive',
      'rollback',
      'ledger',
      'successMetrics',
    ]);
  });

  it('folds check sources into `measure` and keeps only the optional fields that are set', () => {
    expect(prod.metrics[0]).toEqual({
      name: 'error-rate',
      op: '<=',
      threshold: 0.01,
      measure: { kind: 'sql', query: expect.stringContaining('count(*) from item_runs') },
      description: 'Error rate of the unified pipeline',
      failureLimit: 0,
      consecutiveFailureLimit: 0,
      inconclusiveLimit: 2,
      minSamples: 100,
    });
    expect(prod.metrics[4]!.dryRun).toBe(true);
    expect('dryRun' in prod.metrics[1]!).toBe(false);
    expect(demo.metrics[0]).toMatchObject({ failureLimit: 0, consecutiveFailureLimit: 0 });
    expect(prod.preflight[0]!.measure).toEqual({
      kind: 'command',
      command: ['/usr/local/bin/unified-pipeline', 'test', '--coverage'],
      pattern: 'coverage: ([0-9.]+)%',
      timeoutMs: 1_800_000,
    });
    expect(prod.parallelRun).toEqual({
      comparisonQuery: expect.stringContaining('as matched'),
      mismatchQuery: expect.stringContaining('l.quality_score <> s.quality_score'),
      minMatchRatio: 1,
    });
  });

  it('turns gate roles and durations into their normalised form', () => {
    expect(prod.approvals.gates.go).toEqual({
      roles: [{ role: 'technical-lead' }, { role: 'engineering-manager' }],
      timeoutMs: 3 * 86_400_000,
      onTimeout: 'notify-and-wait',
      remindEveryMs: 12 * 3_600_000,
    });
    expect(Object.keys(prod.approvals.gates)).toEqual(['go', 'cutover', 'sign-off']);
    expect(demo.approvals.gates.cutover).toEqual({
      roles: [{ role: 'technical-lead' }, { role: 'product-owner' }],
      timeoutMs: 600_000,
      onTimeout: 'notify-and-wait',
    });
    expect(prod.rollback.budgetMs).toBe(300_000);
    expect(demo.rollback.budgetMs).toBe(60_000);
  });

  it('resolves worker paths against the plan file and fills in the defaults', () => {
    const container = demo.unifiedJob.containers[0]!;
    expect(container.mounts).toEqual({
      [path.join(plansDir, '..', 'demo', 'system')]: '/app',
      [path.join(plansDir, '..', 'node_modules')]: '/node_modules',
    });
    expect(demo.target.backupDir).toBe(path.join(plansDir, '..', '.stack', 'demo', 'backups'));
    expect(demo.ledger).toEqual({ databaseUrlEnv: 'DEMO_DATABASE_URL', table: 'migration_ledger' });
    expect(demo.notifications).toEqual({});
    expect(demo.soak).toEqual({ onFailure: 'rollback' });
    expect(demo.archive).toEqual({ docs: ['docs/operations.md'], reason: expect.stringContaining('demo migration') });
  });

  it('gives a plan that leaves everything optional out the documented defaults', () => {
    const doc = readPlan('demo.yaml');
    for (const key of ['scheduler', 'soak', 'notifications', 'archive', 'successMetrics', 'ledger']) delete doc[key];
    doc.traffic = {};
    delete doc.rollback.budget;
    delete doc.approvals.separationOfDuties;
    delete doc.approvals.keysFile;
    delete doc.approvals.gates.go.timeout;
    doc.approvals.gates.go.roles = [
      { role: 'technical-lead', approvers: ['tina', 'tom'], required: 2 },
      { role: 'engineering-manager', required: 1 },
    ];
    doc.legacyJobs[0].script = './scripts//legacy/../legacy/batch_scorer.js';
    const plan = validatePlan(doc, 'plan.yaml', plansDir);
    expect(plan.scheduler).toEqual({ kind: 'crontab' });
    expect(plan.traffic).toEqual({ router: { kind: 'table', table: 'migration_routing' }, steps: [10, 25, 50, 100] });
    expect(plan.approvals.separationOfDuties).toBe(true);
    expect(plan.approvals.gates.go).toEqual({
      roles: [{ role: 'technical-lead', approvers: ['tina', 'tom'], required: 2 }, { role: 'engineering-manager' }],
      timeoutMs: 7 * 86_400_000,
      onTimeout: 'notify-and-wait',
    });
    expect(plan.soak).toEqual({ onFailure: 'rollback' });
    expect(plan.notifications).toEqual({});
    expect(plan.archive).toEqual({ docs: [], reason: 'Replaced by the unified pipeline' });
    expect(plan.rollback.budgetMs).toBe(300_000);
    expect(plan.successMetrics).toEqual([]);
    expect(plan.ledger).toEqual({ databaseUrlEnv: 'DEMO_DATABASE_URL', table: 'migration_ledger' });
    expect(plan.legacyJobs[0]!.script).toBe('scripts/legacy/batch_scorer.js');
  });

  it('applies every rule even when fields elsewhere fail (all problems at once)', () => {
    const doc = readPlan('demo.yaml');
    doc.traffic.steps = [1.5, 50, 25, 100]; // zod's own integer check would stop the rules around it
    doc.durations.bake = 'soon';
    doc.description = 'see mysql://root:pw@db/prod';
    doc.metrics[1].name = doc.metrics[0].name;
    doc.unifiedJob.name = doc.legacyJobs[0].name;
    let issues: { path: string; message: string }[] = [];
    try {
      validatePlan(doc, 'plan.yaml', plansDir);
    } catch (err) {
      if (!(err instanceof PlanValidationError)) throw err;
      issues = err.issues;
    }
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual(
      expect.arrayContaining([
        'traffic.steps[0]: expected a whole number, got 1.5',
        'traffic.steps[2]: expected steps to increase, got 25 after 50',
        'durations.bake: expected a duration such as 90s, 2h or 7d, got the string "soon"',
        expect.stringMatching(/^description: contains a URL with credentials/),
        'metrics[1].name: duplicate name "error-rate"',
        'unifiedJob.name: duplicate job name "batch-scorer" (also a legacy job)',
      ]),
    );
  });

  it('finds legacy jobs by line, match or schedule ID, each with its own scheduler, one way at a time', () => {
    const plan = loadPlan(path.join(plansDir, 'demo-hand-written.yaml'));
    expect(plan.legacyJobs.map((j) => j.match)).toEqual([
      'node scripts/legacy/batch_scorer.js',
      '/node (scripts\\/)?legacy\\/api_ingest_trust\\.js/',
    ]);
    const doc = readPlan('demo.yaml');
    doc.legacyJobs[0].line = '  * * * * * cd /srv && ./run.sh  ';
    doc.legacyJobs[0].match = 'run.sh';
    doc.legacyJobs[1].match = '/unclosed(/';
    doc.legacyJobs[1].scheduleId = 'nightly-scoring';
    let issues: string[] = [];
    try {
      validatePlan(doc, 'plan.yaml', plansDir);
    } catch (err) {
      if (!(err instanceof PlanValidationError)) throw err;
      issues = err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    expect(issues).toEqual([
      'legacyJobs[0].match: give either line or match, not both',
      'legacyJobs[1].match: expected a valid regular expression between the slashes',
      'legacyJobs[1].scheduleId: only with scheduler kind temporal-schedule',
    ]);
    delete doc.legacyJobs[0].match;
    delete doc.legacyJobs[1].match;
    delete doc.legacyJobs[1].scheduleId;
    // The whole line is kept as written, but for the blanks around it.
    expect(validatePlan(doc, 'plan.yaml', plansDir).legacyJobs[0]!.line).toBe('* * * * * cd /srv && ./run.sh');
  });

  it('reports issues of an already parsed plan without a position', () => {
    const doc = readPlan('demo.yaml');
    doc.durations.bake = 'soon';
    try {
      validatePlan(doc, 'plan.yaml', plansDir);
      throw new Error('the plan was accepted');
    } catch (err) {
      if (!(err instanceof PlanValidationError)) throw err;
      expect(err.issues.map((i) => Object.keys(i))).toEqual([['path', 'message']]);
      expect(err.message).toBe(
        'plan plan.yaml is not valid:\n  - durations.bake: expected a duration such as 90s, 2h or 7d, got the string "soon"',
      );
    }
  });
});

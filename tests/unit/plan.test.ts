import fs from 'node:fs';
import path from 'node:path';
import { loadPlan, parseDuration, PlanValidationError } from '../../client/plan';
import { recordFaults } from '../helpers/fault-summary';
import { demoDoc, planIssues, PLANS } from '../helpers/plan-doc';

const planFile = path.join(PLANS, 'demo.yaml');
const base = demoDoc;

/** Validates a mutated copy of the demo plan and returns the issues (none: the plan was accepted). */
function issuesOf(mutate: (p: Record<string, any>) => void): { path: string; message: string }[] {
  const doc = base();
  mutate(doc);
  return planIssues(doc);
}

describe('plan validation', () => {
  it('accepts both shipped plans and resolves their paths and durations', () => {
    const demo = loadPlan(planFile);
    expect(demo.durations.soakIntervalMs).toBe(3000);
    expect(path.isAbsolute(demo.target.repository)).toBe(true);
    expect(demo.legacyJobs[0]!.command[1]).toBe(path.join(demo.target.repository, 'scripts/legacy/batch_scorer.js'));
    const prod = loadPlan(path.join(__dirname, '..', '..', 'plans', 'production.example.yaml'));
    expect(prod.durations).toEqual({
      parallelRunMs: 86_400_000,
      bakeMs: 8 * 3_600_000,
      monitoringWindowMs: 7_200_000,
      soakMs: 7 * 86_400_000,
      soakIntervalMs: 86_400_000,
    });
    expect(prod.traffic.steps).toEqual([10, 25, 50, 100]);
    expect(prod.approvals.gates['sign-off'].roles.map((r) => r.role)).toEqual([
      'technical-lead',
      'product-owner',
      'engineering-manager',
      'stakeholder',
    ]);
  });

  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('7 days')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  // [case, mutation, field path, message fragment]
  const cases: [string, (p: Record<string, any>) => void, string, string][] = [
    ['missing name', (p) => delete p.name, 'name', 'is required'],
    ['name of the wrong type', (p) => (p.name = 42), 'name', 'expected a migration name'],
    ['unknown top-level field', (p) => (p.rollout = {}), 'rollout', 'unknown field'],
    ['unknown nested field', (p) => (p.target.databaseURL = 'x'), 'target.databaseURL', 'unknown field'],
    ['missing target', (p) => delete p.target, 'target', 'is required'],
    [
      'database URL written inline',
      (p) => (p.target.databaseUrlEnv = 'postgres://app:s3cret@db:5432/prod'),
      'target.databaseUrlEnv',
      'secrets are never written',
    ],
    [
      'env name in lower case',
      (p) => (p.target.databaseUrlEnv = 'demo_url'),
      'target.databaseUrlEnv',
      'name of an environment variable',
    ],
    [
      'password field in the plan',
      (p) => (p.notifications = { webhook: { urlEnv: 'HOOK', password: 'x' } }),
      'notifications.webhook.password',
      'secret written in the plan',
    ],
    [
      'token URL inline in a check',
      (p) => (p.preflight[0].http = 'https://user:pw@example.com/x'),
      'preflight[0].http',
      'URL with credentials',
    ],
    [
      'AWS secret key written in a container env',
      (p) => (p.unifiedJob.containers[0].env = { AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI' }),
      'unifiedJob.containers[0].env.AWS_SECRET_ACCESS_KEY',
      'secret written in the plan',
    ],
    [
      'redis URL with a password and no user',
      (p) => (p.preflight[0].http = 'redis://:pw@cache:6379'),
      'preflight[0].http',
      'URL with credentials',
    ],
    [
      'api_key in a check URL',
      (p) => (p.preflight[0].http = 'https://metrics.example.com/q?api_key=abc123'),
      'preflight[0].http',
      'token-like query parameter',
    ],
    ['zero duration', (p) => (p.durations.bake = '0s'), 'durations.bake', 'greater than zero'],
    ['negative duration', (p) => (p.durations.soak = '-1d'), 'durations.soak', 'expected a duration'],
    ['duration as a number', (p) => (p.durations.parallelRun = 3600), 'durations.parallelRun', 'expected a duration'],
    [
      'soak interval longer than the soak',
      (p) => (p.durations.soakInterval = '1h'),
      'durations.soakInterval',
      'no longer than durations.soak',
    ],
    ['missing duration', (p) => delete p.durations.monitoringWindow, 'durations.monitoringWindow', 'is required'],
    [
      'steps not increasing',
      (p) => (p.traffic.steps = [10, 50, 25, 100]),
      'traffic.steps[2]',
      'expected steps to increase',
    ],
    ['step over 100', (p) => (p.traffic.steps = [10, 50, 150]), 'traffic.steps[2]', '<= 100'],
    ['last step not 100', (p) => (p.traffic.steps = [10, 50]), 'traffic.steps', 'last step to be 100'],
    ['step of zero', (p) => (p.traffic.steps = [0, 100]), 'traffic.steps[0]', '> 0'],
    ['fractional step', (p) => (p.traffic.steps = [12.5, 100]), 'traffic.steps[0]', 'whole number'],
    [
      'unknown router kind',
      (p) => (p.traffic.router = { kind: 'nginx' }),
      'traffic.router.kind',
      'one of table, command',
    ],
    ['negative metric threshold', (p) => (p.metrics[0].threshold = -0.01), 'metrics[0].threshold', 'threshold >= 0'],
    ['threshold as text', (p) => (p.metrics[1].threshold = '7s'), 'metrics[1].threshold', 'expected a number'],
    ['unknown comparator', (p) => (p.metrics[0].op = '=<'), 'metrics[0].op', 'one of'],
    [
      'metric with two sources',
      (p) => (p.metrics[0].command = ['node', 'x.js']),
      'metrics[0]',
      'exactly one of sql, command or http',
    ],
    ['negative failure limit', (p) => (p.metrics[0].failureLimit = -1), 'metrics[0].failureLimit', '>= 0'],
    [
      'negative inconclusive limit',
      (p) => (p.metrics[0].inconclusiveLimit = -1),
      'metrics[0].inconclusiveLimit',
      '>= 0',
    ],
    ['minSamples of zero', (p) => (p.metrics[0].minSamples = 0), 'metrics[0].minSamples', '>= 1'],
    [
      'minSamples on a command metric',
      (p) => {
        delete p.metrics[0].sql;
        p.metrics[0].command = ['node', 'm.js'];
        p.metrics[0].minSamples = 5;
      },
      'metrics[0].minSamples',
      'only on an sql metric',
    ],
    ['dryRun as text', (p) => (p.metrics[0].dryRun = 'yes'), 'metrics[0].dryRun', 'expected true or false'],
    [
      'quorum larger than the allow-list',
      (p) => (p.approvals.gates.go.roles = [{ role: 'technical-lead', approvers: ['tina', 'tom'], required: 3 }]),
      'approvals.gates.go.roles[0].required',
      'at most 2',
    ],
    [
      'quorum of zero',
      (p) => (p.approvals.gates.go.roles = [{ role: 'technical-lead', required: 0 }]),
      'approvals.gates.go.roles[0].required',
      '>= 1',
    ],
    [
      'reminder interval not a duration',
      (p) => (p.approvals.gates.go.remindEvery = 'hourly'),
      'approvals.gates.go.remindEvery',
      'expected a duration',
    ],
    ['ledger table name with a quote', (p) => (p.ledger = { table: 'x"; drop' }), 'ledger.table', 'a table name'],
    [
      'ledger database inline URL',
      (p) => (p.ledger = { databaseUrlEnv: 'postgres://u:p@h/db' }),
      'ledger.databaseUrlEnv',
      '',
    ],
    ['duplicate metric name', (p) => (p.metrics[1].name = p.metrics[0].name), 'metrics[1].name', 'duplicate name'],
    [
      'duplicate legacy job name',
      (p) => (p.legacyJobs[1].name = p.legacyJobs[0].name),
      'legacyJobs[1].name',
      'duplicate name',
    ],
    [
      'unified job named like a legacy job',
      (p) => (p.unifiedJob.name = 'batch-scorer'),
      'unifiedJob.name',
      'duplicate job name',
    ],
    [
      'bad cron expression',
      (p) => (p.legacyJobs[0].schedule = 'every minute'),
      'legacyJobs[0].schedule',
      'five-field cron',
    ],
    [
      'script escaping the repository',
      (p) => (p.legacyJobs[0].script = '../../etc/passwd'),
      'legacyJobs[0].script',
      'escapes the repository',
    ],
    ['absolute doc path', (p) => (p.archive.docs = ['/etc/hosts']), 'archive.docs[0]', 'escapes the repository'],
    [
      'check cwd escaping the repository',
      (p) => (p.preflight[0].cwd = '../..'),
      'preflight[0].cwd',
      'escapes the repository',
    ],
    [
      'shell metacharacters without a shell',
      (p) => (p.preflight[0].command = ['node', 'x.js', '|', 'tail', '-1']),
      'preflight[0].command[2]',
      'no shell was declared',
    ],
    [
      'command substitution without a shell',
      (p) => (p.legacyJobs[0].command = ['node', '$(whoami).js']),
      'legacyJobs[0].command[1]',
      'shell metacharacter',
    ],
    ['command not a list', (p) => (p.legacyJobs[0].command = 'node x.js'), 'legacyJobs[0].command', 'expected a list'],
    ['no legacy jobs', (p) => (p.legacyJobs = []), 'legacyJobs', 'at least one entry'],
    ['unknown gate', (p) => (p.approvals.gates.launch = { roles: ['x'] }), 'approvals.gates.launch', 'unknown field'],
    ['missing gate', (p) => delete p.approvals.gates['sign-off'], 'approvals.gates.sign-off', 'is required'],
    ['gate without roles', (p) => (p.approvals.gates.go.roles = []), 'approvals.gates.go.roles', 'at least one entry'],
    [
      'duplicate role in a gate',
      (p) => (p.approvals.gates.go.roles = ['technical-lead', 'technical-lead']),
      'approvals.gates.go.roles[1]',
      'duplicate role',
    ],
    [
      'unknown gate timeout outcome',
      (p) => (p.approvals.gates.go.onTimeout = 'approve'),
      'approvals.gates.go.onTimeout',
      'one of abort, notify-and-wait',
    ],
    ['match ratio over 1', (p) => (p.parallelRun.minMatchRatio = 100), 'parallelRun.minMatchRatio', '<= 1'],
    [
      'bad e-mail address',
      (p) => (p.notifications = { email: { smtpUrlEnv: 'SMTP_URL', from: 'ops', to: ['a@b.c'] } }),
      'notifications.email.from',
      'e-mail address',
    ],
    [
      'scheduler kind unknown',
      (p) => (p.scheduler.kind = 'systemd'),
      'scheduler.kind',
      'one of crontab, temporal-schedule',
    ],
    ['rollback without checks', (p) => (p.rollback.checks = []), 'rollback.checks', 'at least one entry'],
  ];

  it.each(cases)('refuses %s, naming the field', (name, mutate, field, fragment) => {
    const issues = issuesOf(mutate);
    const refused = issues.some((i) => i.path === field && i.message.includes(fragment));
    recordFaults([{ suite: 'plans', what: `bad plan: ${name}`, kind: 'bad-input', ok: refused }]);
    expect(issues).toContainEqual({ path: field, message: expect.stringContaining(fragment) });
  });

  it('reports every problem at once and says what was expected', () => {
    const issues = issuesOf((p) => {
      p.durations.bake = 'soon';
      p.traffic.steps = [50, 25];
      delete p.rollback;
    });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['durations.bake', 'traffic.steps[1]', 'traffic.steps', 'rollback']),
    );
    const err = new PlanValidationError('plan.yaml', issues);
    expect(err.message).toContain('durations.bake: expected a duration such as 90s, 2h or 7d, got the string "soon"');
  });

  it('refuses a file that is not YAML or does not exist', () => {
    expect(() => loadPlan('/nonexistent/plan.yaml')).toThrow(/cannot read the file/);
    const dir = fs.mkdtempSync('/tmp/mo-plan-');
    fs.writeFileSync(path.join(dir, 'p.yaml'), 'name: [unclosed\n');
    expect(() => loadPlan(path.join(dir, 'p.yaml'))).toThrow(/not valid YAML/);
  });
});

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pgTarget, tableRowCounts } from '../../activities/database';
import { listContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { runCheck } from '../../activities/checks';
import { runCommand } from '../../activities/process';
import { parseCrontab } from '../../activities/scheduler';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { runDemo, type DemoOutcome } from '../../demo/demo';
import { integrity, withDb } from '../../demo/target';
import { temporalCliEnv } from '../../lib/codec';
import { requireEnv, temporalCliArgs } from '../../lib/config';
import { GATES } from '../../model/constants';
import { approveSignal } from '../../workflows/definitions';
import type { CheckSpec, Plan } from '../../model/plan';
import { config, scratchDatabase, tempDir, withPg } from '../helpers/stack';
import { expectLegacyRestored } from '../helpers/end-state';
import { shortWaits } from '../helpers/short-waits';
import { parseSvg, pointsPerSeries } from '../helpers/svg';
import { historyText } from '../helpers/temporal';
import { slottedPlan } from '../helpers/slot';

const exec = promisify(execFile);
const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
/**
 * For the runs that end at the first metric gate or the comparison: a parallel run of 3 s, the plan's 4-s bake kept
 * (the error spike fails the gate at 10 % only if the bake gives the unified pipeline enough items to meet an error).
 */
const shortParallelRun = (plan: Plan) => void (plan.durations.parallelRunMs = 3_000);

describe('the demo migrates a real system end to end (worker process, dev server, PostgreSQL, Docker, git, crontab)', () => {
  const docker = dockerClient(config.dockerHost);
  const lines: string[] = [];
  const print = (l: string) => lines.push(l);

  it('completes: every submission scored once, routing at 100 %, crontab switched, archive committed, reports filled', async () => {
    const client = await connectClient(config);
    let outcome: DemoOutcome;
    try {
      // The demo plan exactly as `npm run demo` runs it (its waits too); the other tests here shorten them.
      outcome = await runDemo({
        plan: PLAN,
        print,
        // The go gate is approved with the stock `temporal` CLI (an Update, signed), the others with signed signals
        // through the client (signals stay accepted, and are verified the same way).
        approve: async (workflowId, a) => {
          if (a.gate !== 'go') return client.workflow.getHandle(workflowId).signal(approveSignal, a);
          await exec(
            requireEnv('TEMPORAL_CLI_PATH'),
            temporalCliArgs(
              config,
              'workflow',
              'update',
              'execute',
              '--workflow-id',
              workflowId,
              '--name',
              'approve',
              '--input',
              JSON.stringify(a),
            ),
            // Payloads are sealed: the stock CLI seals through the codec server, with the token in its environment.
            { env: temporalCliEnv() },
          );
        },
      });
    } finally {
      await client.connection.close();
    }
    expect(outcome.phase).toBe('complete');

    const check = await integrity(outcome.databaseUrl);
    expect(check.submissions).toBeGreaterThan(100);
    expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
    expect(check.byPipeline.legacy).toBeGreaterThan(0);
    expect(check.byPipeline.unified).toBeGreaterThan(0);
    // The parallel run compared real outputs.
    const shadow = await withDb(outcome.databaseUrl, (db) =>
      db.query<{ n: string }>('select count(*) as n from shadow_scores'),
    );
    expect(Number(shadow.rows[0]!.n)).toBeGreaterThan(0);

    const routing = await withDb(outcome.databaseUrl, (db) =>
      db.query('select percent, updated_by from migration_routing'),
    );
    expect(routing.rows).toEqual([{ percent: 100, updated_by: 'migration-workflow' }]);
    const steps = await withDb(outcome.databaseUrl, (db) =>
      db.query<{ new_percent: number }>('select new_percent from migration_routing_history order by id'),
    );
    expect(steps.rows.map((r) => r.new_percent)).toEqual([0, 10, 25, 50, 100]);

    const containers = await listContainers(docker, outcome.composeProject);
    expect(containers.map((c) => [c.service, c.running])).toEqual([['scorer', true]]);

    const cron = parseCrontab(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' }));
    expect(cron.map((e) => [e.name, e.enabled])).toEqual([
      ['batch-scorer', false],
      ['trust-scorer', false],
      ['unified-pipeline', true],
    ]);

    const git = (...a: string[]) => execFileSync('git', a, { cwd: outcome.repository, encoding: 'utf8' });
    expect(git('log', '-1', '--format=%B')).toContain(`Migration-Id: ${outcome.workflowId}`);
    const archived = git('ls-files', 'scripts/archive').split('\n').filter(Boolean);
    expect(archived.map((f) => path.basename(f)).sort()).toEqual([
      'README.md',
      'api_ingest_trust.js',
      'batch_scorer.js',
    ]);
    expect(fs.existsSync(path.join(outcome.repository, 'scripts/legacy/batch_scorer.js'))).toBe(false);
    // The docs name the replacement, and send readers of the old script to the archive README.
    const ops = fs.readFileSync(path.join(outcome.repository, 'docs/operations.md'), 'utf8');
    expect(ops).toMatch(
      /`unified-pipeline` \(the unified pipeline; the retired `scripts\/legacy\/batch_scorer\.js` is archived, see `scripts\/archive\/monoliths_\d+\/README\.md`\)/,
    );
    expect(ops).not.toMatch(/`scripts\/archive\/monoliths_\d+\/batch_scorer\.js`/);

    // Two verified backups, each restorable with the row counts it recorded.
    expect(outcome.status.backups.map((b) => b.step)).toEqual(['initial', 'pre-cutover']);
    const backup = outcome.status.backups[1]!;
    const restored = await scratchDatabase('mo_e2e_restore');
    try {
      const r = await runCommand('pg_restore', ['--no-owner', '-d', restored.name, backup.file], {
        env: pgTarget(restored.url).env,
      });
      expect(r.code).toBe(0);
      expect(await withPg(restored.url, tableRowCounts)).toEqual(backup.tables);
    } finally {
      await restored.drop();
    }

    const completion = fs.readFileSync(outcome.reports.completion!, 'utf8');
    for (const metric of [
      'Code reduction',
      'Processing time per item',
      'Throughput',
      'Error rate',
      'Annual cost savings',
      'Test coverage',
    ]) {
      expect(completion).toMatch(new RegExp(`\\| ${metric}[^|]*\\| [^|]+ \\| [0-9.]+[^|]* \\| pass \\|`));
    }
    // The chart of the gate metrics: next to the report, referenced by it, one series per metric of the plan.
    expect(completion).toContain('![Gate metrics across the traffic steps and the soak](completion-metrics.svg)');
    const svg = fs.readFileSync(path.join(path.dirname(outcome.reports.completion!), 'completion-metrics.svg'), 'utf8');
    const series = pointsPerSeries(parseSvg(svg));
    expect(series.size).toBe(loadPlan(PLAN).metrics.length);
    for (const points of series.values()) expect(points.size).toBeGreaterThan(0);
    expect(outcome.status.gates.go?.signatures.map((s) => s.approver)).toEqual([
      'technical-lead-demo',
      'engineering-manager-demo',
    ]);

    // The database URL's password is in no workflow history.
    const c2 = await connectClient(config);
    try {
      const history = await historyText(await c2.workflow.getHandle(outcome.workflowId).fetchHistory());
      expect(history).toContain('DEMO_DATABASE_URL');
      expect(history).not.toContain(new URL(outcome.databaseUrl).password);
    } finally {
      await c2.connection.close();
    }
  }, 300_000);

  it('rolls back automatically on an error spike; afterwards every submission is scored once and legacy owns 100 %', async () => {
    const outcome = await runDemo({ plan: PLAN, print, fault: 'error-spike', adjustPlan: shortParallelRun });
    expect(outcome.phase).toBe('rolled-back');
    expect(outcome.status.failure).toMatch(/metric gate failed at traffic 10%: error-rate/);
    await expectLegacyRestored(outcome);
    const errors = await withDb(outcome.databaseUrl, (db) =>
      db.query<{ n: string }>("select count(*) as n from item_runs where status = 'error'"),
    );
    expect(Number(errors.rows[0]!.n)).toBeGreaterThan(0);
    const report = fs.readFileSync(outcome.reports.rollback!, 'utf8');
    expect(report).toContain('# Rollback verified');
    expect(report).toContain('| legacy-owns-all-traffic | 0 | == 0 | pass |');
    // The report tells what led here from the measurement ledger: the failed evaluation at 10 %.
    expect(report).toMatch(/## What led here \(last \d+ of \d+ ledger rows/);
    expect(report).toMatch(/\[gate-evaluation\] traffic 10%: error-rate=[0-9.]+ FAIL/);
  }, 300_000);

  it.each([
    ['slow', /metric gate failed at traffic 10%: processing-time/],
    ['divergent', /parallel run: match ratio 0(\.\d+)? below 1/],
  ] as const)(
    'rolls back automatically on the %s fault and leaves the legacy path whole',
    async (fault, failure) => {
      const outcome = await runDemo({ plan: PLAN, print, fault, adjustPlan: shortParallelRun });
      expect(outcome.phase).toBe('rolled-back');
      expect(outcome.status.failure).toMatch(failure);
      await expectLegacyRestored(outcome);
      const report = JSON.parse(fs.readFileSync(outcome.reports.rollback!.replace(/\.md$/, '.json'), 'utf8')) as {
        result: { verified: boolean };
      };
      expect(report.result.verified).toBe(true);
    },
    300_000,
  );

  it('--manual waits at each gate and prints commands that a person can run to finish the migration', async () => {
    const printed: string[] = [];
    const ran = new Set<string>();
    const people: Promise<void>[] = [];
    // The "people": each runs the printed `migrate approve` command (their name, their key), once.
    const person = (line: string) => {
      printed.push(line);
      const cmd = /npx migrate (approve .*)$/.exec(line.trim())?.[1];
      if (!cmd || ran.has(cmd)) return;
      ran.add(cmd);
      people.push(exec(path.join(__dirname, '..', '..', 'bin', 'migrate'), cmd.split(' ')).then(() => undefined));
    };
    // The approvals are under test, not the waits between the gates.
    const outcome = await runDemo({ plan: PLAN, print: person, manual: true, adjustPlan: shortWaits });
    await Promise.all(people);
    expect(outcome.phase).toBe('complete');
    // Every role of every gate was printed once, with its stock `temporal` equivalent, and signed (verified) by its
    // person's key.
    for (const gate of GATES) {
      const signatures = outcome.status.gates[gate]!.signatures;
      expect(signatures.map((s) => [s.approver, s.verified])).toEqual(signatures.map((s) => [`${s.role}-demo`, true]));
      for (const s of signatures) {
        expect(printed.filter((l) => l.includes(`--gate ${gate} --role ${s.role} `))).toHaveLength(1);
        expect(
          printed.some((l) => l.includes(`"gate":"${gate}","role":"${s.role}"`) && l.includes('--name approve')),
        ).toBe(true);
      }
    }
    const check = await integrity(outcome.databaseUrl);
    expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
  }, 300_000);

  it('load-test check drives the generator into a scratch schema and leaves production rows alone', async () => {
    const plan = loadPlan(PLAN);
    const load = plan.preflight.find((c) => c.name === 'load-test')!;
    const db = await scratchDatabase('mo_e2e_load');
    try {
      await withDb(db.url, (c) =>
        c.query(fs.readFileSync(path.join(__dirname, '..', '..', 'demo/system/schema.sql'), 'utf8')),
      );
      process.env.MO_LOAD_TEST_URL = db.url;
      const command = load.measure.kind === 'command' ? load.measure.command : [];
      const args = command.slice(1).map((a) => (a === plan.target.databaseUrlEnv ? 'MO_LOAD_TEST_URL' : a));
      // A repository whose scripts/ is the demo system, as the demo setup lays it out.
      const repo = tempDir('load-repo');
      fs.symlinkSync(path.join(__dirname, '..', '..', 'demo', 'system'), path.join(repo, 'scripts'));
      const r = await runCommand('node', args, { cwd: repo });
      expect(r.stderr).toBe('');
      const m =
        /offered (\d+) items\/h \((\d+) items\), scored (\d+), backlog (\d+), errors (\d+)\nsustained (\d+) items\/h/.exec(
          r.stdout,
        );
      expect(m).not.toBeNull();
      const [offeredPerHour, offered, scored, backlog, , sustained] = m!.slice(1).map(Number);
      expect(offeredPerHour).toBeGreaterThanOrEqual(1000);
      expect(scored).toBe(offered);
      expect(backlog).toBe(0);
      expect(sustained).toBeGreaterThanOrEqual(load.threshold);
      // The same check as the preflight activity runs it, with its variable naming the database.
      const checked = await runCheck(
        {
          ...load,
          measure: { ...load.measure, command: [...command.slice(0, 3), '--database-url-env', 'MO_LOAD_TEST_URL'] },
        } as CheckSpec,
        { repository: repo, databaseUrlEnv: 'MO_LOAD_TEST_URL' },
      );
      expect(checked.error).toBeUndefined();
      expect(checked.passed).toBe(true);
      expect(checked.value).toBeGreaterThanOrEqual(1000);
      // The load ran in its own schema, now gone; the target's own tables hold nothing from it.
      const after = await withDb(db.url, (c) =>
        c.query<{ subs: string; schemas: string }>(
          "select (select count(*) from submissions) as subs, (select count(*) from pg_namespace where nspname like 'mo_loadtest_%') as schemas",
        ),
      );
      expect(after.rows[0]).toEqual({ subs: '0', schemas: '0' });
    } finally {
      delete process.env.MO_LOAD_TEST_URL;
      await db.drop();
    }
  }, 60_000);
});

import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { demoApprover, demoKeyFile } from '../../demo/keys';
import { setupDemoTarget } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { isFinalPhase } from '../../model/constants';
import { planDigest } from '../../model/signatures';
import type { MigrationStatus } from '../../model/status';

import { migrateCli } from '../helpers/cli';
import { config, tempDir, uniq } from '../helpers/stack';
import { slottedPlan } from '../helpers/slot';

const root = path.join(__dirname, '..', '..');
const PLAN = slottedPlan(path.join(root, 'plans', 'demo.yaml'));

function migrate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return migrateCli(args, { MO_TASK_QUEUE: taskQueue });
}
const taskQueue = `cli-${uniq()}`;
/** `--as <role>-demo --key <its key>`: the demo plan lists its approvers' keys, so every decision is signed. */
/** `--as <role>-demo --key <their key>`: a person the plan lists, signing (operator requests). */
const signedAs = (role: string) => ['--as', demoApprover(role), '--key', demoKeyFile(demoApprover(role))];
/** The same, for a gate decision: with the plan file they read. */
const as = (role: string) => [...signedAs(role), '--plan', PLAN];

describe('the migrate CLI against a real running migration', () => {
  let worker: WorkerProcess;
  const id = `cli-${uniq()}`;

  beforeAll(async () => {
    const plan = loadPlan(PLAN);
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_cli_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = target.metricsDatabaseUrl;
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), { MO_TASK_QUEUE: taskQueue });
    await worker.ready;
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('refuses a bad plan with exit code 2, naming the field, and starts nothing', async () => {
    const dir = tempDir('mo-cli-plan');
    const bad = fs.readFileSync(PLAN, 'utf8').replace('steps: [10, 25, 50, 100]', 'steps: [10, 50, 25, 100]');
    fs.writeFileSync(path.join(dir, 'bad.yaml'), bad);
    const r = await migrate('start', path.join(dir, 'bad.yaml'), '--id', `${id}-bad`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('traffic.steps[2]: expected steps to increase, got 25 after 50');
    const client = await connectClient(config);
    try {
      await expect(client.workflow.getHandle(`${id}-bad`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    } finally {
      await client.connection.close();
    }
  });

  it('starts, shows status as JSON, rejects a bad approval with exit code 4, pauses, resumes, lists and aborts', async () => {
    const started = await migrate('start', PLAN, '--id', id, '--as', 'alice');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`started ${id}`);
    expect(started.stdout).toContain(`/workflows/${id}`);

    let s: MigrationStatus | undefined;
    for (let i = 0; i < 100 && s?.phase !== 'gate:go'; i++) {
      const r = await migrate('status', id, '--json');
      expect(r.code).toBe(0);
      s = JSON.parse(r.stdout) as MigrationStatus;
      if (s.phase !== 'gate:go') await new Promise((res) => setTimeout(res, 200));
    }
    expect(s?.phase).toBe('gate:go');
    expect(s?.audit[0]).toMatchObject({ kind: 'started', actor: 'alice' });

    const wrongRole = await migrate('approve', id, '--gate', 'go', '--role', 'stakeholder', ...as('stakeholder'));
    expect(wrongRole.code).toBe(4);
    expect(wrongRole.stderr).toContain('does not need role stakeholder');
    const ok = await migrate(
      'approve',
      id,
      '--gate',
      'go',
      '--role',
      'technical-lead',
      ...as('technical-lead'),
      '--comment',
      'looks good',
    );
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      'approved: technical-lead technical-lead-demo approved gate go: looks good (signature verified)',
    );
    const twice = await migrate('approve', id, '--role', 'engineering-manager', ...as('technical-lead'));
    expect(twice.code).toBe(4);
    expect(twice.stderr).toContain('separation of duties');

    // resume and retry move the migration forward: signed (the plan lists keys), then refused by the rules, exit 4.
    expect((await migrate('resume', id, ...signedAs('technical-lead'))).code).toBe(4);
    // retry needs a gate evaluation waiting for a decision: refused, with the reason, exit 4.
    const retry = await migrate('retry', id, ...signedAs('technical-lead'), '--reason', 'look again');
    expect(retry.code).toBe(4);
    expect(retry.stderr).toContain('no gate evaluation is waiting for a decision');
    expect((await migrate('pause', id, '--as', 'olga', '--reason', 'freeze')).code).toBe(0);
    const paused = JSON.parse((await migrate('status', id, '--json')).stdout) as MigrationStatus;
    expect(paused.paused).toBe(true);
    expect(paused.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual([
      'technical-lead:technical-lead-demo',
    ]);
    expect((await migrate('resume', id, ...signedAs('technical-lead'))).code).toBe(0);

    const list = JSON.parse((await migrate('list', '--json', '--phase', 'gate:go')).stdout) as {
      id: string;
      phase: string;
    }[];
    expect(list).toContainEqual(expect.objectContaining({ id, phase: 'gate:go' }));
    const text = await migrate('status', id);
    expect(text.stdout).toContain(
      'gate go: OPEN; needs technical-lead, engineering-manager; signed technical-lead=technical-lead-demo (verified)',
    );

    expect((await migrate('abort', id, '--as', 'olga', '--reason', 'postponed')).code).toBe(0);
    let end: MigrationStatus | undefined;
    for (let i = 0; i < 50 && end?.phase !== 'aborted'; i++) {
      end = JSON.parse((await migrate('status', id, '--json')).stdout) as MigrationStatus;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(end?.phase).toBe('aborted');
    expect(end?.backups).toEqual([]);
    // The ledger has every audit entry, the refused requests included.
    // (The last rows are written right after the end state: give the final write a moment.)
    let history = await migrate('history', id);
    for (let i = 0; i < 20 && !history.stderr.includes(`(${end!.audit.length} rows`); i++) {
      await new Promise((res) => setTimeout(res, 200));
      history = await migrate('history', id);
    }
    expect(history.code).toBe(0);
    // The caption is on stderr; stdout is the table (a header row, then the rows).
    expect(history.stderr).toContain(`ledger of ${id} (${end!.audit.length} rows, table migration_ledger)`);
    expect(history.stdout).toMatch(
      /rejected\s+technical-lead-demo\s+retry by technical-lead-demo: no gate evaluation is waiting/,
    );
    const report = await migrate('report', id, '--kind', 'validation');
    expect(report.code).toBe(0);
    // The plan's five checks, after the findings about the target (legacy jobs found, paths, image, router, ...).
    expect(report.stdout).toContain('**PASSED** (20/20 checks passed)');
    expect(report.stdout).toContain('| target: legacy job batch-scorer found | 1 | == 1 | pass |');
    expect((await migrate('status', 'no-such-migration')).code).toBe(3);

    // The ID is this migration's for good: a second start under it is refused, and nothing new runs.
    const again = await migrate('start', PLAN, '--id', id);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`migration ID ${id} was used before`);
    const bad = await migrate('start', PLAN, '--id', '../etc');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--id: expected 1 to 128 letters');
  });

  /** Polls `migrate status --json` until `done` holds. */
  async function statusUntil(mid: string, done: (s: MigrationStatus) => boolean): Promise<MigrationStatus> {
    let s: MigrationStatus | undefined;
    for (let i = 0; i < 300; i++) {
      const r = await migrate('status', mid, '--json');
      if (r.code === 0) {
        s = JSON.parse(r.stdout) as MigrationStatus;
        if (done(s)) return s;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`migration ${mid} never reached the expected state; last: ${s?.phase}`);
  }

  it('rejects a gate, draws the bake progress bar, prints reports as JSON, rolls back, and shows examples in --help', async () => {
    const rejected = `${id}-rej`;
    expect((await migrate('start', PLAN, '--id', rejected)).code).toBe(0);
    await statusUntil(rejected, (s) => s.phase === 'gate:go');
    const r = await migrate(
      'reject',
      rejected,
      '--gate',
      'go',
      '--role',
      'technical-lead',
      '--reason',
      'not now',
      ...as('technical-lead'),
    );
    expect(r.code).toBe(0);
    const afterReject = await statusUntil(rejected, (s) => isFinalPhase(s.phase));
    expect(afterReject.gates.go?.outcome).toBe('rejected');
    expect(afterReject.audit.some((a) => a.kind === 'gate-rejected' && a.actor === 'technical-lead-demo')).toBe(true);

    // This migration is rolled back by hand during its parallel run: a run long enough that a slow machine's CLI calls
    // below still land inside it (with the demo's 6 s, a busy CI machine saw it end, and roll back by itself, first).
    // Next to the demo plan, because its paths are relative to the plan file.
    const longPlan = path.join(root, 'plans', `.cli-test-${uniq()}.yaml`);
    fs.writeFileSync(longPlan, fs.readFileSync(PLAN, 'utf8').replace('parallelRun: 6s', 'parallelRun: 2m'));
    const rolled = `${id}-rb`;
    let longDigest: string;
    try {
      longDigest = planDigest(loadPlan(longPlan));
      expect((await migrate('start', longPlan, '--id', rolled)).code).toBe(0);
    } finally {
      fs.rmSync(longPlan, { force: true });
    }
    await statusUntil(rolled, (s) => s.phase === 'gate:go');
    // Its plan file is gone: the approvers confirm the digest they read instead.
    for (const role of ['technical-lead', 'engineering-manager'])
      expect(
        (
          await migrate(
            'approve',
            rolled,
            '--gate',
            'go',
            '--role',
            role,
            ...signedAs(role),
            '--yes-i-read',
            longDigest,
          )
        ).code,
      ).toBe(0);
    // The parallel run is a durable wait: the text status draws its progress.
    await statusUntil(rolled, (s) => s.phase === 'parallel-run' && !!s.waitingUntil);
    const text = await migrate('status', rolled);
    expect(text.stdout).toMatch(/waiting +parallel run[^\n]*\[[#.]{30}\] +\d+% {2}(1m )?\d+s left/);

    const validation = await migrate('report', rolled, '--kind', 'validation', '--json');
    expect(validation.code).toBe(0);
    const parsed = JSON.parse(validation.stdout) as { passed: boolean; results: { name: string }[] };
    expect(parsed.passed).toBe(true);
    expect(parsed.results.map((c) => c.name)).toContain('load-test');

    const rb = await migrate('rollback', rolled, '--reason', 'cli test', '--as', 'olga');
    expect(rb.code).toBe(0);
    const end = await statusUntil(rolled, (s) => isFinalPhase(s.phase));
    expect(end.phase).toBe('rolled-back');
    expect(end.audit.some((a) => a.actor === 'olga')).toBe(true);
    const rollbackReport = await migrate('report', rolled, '--kind', 'rollback');
    expect(rollbackReport.code).toBe(0);
    expect(rollbackReport.stdout).toContain('# Rollback verified');

    for (const command of [
      'start',
      'approve',
      'reject',
      'status',
      'pause',
      'resume',
      'abort',
      'rollback',
      'list',
      'report',
    ]) {
      const help = await migrate(command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Examples:\\n  migrate ${command}\\b`));
    }
  }, 180_000);
});

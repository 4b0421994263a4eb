import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadPlan } from '../../client/plan';
import { readReport } from '../../client/reports';
import { evaluateMetrics, runChecks } from '../../activities/checks';
import { appendLedger, REPORT_STORE_LIMIT_MS } from '../../activities/ledger';
import { writeReportFiles } from '../../activities/report-files';
import { writeCompletionReport, writeRollbackReport } from '../../activities/reports';
import type { GateEvaluation, MigrationStatus } from '../../model/status';
import type { Plan } from '../../model/plan';
import { planDigest } from '../../model/signatures';
import { config, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';
import { parseSvg, pointsPerSeries } from '../helpers/svg';
import { clientDataConverter } from '../../lib/codec';

const ROOT = path.join(__dirname, '..', '..');
const IMAGE = '![Gate metrics across the traffic steps and the soak](completion-metrics.svg)';

/** The input of `writeRollbackReport` for a rollback of the traffic step that took `durationMs` and was verified. */
function rollbackReportInput(plan: Plan, migrationId: string, opts: { reason?: string; durationMs?: number }) {
  const durationMs = opts.durationMs ?? 800;
  return {
    migrationId,
    plan,
    reason: opts.reason ?? 'error rate up',
    requestedBy: 'olga',
    fromPhase: 'traffic-shift' as const,
    result: {
      migrationId,
      undone: [{ kind: 'traffic' as const, ok: true, attempts: 1, durationMs: 12 }],
      verified: true,
      failedChecks: [],
      startedAt: new Date(0).toISOString(),
      finishedAt: new Date(durationMs).toISOString(),
      durationMs,
      budgetMs: plan.rollback.budgetMs,
      overBudget: durationMs > plan.rollback.budgetMs,
    },
    verification: [],
  };
}

describe('completion report against a real demo database: success-metrics table and gate-metrics chart', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let plan: Plan;
  const urlEnv = `MO_TEST_REPORTS_URL_${uniq()}`;
  const reportDir = tempDir('mo-reports');
  // The target repository as the demo lays it out: its scripts/ is the demo system (the coverage metric runs there).
  const repository = tempDir('mo-reports-repo');

  beforeAll(async () => {
    db = await scratchDatabase('mo_reports');
    process.env[urlEnv] = db.url;
    // The demo plan's success metrics read through its metrics variable: here the scratch database's owner.
    process.env.DEMO_METRICS_DATABASE_URL = db.url;
    fs.symlinkSync(path.join(ROOT, 'demo', 'system'), path.join(repository, 'scripts'));
    const demo = loadPlan(path.join(ROOT, 'plans', 'demo.yaml'));
    plan = {
      ...demo,
      target: { ...demo.target, databaseUrlEnv: urlEnv, repository, reportDir },
      ledger: { databaseUrlEnv: urlEnv, table: 'migration_ledger' },
    };
    await withPg(db.url, async (c) => {
      await c.query(fs.readFileSync(path.join(ROOT, 'demo', 'system', 'schema.sql'), 'utf8'));
      await c.query(`insert into submissions (title, body, subreddit, score)
                     select 'post ' || g, 'body', 'postgres', g from generate_series(1, 400) g`);
      // 400 runs over the last 20 minutes, half per pipeline: the unified one faster, cheaper and without errors.
      await c.query(`insert into item_runs (submission_id, pipeline, job, status, duration_ms, cost, finished_at)
                     select g, case when g % 2 = 0 then 'unified' else 'legacy' end, 'scorer', 'ok',
                            case when g % 2 = 0 then 1500 else 9000 end,
                            case when g % 2 = 0 then 0.0004 else 0.0009 end,
                            now() - (g * 3) * interval '1 second'
                       from generate_series(1, 400) g`);
    });
  });
  afterAll(async () => {
    await db.drop();
    delete process.env[urlEnv];
    delete process.env.DEMO_METRICS_DATABASE_URL;
    fs.rmSync(reportDir, { recursive: true, force: true });
    fs.rmSync(repository, { recursive: true, force: true });
  });

  /** Gate evaluations as the workflow records them, read by the real activity; the last window holds no runs. */
  async function evaluations(): Promise<GateEvaluation[]> {
    const recent = new Date(Date.now() - 25 * 60_000).toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const steps: [string, GateEvaluation['phase'], string][] = [
      ...[10, 25, 50, 100].map((p): [string, GateEvaluation['phase'], string] => [
        `traffic ${p}%`,
        'traffic-shift',
        recent,
      ]),
      ['monitoring window', 'cutover', recent],
      ['soak check 1', 'soak', recent],
      ['soak check 2', 'soak', future],
    ];
    const out: GateEvaluation[] = [];
    for (const [step, phase, since] of steps) {
      const readings = await evaluateMetrics({
        migrationId: 'reports-test',
        metrics: plan.metrics,
        databaseUrlEnv: urlEnv,
        repository,
        since,
      });
      out.push({
        phase,
        step,
        at: new Date().toISOString(),
        readings,
        passed: readings.every((r) => r.passed !== false),
      });
    }
    return out;
  }

  const status = (evaluations: GateEvaluation[]): MigrationStatus => ({
    migrationId: 'reports-test',
    name: plan.name,
    phase: 'gate:sign-off',
    paused: false,
    trafficPercent: 100,
    gates: {},
    lastReadings: {},
    evaluations,
    backups: [],
    compensations: [],
    reports: {},
    audit: [],
    phaseTimeline: [],
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    runs: 0,
  });

  it('fills the table from the database and writes a chart next to the report, one series per gate metric', async () => {
    const migrationId = `complete-${uniq()}`;
    const evals = await evaluations();
    // The window with no runs reads no data for the averages: gaps in the chart, not zeros.
    const last = evals[evals.length - 1]!;
    expect(last.readings.filter((r) => r.value === null).map((r) => r.name)).toEqual(
      expect.arrayContaining(['error-rate', 'processing-time', 'annual-savings']),
    );

    const signed = status(evals);
    signed.planDigest = planDigest(plan);
    signed.approvalsAuthenticated = true;
    signed.gates['sign-off'] = {
      name: 'sign-off',
      open: false,
      requiredRoles: ['technical-lead', 'stakeholder'],
      signatures: [
        { gate: 'sign-off', role: 'technical-lead', approver: 'tina', at: '2026-12-08T09:00:00.000Z', verified: true },
        { gate: 'sign-off', role: 'stakeholder', approver: 'sam', at: '2026-12-08T10:00:00.000Z', verified: false },
      ],
    };
    const input = { migrationId, plan, status: signed, codeLinesRemoved: 120 };
    const files = await writeCompletionReport(input);

    expect(files.rows).toHaveLength(plan.successMetrics.length + 1);
    for (const r of files.rows) expect(r).toMatchObject({ passed: true, value: expect.any(Number) });
    const md = fs.readFileSync(files.markdownFile, 'utf8');
    for (const m of plan.successMetrics) {
      const name = (m.description ?? m.name).replace(/[()]/g, '\\$&');
      expect(md).toMatch(new RegExp(`\\| ${name} \\| [^|]+ \\| [0-9.]+[^|]* \\| pass \\|`));
    }
    // Who signed what, verified or not, and the plan it was.
    expect(md).toContain(`Plan sha256 \`${planDigest(plan)}\`; approvals signed and verified`);
    expect(md).toContain('- sign-off: technical-lead tina at 2026-12-08T09:00:00.000Z — signature verified');
    expect(md).toContain('- sign-off: stakeholder sam at 2026-12-08T10:00:00.000Z — NOT verified');
    // The chart comes after the table and before the timeline.
    expect(md).toContain(IMAGE);
    expect(md.indexOf(IMAGE)).toBeGreaterThan(md.indexOf('## Success metrics'));
    expect(md.indexOf(IMAGE)).toBeLessThan(md.indexOf('## Timeline'));

    const svgFile = path.join(path.dirname(files.markdownFile), 'completion-metrics.svg');
    const json = JSON.parse(fs.readFileSync(files.jsonFile, 'utf8')) as { chart?: string };
    expect(json.chart).toBe(svgFile);
    const svg = fs.readFileSync(svgFile, 'utf8');
    const elements = parseSvg(svg);
    // Threshold lines carry their metric's series index but are silent; points are not (see renderMetricsChart).
    const points = pointsPerSeries(elements.filter((e) => e.attrs.ecmeta_silent !== 'true'));
    expect(points.size).toBe(plan.metrics.length);
    plan.metrics.forEach((m, i) => {
      const readings = evals.map((e) => e.readings.find((r) => r.name === m.name)?.value ?? null);
      expect(points.get(String(i))?.size).toBe(readings.filter((v) => v !== null).length);
    });
    const thresholds = elements.filter((e) => e.attrs.ecmeta_silent === 'true' && e.attrs['stroke-dasharray']);
    expect(new Set(thresholds.map((e) => e.attrs.ecmeta_series_index)).size).toBe(plan.metrics.length);

    // A retried activity overwrites the same files with the same chart.
    const again = await writeCompletionReport(input);
    expect({ markdownFile: again.markdownFile, jsonFile: again.jsonFile }).toEqual({
      markdownFile: files.markdownFile,
      jsonFile: files.jsonFile,
    });
    expect(fs.readFileSync(svgFile, 'utf8')).toBe(svg);
    expect(fs.readdirSync(path.dirname(svgFile)).sort()).toEqual([
      'completion-metrics.svg',
      'completion.json',
      'completion.md',
    ]);
  });

  it('takes the gate evaluations from the measurement ledger, all of them, when it has rows', async () => {
    const migrationId = `ledger-${uniq()}`;
    const evals = await evaluations();
    const entries = evals.map((e, seq) => ({ seq, at: e.at, kind: 'gate-evaluation', detail: e.step, data: e }));
    expect(await appendLedger({ migrationId, databaseUrlEnv: urlEnv, table: 'migration_ledger', entries })).toEqual({
      inserted: evals.length,
    });
    // Written twice (a retried activity): no new row.
    expect(await appendLedger({ migrationId, databaseUrlEnv: urlEnv, table: 'migration_ledger', entries })).toEqual({
      inserted: 0,
    });
    // The status kept only the last evaluation and the latest audit entries (as after a long soak), one of them not in
    // the ledger yet; the report still shows every step, and the audit log whole, in order, each entry once.
    const last = entries.at(-1)!;
    const unwritten = {
      seq: last.seq + 1,
      at: last.at,
      kind: 'approved',
      detail: 'stakeholder sam approved gate sign-off',
    };
    const files = await writeCompletionReport({
      migrationId,
      plan,
      status: {
        ...status(evals.slice(-1)),
        audit: [{ seq: last.seq, at: last.at, kind: last.kind, detail: last.detail }, unwritten],
        ledgerSeq: last.seq + 2,
      },
      codeLinesRemoved: 1,
    });
    const md = fs.readFileSync(files.markdownFile, 'utf8');
    expect(md).toContain(`From the measurement ledger (${evals.length} rows in \`migration_ledger\``);
    for (const e of evals) expect(md).toContain(` ${e.step}: `);
    const auditSection = md.slice(md.indexOf('## Audit log'));
    expect(auditSection.split('\n').filter((l) => l.startsWith('- '))).toEqual(
      [...entries, unwritten].map((e) => `- ${e.at} [${e.kind}] ${e.detail}`),
    );
    const svg = fs.readFileSync(path.join(path.dirname(files.markdownFile), 'completion-metrics.svg'), 'utf8');
    const points = pointsPerSeries(parseSvg(svg).filter((e) => e.attrs.ecmeta_silent !== 'true'));
    const errorRate = evals.filter((e) => e.readings.find((r) => r.name === 'error-rate')?.value !== null).length;
    expect(points.get('0')?.size).toBe(errorRate);
  });

  it('without gate evaluations writes no chart and does not reference one', async () => {
    const files = await writeCompletionReport({
      migrationId: `no-evals-${uniq()}`,
      plan,
      status: status([]),
      codeLinesRemoved: 1,
    });
    expect(fs.readFileSync(files.markdownFile, 'utf8')).not.toContain('completion-metrics.svg');
    expect(JSON.parse(fs.readFileSync(files.jsonFile, 'utf8'))).not.toHaveProperty('chart');
    expect(fs.existsSync(path.join(path.dirname(files.markdownFile), 'completion-metrics.svg'))).toBe(false);
  });
});

describe('rollback report: the budget, and folders only inside the report folder', () => {
  // The report folder inside a folder of its own: what lands beside it is what escaped it.
  const reportDir = path.join(tempDir('mo-rollback-reports'), 'reports');
  const demo = loadPlan(path.join(ROOT, 'plans', 'demo.yaml'));
  const plan: Plan = { ...demo, target: { ...demo.target, reportDir } };
  afterAll(() => fs.rmSync(path.dirname(reportDir), { recursive: true, force: true }));

  const input = (migrationId: string, durationMs: number) => rollbackReportInput(plan, migrationId, { durationMs });

  it('says when the rollback took longer than rollback.budget, and by how much', async () => {
    const over = await writeRollbackReport(input(`over-${uniq()}`, plan.rollback.budgetMs + 61_500));
    const within = await writeRollbackReport(input(`within-${uniq()}`, 4_000));
    const budget = `${plan.rollback.budgetMs / 1000} s`;
    expect(fs.readFileSync(over.markdownFile, 'utf8')).toContain(
      `**Over its budget**: the rollback took ${((plan.rollback.budgetMs + 61_500) / 1000).toFixed(2)} s, its budget (\`rollback.budget\`) is ${budget}, exceeded by 61.50 s.`,
    );
    expect(fs.readFileSync(within.markdownFile, 'utf8')).toContain(`Within its budget of ${budget}`);
    expect(JSON.parse(fs.readFileSync(over.jsonFile, 'utf8')).result.overBudget).toBe(true);
  });

  it.each(['..', '.', 'a/../../etc'])(
    'refuses the migration ID %j: nothing is written outside the folder',
    async (id) => {
      const outside = fs.readdirSync(path.dirname(reportDir)).sort();
      await expect(writeRollbackReport(input(id, 1_000))).rejects.toThrow(/migrationId: expected 1 to 128 letters/);
      expect(fs.readdirSync(path.dirname(reportDir)).sort()).toEqual(outside);
    },
  );
});

describe('reports from any machine: stored in the ledger database, read back by readReport', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let client: Client;
  const urlEnv = `MO_TEST_STORED_REPORTS_URL_${uniq()}`;
  const reportDir = path.join(tempDir('mo-stored-reports'), 'reports');
  const demo = loadPlan(path.join(ROOT, 'plans', 'demo.yaml'));
  const plan: Plan = {
    ...demo,
    target: { ...demo.target, databaseUrlEnv: urlEnv, reportDir },
    ledger: { databaseUrlEnv: urlEnv, table: 'migration_ledger' },
  };
  // readReport finds the plan (its ledger, its report folder) in the migration's history: started on a task queue no
  // worker polls, the migration is only that first event.
  const started: string[] = [];
  async function migrationInTemporal(migrationId: string, withPlan = plan): Promise<void> {
    await client.workflow.start('migrationWorkflow', {
      taskQueue: `mo-stored-reports-nobody-${uniq()}`,
      workflowId: migrationId,
      args: [{ migrationId, plan: withPlan, startedBy: 'reports-test' }],
    });
    started.push(migrationId);
  }

  beforeAll(async () => {
    db = await scratchDatabase('mo_stored_reports');
    process.env[urlEnv] = db.url;
    const connection = await Connection.connect(config.temporalConnection);
    client = new Client({ connection, namespace: config.temporalNamespace, dataConverter: clientDataConverter() });
  });
  afterAll(async () => {
    for (const id of started)
      await client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined);
    await client.connection.close();
    await db.drop();
    delete process.env[urlEnv];
    fs.rmSync(path.dirname(reportDir), { recursive: true, force: true });
  });

  const rollbackInput = (migrationId: string, reason: string) => rollbackReportInput(plan, migrationId, { reason });

  const rows = (migrationId: string) =>
    withPg(db.url, (c) =>
      c.query<{ kind: string; markdown: string; writes: number }>(
        'select kind, markdown, writes from migration_ledger_reports where migration_id = $1',
        [migrationId],
      ),
    ).then((r) => r.rows);

  it('the rollback report goes to <ledger>_reports; readReport reads it there once its files are gone', async () => {
    const migrationId = `stored-${uniq()}`;
    await migrationInTemporal(migrationId);
    const files = await writeRollbackReport(rollbackInput(migrationId, 'error rate up'));
    expect(files.stored).toEqual({ table: 'migration_ledger_reports' });
    const markdown = fs.readFileSync(files.markdownFile, 'utf8');
    const json = fs.readFileSync(files.jsonFile, 'utf8');
    // Another machine: no report folder.
    fs.rmSync(path.dirname(files.markdownFile), { recursive: true });

    const read = await readReport(client, migrationId, 'rollback');
    expect(read).toEqual({ markdown, json, source: 'ledger', location: 'migration_ledger_reports' });
    expect(await rows(migrationId)).toEqual([{ kind: 'rollback', markdown, writes: 1 }]);
  });

  it('a retried activity writes the same row again, in place', async () => {
    const migrationId = `retried-${uniq()}`;
    await migrationInTemporal(migrationId);
    await writeRollbackReport(rollbackInput(migrationId, 'first attempt'));
    const again = await writeRollbackReport(rollbackInput(migrationId, 'second attempt'));
    expect(again.stored).toEqual({ table: 'migration_ledger_reports' });
    const [row, ...more] = await rows(migrationId);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ kind: 'rollback', writes: 2 });
    expect(row?.markdown).toContain('Reason: second attempt');
    expect((await readReport(client, migrationId, 'rollback')).markdown).toBe(
      fs.readFileSync(again.markdownFile, 'utf8'),
    );
  });

  it('stores the completion report with its chart', async () => {
    const migrationId = `chart-${uniq()}`;
    await migrationInTemporal(migrationId);
    const at = new Date().toISOString();
    const evaluations: GateEvaluation[] = [1, 2].map((n) => ({
      phase: 'soak',
      step: `soak check ${n}`,
      at,
      readings: [
        { name: 'error-rate', value: 0.001 * n, op: '<' as const, threshold: 0.05, passed: true, detail: 'ok', at },
      ],
      passed: true,
    }));
    const files = await writeCompletionReport({
      migrationId,
      // No success metrics to measure: the chart is what this test is about.
      plan: { ...plan, successMetrics: [] },
      status: { ...emptyStatus(migrationId), evaluations },
      codeLinesRemoved: 3,
    });
    expect(files.chartFile).toBe(path.join(path.dirname(files.markdownFile), 'completion-metrics.svg'));
    const svg = fs.readFileSync(files.chartFile!, 'utf8');
    fs.rmSync(path.dirname(files.markdownFile), { recursive: true });
    const read = await readReport(client, migrationId, 'completion');
    expect(read).toMatchObject({ source: 'ledger', chartSvg: svg });
    expect(read.markdown).toContain('completion-metrics.svg');
  });

  it('a check report is stored only when asked: a rehearsal runs the real checks and writes nothing', async () => {
    const checks = (migrationId: string, ledger?: Plan['ledger']) =>
      runChecks({
        migrationId,
        title: 'Pre-production validation',
        kind: 'validation',
        checks: [],
        databaseUrlEnv: urlEnv,
        reportDir,
        ...(ledger ? { ledger } : {}),
      });
    const asked = await checks(`asked-${uniq()}`, plan.ledger);
    expect(asked.stored).toEqual({ table: 'migration_ledger_reports' });
    const notAsked = await checks(`not-asked-${uniq()}`);
    expect(notAsked).not.toHaveProperty('stored');
    expect(await rows(asked.markdownFile.split(path.sep).at(-2)!)).toHaveLength(1);
    expect(await rows(notAsked.markdownFile.split(path.sep).at(-2)!)).toEqual([]);
  });

  it('with the ledger database down the report files are still written, and the store gives up in time', async () => {
    const notStored = {
      error: expect.stringMatching(/^not stored in the ledger database \(.+\); the files are written$/),
    };
    // A server that accepts connections and never answers: the worst case, a connection attempt that hangs.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hangingEnv = `MO_TEST_HANGING_LEDGER_URL_${uniq()}`;
    process.env[hangingEnv] = `postgres://u:p@127.0.0.1:${(silent.address() as net.AddressInfo).port}/ledger`;
    // A stopped server: nothing listens on the port.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const stoppedEnv = `MO_TEST_STOPPED_LEDGER_URL_${uniq()}`;
    process.env[stoppedEnv] = `postgres://u:p@127.0.0.1:${(closed.address() as net.AddressInfo).port}/ledger`;
    await new Promise((resolve) => closed.close(resolve));
    try {
      const t0 = Date.now();
      const hanging = await writeReportFiles(
        reportDir,
        `hanging-${uniq()}`,
        'rollback',
        '# Rollback',
        { ok: true },
        {
          ledger: { databaseUrlEnv: hangingEnv, table: 'migration_ledger' },
        },
      );
      expect(Date.now() - t0).toBeLessThan(REPORT_STORE_LIMIT_MS + 1_500);
      expect(hanging.stored).toEqual(notStored);
      expect(fs.readFileSync(hanging.markdownFile, 'utf8')).toBe('# Rollback');

      // The rollback's own report, its ledger database stopped: written at once, and it says it was not stored.
      const t1 = Date.now();
      const files = await writeRollbackReport({
        ...rollbackInput(`stopped-${uniq()}`, 'database gone'),
        plan: { ...plan, ledger: { databaseUrlEnv: stoppedEnv, table: 'migration_ledger' } },
      });
      expect(Date.now() - t1).toBeLessThan(1_000);
      expect(files.stored).toEqual(notStored);
      expect(fs.readFileSync(files.markdownFile, 'utf8')).toContain('Reason: database gone');
    } finally {
      delete process.env[hangingEnv];
      delete process.env[stoppedEnv];
      silent.close();
    }
  });

  it('readReport falls back to the report folder on this machine, and says what it tried when there is neither', async () => {
    const migrationId = `local-${uniq()}`;
    // The ledger's variable is not set on this machine (an operator without the database URL).
    const localEnv = `MO_TEST_UNSET_LEDGER_URL_${uniq()}`;
    const local: Plan = { ...plan, ledger: { databaseUrlEnv: localEnv, table: 'migration_ledger' } };
    await migrationInTemporal(migrationId, local);
    const files = await writeRollbackReport({ ...rollbackInput(migrationId, 'local'), plan: local });
    expect(files.stored).toEqual({ error: expect.stringContaining(localEnv) });
    expect(await readReport(client, migrationId, 'rollback')).toEqual({
      markdown: fs.readFileSync(files.markdownFile, 'utf8'),
      json: fs.readFileSync(files.jsonFile, 'utf8'),
      source: 'file',
      location: files.markdownFile,
    });
    await expect(readReport(client, migrationId, 'completion')).rejects.toMatchObject({
      code: 3,
      message: expect.stringContaining(`${localEnv} is not set here`),
    });
    await expect(readReport(client, `missing-${uniq()}`, 'rollback')).rejects.toMatchObject({ code: 3 });
  });

  const emptyStatus = (migrationId: string): MigrationStatus => ({
    migrationId,
    name: plan.name,
    phase: 'complete',
    paused: false,
    trafficPercent: 100,
    gates: {},
    lastReadings: {},
    evaluations: [],
    backups: [],
    compensations: [],
    reports: {},
    audit: [],
    phaseTimeline: [],
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    runs: 0,
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { loadPlan } from '../../client/plan';
import { evaluateMetrics } from '../../activities/checks';
import { appendLedger } from '../../activities/ledger';
import { writeCompletionReport, writeRollbackReport } from '../../activities/reports';
import type { GateEvaluation, MigrationStatus } from '../../workflows/definitions';
import type { Plan } from '../../workflows/plan';
import { planDigest } from '../../workflows/signatures';
import { scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';
import { parseSvg, pointsPerSeries } from '../helpers/svg';

const ROOT = path.join(__dirname, '..', '..');
const IMAGE = '![Gate metrics across the traffic steps and the soak](completion-metrics.svg)';

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

  const input = (migrationId: string, durationMs: number) => ({
    migrationId,
    plan,
    reason: 'error rate up',
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
  });

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

import fs from 'node:fs';
import path from 'node:path';
import { loadPlan } from '../../client/plan';
import { runChecks } from '../../activities/checks';
import { type CheckResult } from '../../model/status';
import { writeCompletionReport, writeRollbackReport } from '../../activities/reports';
import type { GateEvaluation, MigrationStatus } from '../../model/status';
import type { CheckSpec, Plan } from '../../model/plan';
import { scratchDatabase, tempDir, uniq } from '../helpers/stack';

const ROOT = path.join(__dirname, '..', '..');
/** A sustained rate as the load test reads it: the text rounds it, the JSON keeps every digit. */
const RATE = 71571.5177;

/** The same measurements in every report: a rate far above its threshold, an error rate just above its limit. */
const CHECKS: CheckSpec[] = [
  {
    name: 'load-test',
    description: 'Sustained load',
    measure: { kind: 'sql', query: `select ${RATE}` },
    op: '>=',
    threshold: 1000,
    unit: 'items/h',
  },
  {
    name: 'error-rate',
    description: 'Error rate',
    measure: { kind: 'sql', query: 'select 0.0104' },
    op: '<=',
    threshold: 0.01,
  },
];

describe('numbers for people in the written reports, full precision in their JSON', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let plan: Plan;
  const urlEnv = `MO_TEST_REPORT_NUMBERS_URL_${uniq()}`;
  const reportDir = tempDir('mo-report-numbers');

  beforeAll(async () => {
    db = await scratchDatabase('mo_report_numbers');
    process.env[urlEnv] = db.url;
    const demo = loadPlan(path.join(ROOT, 'plans', 'demo.yaml'));
    plan = {
      ...demo,
      target: { ...demo.target, databaseUrlEnv: urlEnv, reportDir },
      ledger: { databaseUrlEnv: urlEnv, table: 'migration_ledger' },
      successMetrics: CHECKS,
    };
  });
  afterAll(async () => {
    await db.drop();
    delete process.env[urlEnv];
    fs.rmSync(reportDir, { recursive: true, force: true });
  });

  const read = (file: string) => fs.readFileSync(file, 'utf8');

  it('completion report: grouped, rounded readings with units; the JSON keeps the raw values', async () => {
    const evaluation: GateEvaluation = {
      phase: 'traffic-shift',
      step: 'traffic 25%',
      at: '2026-12-08T09:00:00.000Z',
      passed: false,
      readings: [
        {
          name: 'throughput',
          value: RATE,
          op: '>=',
          threshold: 500,
          unit: 'items/h',
          passed: true,
          detail: '',
          at: '',
        },
        { name: 'error-rate', value: 0.0104, op: '<=', threshold: 0.01, passed: false, detail: '', at: '' },
      ],
    };
    const status: MigrationStatus = {
      migrationId: 'report-numbers',
      name: plan.name,
      phase: 'gate:sign-off',
      paused: false,
      trafficPercent: 100,
      gates: {},
      lastReadings: {},
      evaluations: [evaluation],
      backups: [
        {
          step: 'initial',
          file: '/backups/initial.dump',
          sha256: 'ab'.repeat(32),
          bytes: 1_536_000,
          tables: {},
          verified: true,
          verifiedAt: '2026-12-08T08:00:00.000Z',
        },
      ],
      compensations: [],
      reports: {},
      audit: [],
      phaseTimeline: [],
      startedAt: '2026-12-08T07:00:00.000Z',
      updatedAt: '2026-12-08T09:00:00.000Z',
      runs: 0,
    };
    const migrationId = `numbers-complete-${uniq()}`;
    const files = await writeCompletionReport({ migrationId, plan, status, codeLinesRemoved: 12_345 });

    const md = read(files.markdownFile);
    expect(md).toContain('| Code reduction (legacy lines archived) | > 0 lines | 12,345 lines | pass |');
    expect(md).toContain('| Sustained load | >= 1,000 items/h | 71,572 items/h | pass |');
    // Rounded no further than its verdict allows: 0.0104 would read "0.01", the limit itself.
    expect(md).toContain('| Error rate | <= 0.01 | 0.0104 | FAIL |');
    expect(md).toContain('- 2026-12-08T09:00:00.000Z traffic 25%: throughput=71,572 items/h, error-rate=0.0104 FAIL');
    expect(md).toContain('- initial: /backups/initial.dump (1.46 MiB, sha256 ');
    expect(md).not.toContain('71571');

    const json = JSON.parse(read(files.jsonFile)) as {
      rows: { metric: string; value: number | null }[];
      status: MigrationStatus;
    };
    expect(json.rows.find((r) => r.metric === 'Sustained load')?.value).toBe(RATE);
    expect(json.rows.find((r) => r.metric === 'Error rate')?.value).toBe(0.0104);
    expect(json.status.evaluations[0]!.readings[0]!.value).toBe(RATE);
    expect(json.status.backups[0]!.bytes).toBe(1_536_000);
  });

  it('validation report: the same numbers in its table; the JSON keeps the raw values', async () => {
    const migrationId = `numbers-validation-${uniq()}`;
    const report = await runChecks({
      migrationId,
      title: 'Validation',
      kind: 'validation',
      checks: CHECKS,
      databaseUrlEnv: urlEnv,
      reportDir,
    });

    const md = read(report.markdownFile);
    expect(md).toContain('| load-test | 71,572 items/h | >= 1,000 items/h | pass |');
    expect(md).toContain('| error-rate | 0.0104 | <= 0.01 | FAIL |');
    expect(md).not.toContain('71571');

    const json = JSON.parse(read(report.jsonFile)) as { results: CheckResult[] };
    expect(json.results.find((r) => r.name === 'load-test')).toMatchObject({ value: RATE, threshold: 1000 });
    expect(json.results.find((r) => r.name === 'error-rate')).toMatchObject({ value: 0.0104, threshold: 0.01 });
  });

  it('rollback report: durations in ms or s, verification readings grouped; the JSON keeps the raw values', async () => {
    const migrationId = `numbers-rollback-${uniq()}`;
    const verification: CheckResult[] = [
      {
        name: 'legacy-throughput',
        value: RATE,
        op: '>=',
        threshold: 1000,
        unit: 'items/h',
        passed: true,
        detail: '',
        durationMs: 3,
      },
    ];
    const files = await writeRollbackReport({
      migrationId,
      plan,
      reason: 'error rate up',
      requestedBy: 'olga',
      fromPhase: 'traffic-shift',
      result: {
        migrationId,
        undone: [
          { kind: 'traffic', ok: true, attempts: 1, durationMs: 12 },
          { kind: 'containers', ok: true, attempts: 2, durationMs: 1_500 },
        ],
        verified: true,
        failedChecks: [],
        startedAt: new Date(0).toISOString(),
        finishedAt: new Date(1_512).toISOString(),
        durationMs: 1_512,
      },
      verification,
    });

    const md = read(files.markdownFile);
    expect(md).toContain(': **1.51 s**.');
    expect(md).toContain('| traffic | undone | 1 | 12 ms |');
    expect(md).toContain('| containers | undone | 2 | 1.5 s |');
    expect(md).toContain('| legacy-throughput | 71,572 items/h | >= 1,000 items/h | pass |');

    const json = JSON.parse(read(files.jsonFile)) as {
      verification: CheckResult[];
      result: { durationMs: number; undone: { durationMs: number }[] };
    };
    expect(json.verification[0]!.value).toBe(RATE);
    expect(json.result.durationMs).toBe(1_512);
    expect(json.result.undone.map((u) => u.durationMs)).toEqual([12, 1_500]);
  });
});

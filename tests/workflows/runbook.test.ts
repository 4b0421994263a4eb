import { HAPPY_PHASES } from '../../lib/drive';
import type { MigrationStatus } from '../../model/status';
import type { Plan } from '../../model/plan';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, DAY, productionPlan, trafficCalls, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-runbook');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const phasesOf = (s: MigrationStatus) => s.phaseTimeline.map((p) => p.phase);

  it('runs every phase in order with the real durations (24 h parallel run, bakes, 2 h window, 7-day soak)', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result, status, elapsedMs } = await env.runMigration(acts);
    expect(result.phase).toBe('complete');
    expect([...new Set(phasesOf(status))]).toEqual([...new Set(HAPPY_PHASES)]);
    // 24 h + 4 × 8 h + 2 h + 7 d of plan time passed in virtual time.
    expect(elapsedMs).toBeGreaterThanOrEqual(DAY + 4 * 8 * 3_600_000 + 2 * 3_600_000 + 7 * DAY);
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 100]);
    expect(acts.backupDatabase.mock.calls.map((c) => c[0].step)).toEqual(['initial', 'pre-cutover']);
    // 4 traffic steps + monitoring window + 7 daily soak checks.
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 7);
    expect(status.gates['sign-off']?.signatures.map((s) => s.role)).toEqual([
      'technical-lead',
      'product-owner',
      'engineering-manager',
      'stakeholder',
    ]);
    expect(status.compensations.map((c) => c.kind)).toEqual([
      'traffic',
      'containers',
      'traffic',
      'unified-job',
      'legacy-jobs',
      'archive',
    ]);
    expect(result.reports.completion).toBe('/reports/completion.md');
    expect(acts.writeCompletionReport.mock.calls[0]![0].codeLinesRemoved).toBe(120);
    // Production changes come only after the verified initial backup.
    const backupOrder = acts.backupDatabase.mock.invocationCallOrder[0]!;
    for (const changing of [
      acts.deployUnified,
      acts.setTrafficPercent,
      acts.installUnifiedJob,
      acts.disableLegacyJobs,
      acts.archiveLegacyScripts,
    ]) {
      expect(changing.mock.invocationCallOrder[0]).toBeGreaterThan(backupOrder);
    }
    expect(acts.stopContainers).not.toHaveBeenCalled();
    // The ledger received every audit entry once, in order, with the evaluations' readings attached.
    // (The final status is the result's: the last rows are written after the phase turns complete.)
    const rows = acts.appendLedger.mock.calls.flatMap((c) => c[0].entries);
    const final = result.status;
    expect(rows.map((r) => r.seq)).toEqual(final.audit.map((_, i) => i));
    expect(rows.map((r) => r.kind)).toEqual(final.audit.map((a) => a.kind));
    expect(rows.filter((r) => r.kind === 'gate-evaluation' && r.data)).toHaveLength(4 + 1 + 7);
    expect(final.ledgerWritten).toBe(final.audit.length);
  });

  it('never waits for a notification receiver that hangs: the runbook goes on while deliveries are retried', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // A receiver that accepts and never answers: every attempt fails after a (real) while.
    acts.notify.mockImplementation(
      () => new Promise((_, reject) => setTimeout(() => reject(new Error('webhook: no answer')), 200)),
    );
    const { result, id } = await env.runMigration(acts);
    expect(result.phase).toBe('complete');
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const scheduled = (name: string) =>
      events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
    const firstNotice = scheduled('notify');
    const firstNoticeEnded = events.findIndex(
      (e) =>
        (e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes)?.scheduledEventId?.toString() ===
        events[firstNotice]!.eventId?.toString(),
    );
    // The backup after the go gate was started while the 'preflight passed' notice was still being retried.
    expect(firstNotice).toBeGreaterThan(0);
    expect(scheduled('backupDatabase')).toBeGreaterThan(firstNotice);
    expect(firstNoticeEnded === -1 || scheduled('backupDatabase') < firstNoticeEnded).toBe(true);
    expect(result.status.audit.some((a) => a.kind === 'notify-failed')).toBe(true);
  });

  it("gives the preflight's check run its checks' own limits, and each backup the plan's backupTimeout", async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan: Plan = { ...productionPlan, target: { ...productionPlan.target, backupTimeoutMs: 3 * 3_600_000 } };
    const { result, id } = await env.runMigration(acts, { plan });
    expect(result.phase).toBe('complete');
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const limitOf = (type: string) =>
      events
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === type)
        .map((a) => Number(a!.startToCloseTimeout!.seconds) * 1000);
    // The plan's checks allow 30 min + 1 h + 20 min (and more): one run of them is never cut at half an hour.
    const explicit = plan.preflight.reduce(
      (sum, c) => sum + (c.measure.kind !== 'sql' ? (c.measure.timeoutMs ?? 0) : 0),
      0,
    );
    expect(explicit).toBeGreaterThanOrEqual(30 * 60_000 + 3_600_000 + 20 * 60_000);
    const [checks] = limitOf('runChecks');
    expect(checks).toBeGreaterThan(explicit);
    expect(limitOf('backupDatabase')).toEqual([3 * 3_600_000, 3 * 3_600_000]);
    // Each still heartbeats: a dead worker is noticed within 20 s, whatever the limit.
    const heartbeats = events
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => ['runChecks', 'backupDatabase'].includes(a?.activityType?.name ?? ''))
      .map((a) => Number(a!.heartbeatTimeout!.seconds));
    expect(new Set(heartbeats)).toEqual(new Set([20]));
  });

  it('stops at a failed preflight check before any production change', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.runChecks.mockImplementationOnce(async (i) => ({
      kind: i.kind,
      title: i.title,
      passed: false,
      results: [
        {
          name: 'test-coverage',
          value: 71,
          op: '>',
          threshold: 90,
          passed: false,
          detail: 'coverage: 71%',
          durationMs: 1,
        },
      ],
      markdownFile: '/reports/validation.md',
      jsonFile: '/reports/validation.json',
      at: '',
    }));
    const { result, status } = await env.runMigration(acts);
    expect(result.phase).toBe('failed');
    expect(status.failure).toContain('test-coverage = 71');
    expect(acts.backupDatabase).not.toHaveBeenCalled();
    expect(acts.deployUnified).not.toHaveBeenCalled();
    expect(status.compensations).toEqual([]);
  });
});

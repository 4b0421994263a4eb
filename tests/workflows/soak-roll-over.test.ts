import { rollbackSignal } from '../../workflows/definitions';
import { stubActivities } from '../helpers/stub-activities';
import {
  createWorkflowEnv,
  eventsOf,
  productionPlan,
  quickPlan,
  sleep,
  type WorkflowEnv,
} from '../helpers/workflow-env';

// On the time-skipping server a query racing a continue-as-new can hang and hold virtual time still (seen with the
// Java test server 1.31), so the history roll-over is exercised on the dev server in real time, with short durations.
describe('migration workflow soak roll-over (stubbed activities, dev server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-soak');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('rolls the soak history over with continue-as-new and keeps its state; the status keeps the latest audit entries', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan = quickPlan({ soakMs: 1200 });
    const { status, result } = await env.runMigration(acts, { plan, soakChecksPerRun: 5, auditKept: 30 });
    expect(result.phase).toBe('complete');
    expect(status.runs).toBe(2);
    // The status (and the state carried into each run) kept the newest 30 audit entries; the ledger got every one.
    const final = result.status;
    expect(final.ledgerSeq).toBeGreaterThan(60);
    expect(final.audit.map((a) => a.seq)).toEqual(Array.from({ length: 30 }, (_, i) => final.ledgerSeq! - 30 + i));
    const rows = acts.appendLedger.mock.calls.flatMap((c) => c[0].entries);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: final.ledgerSeq! }, (_, i) => i));
    expect(rows.slice(-30).map((r) => r.detail)).toEqual(final.audit.map((a) => a.detail));
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 12);
    // State from the first run survived the roll-over.
    expect(status.backups.map((b) => b.step)).toEqual(['initial', 'pre-cutover']);
    expect(status.compensations.map((c) => c.kind)).toEqual([
      'traffic',
      'containers',
      'traffic',
      'unified-job',
      'legacy-jobs',
      'archive',
    ]);
  });

  it('a rollback asked for while the soak rolls over is not lost: it rolls back in that run', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // The cutover's notification is still on its way when the soak first rolls over: the run's end waits for it (3 s
    // at most), and the rollback arrives while it waits (after the soak check, before the continue-as-new).
    acts.notify.mockImplementation(async (n) => {
      if (n.event === 'cutover') await sleep(8_000);
      return { delivered: [] };
    });
    let sent = false;
    const { result, status, handle } = await env.runMigration(acts, {
      plan: quickPlan({ soakMs: 1_000 }),
      soakChecksPerRun: 1,
      onStatus: async (s) => {
        if (sent || s.phase !== 'soak' || acts.evaluateMetrics.mock.calls.length < 4 + 1 + 1) return false;
        sent = true;
        await sleep(300);
        await env.client.workflow
          .getHandle(s.migrationId)
          .signal(rollbackSignal, { requestedBy: 'olga', reason: 'at the roll-over' });
        return true;
      },
    });
    expect(sent).toBe(true);
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('at the roll-over');
    // Handled in the first run: it never continued as new, and only one soak check ran.
    expect(status.runs).toBe(0);
    expect((await eventsOf(handle)).some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(false);
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 1);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['legacy-jobs', 'unified-job', 'traffic', 'containers']);
  });
});

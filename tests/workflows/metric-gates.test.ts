import { rollbackWorkflowId } from '../../model/status';
import type { Plan } from '../../model/plan';
import { resumeSignal, retrySignal } from '../../workflows/definitions';
import { stubActivities, type StubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, productionPlan, trafficCalls, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-metric-gates');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('rolls back automatically when a metric gate fails during the traffic shift', async () => {
    const acts = stubActivities(productionPlan.metrics);
    let evaluations = 0;
    acts.evaluateMetrics.mockImplementation(async (i) =>
      i.metrics.map((m) => {
        const bad = m.name === 'error-rate' && ++evaluations === 3;
        return {
          name: m.name,
          value: bad ? 0.2 : m.threshold,
          op: m.op,
          threshold: m.threshold,
          passed: !bad,
          detail: '',
          at: '',
        };
      }),
    );
    const { result, status, id } = await env.runMigration(acts);
    expect(result.phase).toBe('rolled-back');
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 0]);
    expect(status.failure).toMatch(/metric gate failed at traffic 50%: error-rate = 0.2/);
    // Only this migration's containers, given the plan's stop grace (Docker's 10 s by default).
    expect(acts.stopContainers).toHaveBeenCalledWith('unified-pipeline', { migrationId: id, graceSeconds: 10 });
    // Rollback first: from the failed reading, the rollback workflow is the first thing started; the notification
    // and the ledger write come after it (before, both were awaited in front of it).
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const failedAt = events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'evaluateMetrics')
      .lastIndexOf(true);
    const after = events.slice(failedAt + 1);
    const first = after.findIndex(
      (e) =>
        e.startChildWorkflowExecutionInitiatedEventAttributes ||
        e.activityTaskScheduledEventAttributes ||
        e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    expect(after[first]?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name).toBe(
      'rollbackWorkflow',
    );
    // Undone newest first: traffic back to legacy before the containers stop.
    expect(acts.setTrafficPercent.mock.invocationCallOrder[4]).toBeLessThan(
      acts.stopContainers.mock.invocationCallOrder[0]!,
    );
    expect(result.rollback?.verified).toBe(true);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    const child = await env.client.workflow.getHandle(rollbackWorkflowId(result.migrationId)).describe();
    expect(child.status.name).toBe('COMPLETED');
  });

  const events = (a: StubActivities) => a.notify.mock.calls.map((c) => c[0].event);

  it('an inconclusive metric past its limit pauses and asks; retry measures again, resume goes on; dry-run metrics never decide', async () => {
    const plan: Plan = {
      ...productionPlan,
      metrics: productionPlan.metrics.map((m) =>
        m.name === 'throughput' ? { ...m, inconclusiveLimit: 1 } : m.name === 'error-rate' ? { ...m, dryRun: true } : m,
      ),
    };
    const acts = stubActivities(plan.metrics);
    // Throughput never has data; the error rate fails every time, but only as a dry run.
    acts.evaluateMetrics.mockImplementation(async (i) =>
      i.metrics.map((m) => ({
        name: m.name,
        value: m.name === 'throughput' ? null : m.name === 'error-rate' ? 0.5 : m.threshold,
        op: m.op,
        threshold: m.threshold,
        passed: m.name === 'throughput' ? null : m.name !== 'error-rate',
        detail: '',
        at: '',
        ...(m.dryRun ? { dryRun: true } : {}),
      })),
    );
    const decisions: string[] = [];
    const { result, status } = await env.runMigration(acts, {
      plan,
      onStatus: async (s) => {
        if (!s.paused || !s.attention) return false;
        expect(s.attention).toMatch(/throughput inconclusive .*migrate resume .*migrate retry .*migrate rollback/);
        const retry = decisions.length === 0;
        decisions.push(retry ? 'retry' : 'resume');
        await env.signalHandled(s.migrationId, (h) =>
          retry
            ? h.signal(retrySignal, { requestedBy: 'olga', reason: 'metrics exporter restarted' })
            : h.signal(resumeSignal, { requestedBy: 'olga', reason: 'no exporter for throughput yet' }),
        );
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(acts.stopContainers).not.toHaveBeenCalled();
    // Limit 1: the second inconclusive reading (25 %) paused; retry measured 25 % again, which paused again.
    const steps = status.evaluations.map((e) => `${e.step}${e.inconclusive ? ' ?' : ''}`);
    expect(steps.slice(0, 4)).toEqual(['traffic 10%', 'traffic 25% ?', 'traffic 25% ?', 'traffic 50%']);
    expect(decisions[0]).toBe('retry');
    expect(decisions.length).toBe(steps.filter((x) => x.endsWith('?')).length);
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 7 + 1);
    expect(status.audit.find((a) => a.kind === 'retry')).toMatchObject({
      actor: 'olga',
      detail: 'measure again: metrics exporter restarted',
    });
    expect(events(acts).filter((e) => e === 'inconclusive')).toHaveLength(decisions.length);
    // The dry-run metric failed at every evaluation and is recorded, but never counted.
    expect(status.evaluations.every((e) => e.passed)).toBe(true);
    expect(status.evaluations.every((e) => e.readings.find((r) => r.name === 'error-rate')?.passed === false)).toBe(
      true,
    );
  });
});

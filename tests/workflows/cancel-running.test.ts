import { Context } from '@temporalio/activity';
import { abortSignal, rollbackSignal } from '../../workflows/definitions';
import { stubActivities } from '../helpers/stub-activities';
import {
  createWorkflowEnv,
  eventsOf,
  operatorOnce,
  productionPlan,
  quickPlan,
  type WorkflowEnv,
} from '../helpers/workflow-env';

describe('migration workflow: cancelling running activities (stubbed activities, dev server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-cancel');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a rollback while the pre-cutover backup runs cancels that backup and rolls back at once', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const happy = acts.backupDatabase.getMockImplementation()!;
    // This backup never ends by itself: the migration can only get past it by cancelling it.
    acts.backupDatabase.mockImplementation(async (i) => {
      if (i.step !== 'pre-cutover') return happy(i);
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat('dumping');
        await ctx.sleep(200);
      }
    });
    const { result, status, handle } = await env.runMigration(acts, {
      plan: quickPlan(),
      // The pre-cutover backup, not the moment after the initial one (same phase, one backup, nothing deployed yet).
      onStatus: operatorOnce(
        env.client,
        (s) => s.phase === 'backup' && s.backups.length === 1 && s.compensations.length > 0,
        rollbackSignal,
        {
          requestedBy: 'olga',
          reason: 'hold everything',
        },
      ),
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('hold everything');
    expect(status.backups.map((b) => b.step)).toEqual(['initial']);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(status.audit.find((a) => a.kind === 'cancelled')).toMatchObject({
      actor: 'olga',
      detail: 'running activity cancelled: hold everything',
    });
    // The workflow asked the server to cancel the running backup, and never scheduled the cutover.
    const events = await eventsOf(handle);
    expect(events.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(1);
    expect(acts.installUnifiedJob).not.toHaveBeenCalled();
  });

  it('an abort while the first backup retries a database that is down ends it without waiting out the retries', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.backupDatabase.mockImplementation(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    });
    const { result, status, handle } = await env.runMigration(acts, {
      plan: quickPlan(),
      onStatus: operatorOnce(
        env.client,
        (s) => s.phase === 'backup' && acts.backupDatabase.mock.calls.length >= 2,
        abortSignal,
        {
          requestedBy: 'olga',
          reason: 'database maintenance',
        },
      ),
    });
    // Nothing had changed in production: aborted, not failed after eight attempts, and nothing to undo.
    expect(result.phase).toBe('aborted');
    expect(status.failure).toBe('aborted by olga: database maintenance');
    expect(acts.backupDatabase.mock.calls.length).toBeLessThan(8);
    expect(result.rollback).toBeUndefined();
    expect(acts.setTrafficPercent).not.toHaveBeenCalled();
    const events = await eventsOf(handle);
    expect(events.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(0);
  });
});

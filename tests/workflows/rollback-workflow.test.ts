import { ApplicationFailure } from '@temporalio/common';
import { rollbackSignal } from '../../workflows/definitions';
import { rollbackWorkflow } from '../../workflows/rollback';
import { rollbackWorkflowId } from '../../model/status';
import { stubActivities } from '../helpers/stub-activities';
import { uniq } from '../helpers/stack';
import {
  createWorkflowEnv,
  ledgerRows,
  operatorOnce,
  productionPlan,
  quickPlan,
  sleep,
  type WorkflowEnv,
} from '../helpers/workflow-env';

describe('rollback workflow: failures after the undo, budget, undo order (stubbed activities, dev server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-rollback');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a rollback workflow that fails after its undo (report disk full) leaves the migration failed with both causes and every outcome', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.writeRollbackReport.mockRejectedValue(
      ApplicationFailure.nonRetryable('ENOSPC: no space left on device, write', 'Error'),
    );
    const { result, status } = await env.runMigration(acts, {
      plan: quickPlan(),
      onStatus: operatorOnce(
        env.client,
        (s) => s.phase === 'traffic-shift' && s.trafficPercent === 25,
        rollbackSignal,
        {
          requestedBy: 'olga',
          reason: 'error rate up',
        },
      ),
    });
    expect(result.phase).toBe('failed');
    expect(status.failure).toMatch(/^error rate up; the rollback workflow failed: .*ENOSPC: no space left on device/);
    expect(status.failure).toContain('undo: traffic undone, containers undone');
    expect(acts.stopContainers).toHaveBeenCalled();
    const undone = status.audit.filter((a) => a.kind === 'undone').map((a) => a.detail);
    expect(undone).toEqual(['traffic: undone after 1 attempt(s)', 'containers: undone after 1 attempt(s)']);
    // In the ledger too, with each outcome's data.
    expect(
      ledgerRows(acts)
        .filter((r) => r.kind === 'undone')
        .map((r) => (r.data as { kind: string }).kind),
    ).toEqual(['traffic', 'containers']);
  });

  it('a rollback past rollback.budget notifies when the budget passes and reports it', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.stopContainers.mockImplementation(async () => {
      await sleep(1_500);
      return { stopped: [], skipped: [] } as never;
    });
    const plan = { ...quickPlan(), rollback: { ...productionPlan.rollback, budgetMs: 500 } };
    const { result } = await env.runMigration(acts, {
      plan,
      onStatus: operatorOnce(
        env.client,
        (s) => s.phase === 'traffic-shift' && s.trafficPercent === 10,
        rollbackSignal,
        {
          requestedBy: 'olga',
          reason: 'slow rollback',
        },
      ),
    });
    expect(result.phase).toBe('rolled-back');
    expect(result.rollback).toMatchObject({ budgetMs: 500, overBudget: true });
    const over = acts.notify.mock.calls.map((c) => c[0]).filter((n) => n.event === 'rollback-over-budget');
    expect(over).toHaveLength(1);
    expect(over[0]!.text).toMatch(/past its budget of 1 s \(rollback.budget\)/);
    const rolledBack = acts.notify.mock.calls.map((c) => c[0]).find((n) => n.event === 'rolled-back');
    expect(rolledBack?.text).toMatch(
      /^Rolled back from traffic-shift in [\d.]+ s, OVER its budget of 1 s: slow rollback/,
    );
    expect(acts.writeRollbackReport.mock.calls[0]![0].result).toMatchObject({ budgetMs: 500, overBudget: true });
  });

  it('a rollback puts the archived scripts back before it enables their cron lines again', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan = quickPlan();
    const times: Record<string, number> = {};
    acts.restoreArchivedScripts.mockImplementation(async () => {
      await sleep(500);
      times.scriptsBack = Date.now();
      return { reverted: ['abc123'] } as never;
    });
    acts.enableLegacyJobs.mockImplementation(async () => {
      times.cronEnabled = Date.now();
      return { restored: plan.legacyJobs.map((j) => j.name) } as never;
    });
    const at = new Date().toISOString();
    const { worker, taskQueue } = await env.createWorker(acts);
    const migrationId = `order-${uniq()}`;
    const result = await worker.runUntil(() =>
      env.client.workflow.execute(rollbackWorkflow, {
        taskQueue,
        // A rollback's ID is its migration's rollback ID (admission refuses another).
        workflowId: rollbackWorkflowId(migrationId),
        args: [
          {
            migrationId,
            plan,
            compensations: [
              { kind: 'legacy-jobs', scheduler: plan.scheduler, jobs: plan.legacyJobs, at },
              { kind: 'archive', repository: plan.target.repository, at, startedAt: at },
            ],
            reason: 'order test',
            requestedBy: 'olga',
            fromPhase: 'gate:sign-off',
          },
        ],
      }),
    );
    expect(result.undone.map((u) => [u.kind, u.ok])).toEqual([
      ['archive', true],
      ['legacy-jobs', true],
    ]);
    expect(times.cronEnabled).toBeGreaterThanOrEqual(times.scriptsBack!);
  });
});

import { ApplicationFailure } from '@temporalio/common';
import type { Phase } from '../../model/constants';
import { abortSignal, failSignal, resumeSignal, retrySignal, rollbackSignal } from '../../workflows/definitions';
import { stubActivities, type StubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, productionPlan, trafficCalls, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-requests');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('after a clean soak, a failing archive or completion report pauses and asks; resume runs it again, nothing undone', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // A script path that moved (archive) and a 60-s coverage run (report): permanent failures of each step once.
    acts.archiveLegacyScripts.mockRejectedValueOnce(
      ApplicationFailure.create({ message: 'scripts/legacy/batch_scorer.py does not exist', nonRetryable: true }),
    );
    acts.writeCompletionReport.mockRejectedValueOnce(
      ApplicationFailure.create({ message: 'success metric coverage: command timed out', nonRetryable: true }),
    );
    const asked: string[] = [];
    const { result, status } = await env.runMigration(acts, {
      onStatus: async (s) => {
        if (!s.paused || !s.attention || asked.includes(s.attention)) return false;
        asked.push(s.attention);
        await env.client.workflow.getHandle(s.migrationId).signal(resumeSignal, { requestedBy: 'olga' });
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(asked).toEqual([
      expect.stringMatching(
        /^archive blocked: scripts\/legacy\/batch_scorer\.py does not exist\. Production is not rolled back/,
      ),
      expect.stringMatching(/^completion report blocked: success metric coverage/),
    ]);
    expect(acts.archiveLegacyScripts).toHaveBeenCalledTimes(2);
    expect(acts.writeCompletionReport).toHaveBeenCalledTimes(2);
    expect(acts.stopContainers).not.toHaveBeenCalled();
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 100]);
    expect(status.phaseTimeline.map((p) => p.phase)).not.toContain('rolling-back');
  });

  // Rollback requested by a person from every phase that changes production.
  const rollbackCases: [Phase, string[], (a: StubActivities) => void][] = [
    [
      'deploy',
      ['containers', 'traffic'],
      // Deploy is an activity, not a wait: make it take long enough for the signal to land while it runs.
      (a) =>
        a.deployUnified.mockImplementation(async () => {
          await new Promise((r) => setTimeout(r, 500));
          return [];
        }),
    ],
    ['parallel-run', ['containers', 'traffic'], () => undefined],
    ['traffic-shift', ['traffic', 'containers'], () => undefined],
    ['cutover', ['legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
    ['soak', ['legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
    ['gate:sign-off', ['archive', 'legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
  ];
  it.each(rollbackCases)(
    'a rollback signal during %s undoes %j in reverse order and verifies',
    async (phase, undone, setup) => {
      const acts = stubActivities(productionPlan.metrics);
      setup(acts);
      let sent = false;
      const { result, status } = await env.runMigration(acts, {
        onStatus: async (s) => {
          if (sent || s.phase !== phase) return false;
          sent = true;
          await env.client.workflow
            .getHandle(s.migrationId)
            .signal(rollbackSignal, { reason: `test from ${phase}`, requestedBy: 'oncall' });
          return true;
        },
      });
      expect(sent).toBe(true);
      expect(result.phase).toBe('rolled-back');
      expect(result.rollback?.undone.map((u) => u.kind)).toEqual(undone);
      expect(result.rollback?.undone.every((u) => u.ok)).toBe(true);
      expect(status.audit.some((a) => a.kind === 'rollback-requested' && a.actor === 'oncall')).toBe(true);
      if (undone.includes('traffic')) expect(trafficCalls(acts).at(-1)).toBe(0);
      if (undone.includes('legacy-jobs')) expect(acts.enableLegacyJobs).toHaveBeenCalledTimes(1);
      if (undone.includes('archive')) expect(acts.restoreArchivedScripts).toHaveBeenCalledTimes(1);
      expect(acts.runChecks.mock.calls.at(-1)![0].kind).toBe('rollback-verification');
    },
  );

  it('abort before any production change ends as aborted with nothing to undo', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result } = await env.runMigration(acts, {
      approve: () => false,
      onStatus: async (s) => {
        if (s.phase !== 'gate:go') return false;
        await env.client.workflow
          .getHandle(s.migrationId)
          .signal(abortSignal, { requestedBy: 'olga', reason: 'postponed' });
        return true;
      },
    });
    expect(result.phase).toBe('aborted');
    expect(acts.backupDatabase).not.toHaveBeenCalled();
    expect(result.rollback).toBeUndefined();
  });

  it('fail stops the running step by hand and rolls back; retry with nothing to decide is refused', async () => {
    const acts = stubActivities(productionPlan.metrics);
    let sent = false;
    const { result, status } = await env.runMigration(acts, {
      onStatus: async (s) => {
        if (sent || s.phase !== 'traffic-shift' || s.trafficPercent !== 25 || !s.waitingUntil) return false;
        sent = true;
        await env.signalHandled(s.migrationId, (h) => h.signal(retrySignal, { requestedBy: 'olga' }));
        await env.signalHandled(s.migrationId, (h) =>
          h.signal(failSignal, { requestedBy: 'olga', reason: 'customers report wrong scores' }),
        );
        return true;
      },
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('step traffic-shift failed by hand by olga: customers report wrong scores');
    expect(status.audit.find((a) => a.kind === 'rejected')?.detail).toBe(
      'retry by olga: no gate evaluation is waiting for a decision',
    );
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 0]);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(status.audit.filter((a) => a.kind === 'undone').map((a) => a.detail)).toEqual([
      'traffic: undone after 1 attempt(s)',
      'containers: undone after 1 attempt(s)',
    ]);
  });
});

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runDemo, type DemoOutcome } from '../../demo/demo';
import { temporalCliEnv } from '../../lib/codec';
import { requireEnv, temporalCliArgs } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { migrateCli } from '../helpers/cli';
import { expectLegacyRestored, systemSnapshot as snapshot } from '../helpers/end-state';
import { recordFaults } from '../helpers/fault-summary';
import { shortWaits, shortWaitsPlanFile } from '../helpers/short-waits';
import { config, stackClient, uniq } from '../helpers/stack';
import { rollbackWorkflowId } from '../../model/status';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/**
 * The operator's worker for the hand-started rollback. `start()` is called while the demo migration runs (once the demo
 * has set the target's variables), so the worker's start-up overlaps the migration instead of following it; it polls
 * the demo's queue meanwhile, and serves the rollback once the demo's own worker has stopped with the demo.
 */
function operatorWorker(log: string) {
  let worker: WorkerProcess | undefined;
  const start = () => {
    if (worker) return;
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', log));
    // Awaited by `ready()`; a worker that dies before then fails that, not the process.
    worker.ready.catch(() => undefined);
  };
  return {
    start,
    ready: async () => {
      start();
      await worker!.ready;
    },
    stop: async () => worker?.stop(),
  };
}

describe('a rollback started by hand', () => {
  it('rolls back a terminated migration from its recorded undo list; the same rollback again changes nothing', async () => {
    let terminatedAt: number | undefined;
    const worker = operatorWorker('hand-rollback-worker.log');
    try {
      const outcome = await runDemo({
        plan: PLAN,
        print: () => undefined,
        // The rollback is under test, not the waits before it.
        adjustPlan: shortWaits,
        // Someone terminates the workflow half-way through the traffic shift: no rollback runs by itself.
        onStatus: async (s, handle) => {
          worker.start();
          if (s.phase !== 'traffic-shift' || s.trafficPercent !== 50) return;
          terminatedAt = s.trafficPercent;
          await handle.terminate('terminated by an operator (fault test)');
          return 'stop';
        },
      });
      expect(terminatedAt).toBe(50);
      await handRollbackTwice(outcome, worker);
    } finally {
      await worker.stop();
    }
  }, 400_000);

  async function handRollbackTwice(outcome: DemoOutcome, worker: ReturnType<typeof operatorWorker>): Promise<void> {
    const row = { suite: 'rollback', kind: 'fault' as const };
    try {
      await worker.ready();
      const before = await snapshot(outcome);
      expect(before.routing).toEqual([{ percent: 50 }]);
      expect(before.containers.map((c) => c.running)).toEqual([true]);
      // Someone holds the rollback's workflow ID with a workflow of their own, on a queue nobody serves (it runs for
      // ever): it must not block the rollback.
      const client = await stackClient();
      const squatter = await client.workflow.start('squatter', {
        taskQueue: `nobody-${uniq()}`,
        workflowId: rollbackWorkflowId(outcome.workflowId),
      });

      const first = await migrateCli([
        'rollback',
        outcome.workflowId,
        '--reason',
        'terminated by mistake',
        '--as',
        'olga',
      ]);
      expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified in [\d.]+ s/) });
      const fallback = new RegExp(
        `^warning: ${rollbackWorkflowId(outcome.workflowId)} is held by a squatter on task queue nobody-\\S+, not our rollback: the rollback runs as (${rollbackWorkflowId(outcome.workflowId)}-[0-9a-f-]{36})$`,
        'm',
      );
      const ranAs = fallback.exec(first.stderr)?.[1];
      expect(ranAs).toBeDefined();
      expect((await client.workflow.getHandle(ranAs!).describe()).status.name).toBe('COMPLETED');
      await expectLegacyRestored(outcome);
      const report = first.stdout.match(/report: (\S+)/)![1]!;
      expect(fs.readFileSync(report, 'utf8')).toContain('terminated by mistake');
      const after = await snapshot(outcome);
      expect(after.history?.at(-1)).toMatchObject({ old_percent: 50, new_percent: 0 });
      recordFaults([{ ...row, what: 'hand-started rollback of a terminated migration', ok: true }]);

      const second = await migrateCli(['rollback', outcome.workflowId, '--reason', 'once more', '--as', 'olga']);
      expect(second).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified/) });
      // Idempotent: the second run found everything undone and changed nothing (no routing row, commit, crontab edit).
      expect(await snapshot(outcome)).toEqual(after);
      recordFaults([{ ...row, what: 'the same rollback run twice: second changes nothing', ok: true }]);
      await squatter.terminate('test over');
      await client.connection.close();
    } catch (err) {
      recordFaults([{ ...row, what: 'hand-started rollback, twice', ok: false }]);
      throw err;
    }
  }

  it('rolls back from the ledger alone once the migration is deleted from Temporal (temporal workflow delete)', async () => {
    const worker = operatorWorker('ledger-rollback-worker.log');
    // The waits shortened in a plan file of their own: the rollback below finds the ledger through that very file.
    const plan = shortWaitsPlanFile(PLAN);
    try {
      const outcome = await runDemo({
        plan: plan.file,
        print: () => undefined,
        // Past the cutover (crontab edited, unified job installed, all traffic unified), the workflow is terminated.
        onStatus: async (s, handle) => {
          worker.start();
          if (s.phase !== 'soak') return;
          await handle.terminate('terminated by an operator (fault test)');
          return 'stop';
        },
      });
      await rollbackFromLedger(outcome, worker, plan.file);
    } finally {
      await worker.stop();
      plan.remove();
    }
  }, 400_000);

  async function rollbackFromLedger(
    outcome: DemoOutcome,
    worker: ReturnType<typeof operatorWorker>,
    planFile: string,
  ): Promise<void> {
    const row = { suite: 'rollback', kind: 'fault' as const };
    const id = outcome.workflowId;
    const temporal = (...args: string[]) =>
      execFileSync(requireEnv('TEMPORAL_CLI_PATH'), temporalCliArgs(config, ...args), {
        encoding: 'utf8',
        env: temporalCliEnv(),
        // The stock CLI asks before deleting one workflow (1.9); the answer is on its standard input.
        input: 'y\n',
        // Its errors (the deleted workflow not found, as expected) go into the thrown error, not the test log.
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    temporal('workflow', 'delete', '--workflow-id', id);
    // Deletion is asynchronous on the server: wait until the workflow is gone.
    for (let i = 0; i < 450; i++) {
      try {
        temporal('workflow', 'describe', '--workflow-id', id);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(() => temporal('workflow', 'describe', '--workflow-id', id)).toThrow();
    try {
      await worker.ready();
      const before = await snapshot(outcome);
      expect(before.routing).toEqual([{ percent: 100 }]);
      expect(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' })).not.toBe(
        outcome.crontab,
      );
      // Without a way to the ledger it says what to give; with the plan file it rolls back from the ledger.
      const blind = await migrateCli(['rollback', id, '--reason', 'history lost', '--as', 'olga']);
      expect(blind).toMatchObject({ code: 3, stderr: expect.stringContaining('--plan <file>') });
      const r = await migrateCli(['rollback', id, '--plan', planFile, '--reason', 'history lost', '--as', 'olga']);
      expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified in [\d.]+ s/) });
      await expectLegacyRestored(outcome);
      const report = fs.readFileSync(r.stdout.match(/report: (\S+)/)![1]!, 'utf8');
      expect(report).toMatch(/rolled back from phase \*\*(cutover|soak)\*\*/);
      recordFaults([{ ...row, what: 'rollback from the ledger after temporal workflow delete', ok: true }]);
    } catch (err) {
      recordFaults([{ ...row, what: 'rollback from the ledger after temporal workflow delete', ok: false }]);
      throw err;
    }
  }
});

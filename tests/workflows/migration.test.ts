import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { BackupRecord } from '../../workflows/definitions';
import { abortSignal, approveSignal, statusQuery } from '../../workflows/definitions';
import type { MigrationInput } from '../../workflows/migration';
import { migrationWorkflow } from '../../workflows';
import { uniq } from '../helpers/stack';
import { bundleWorkflows, createTimeSkippingEnv, eventually, firstTaskCompleted } from '../helpers/temporal';

const backup: BackupRecord = {
  step: 'pre-go',
  file: '/backups/m/pre-go.dump',
  sha256: 'abc',
  bytes: 10,
  tables: { 'public.t': 1 },
  verified: true,
  verifiedAt: '2026-01-01T00:00:00.000Z',
};

describe('migration workflow logic (stubbed activities, time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([createTimeSkippingEnv(), bundleWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  function stubActivities() {
    const backupDatabase = jest.fn<
      ReturnType<Activities['backupDatabase']>,
      Parameters<Activities['backupDatabase']>
    >();
    backupDatabase.mockResolvedValue(backup);
    return { backupDatabase } as unknown as Activities & { backupDatabase: typeof backupDatabase };
  }

  async function withWorker<T>(activities: Activities, fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `test-${uniq()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    return worker.runUntil(fn(taskQueue));
  }

  const input = (id: string): MigrationInput => ({
    migrationId: id,
    name: 'unit',
    databaseUrlEnv: 'TARGET_DATABASE_URL',
    backupDir: '/backups',
    goRoles: ['technical-lead', 'product-owner'],
  });

  it('takes the verified backup first, then waits for every role of the go gate, rejecting what does not fit', async () => {
    const acts = stubActivities();
    const result = await withWorker(acts, async (taskQueue) => {
      const id = `wf-${uniq()}`;
      const handle = await env.client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [input(id)],
      });
      await firstTaskCompleted(handle);
      await eventually(
        () => handle.query(statusQuery),
        (s) => s.phase === 'gate:go',
      );

      await handle.signal(approveSignal, { role: 'stakeholder', approver: 'eve' });
      await handle.signal(approveSignal, { gate: 'sign-off', role: 'technical-lead', approver: 'tina' });
      await handle.signal(approveSignal, { role: 'technical-lead', approver: 'tina' });
      await handle.signal(approveSignal, { role: 'technical-lead', approver: 'tom' });
      const mid = await handle.query(statusQuery);
      expect(mid.phase).toBe('gate:go');
      expect(mid.approvals.map((a) => a.approver)).toEqual(['tina']);
      expect(mid.audit.filter((a) => a.kind === 'rejected').map((a) => a.detail)).toEqual([
        expect.stringContaining('role stakeholder is not one of'),
        expect.stringContaining('gate sign-off: gate is not open'),
        expect.stringContaining('role technical-lead already signed'),
      ]);

      await handle.signal(approveSignal, { role: 'product-owner', approver: 'paula', comment: 'ok' });
      return handle.result();
    });
    expect(acts.backupDatabase).toHaveBeenCalledTimes(1);
    expect(acts.backupDatabase.mock.calls[0]![0]).toMatchObject({
      step: 'pre-go',
      databaseUrlEnv: 'TARGET_DATABASE_URL',
    });
    expect(result.phase).toBe('complete');
    expect(result.backups).toEqual([backup]);
    expect(result.approvals.map((a) => `${a.role}:${a.approver}`)).toEqual([
      'technical-lead:tina',
      'product-owner:paula',
    ]);
  });

  it('ends as aborted when the abort signal arrives at the gate', async () => {
    const acts = stubActivities();
    const err = await withWorker(acts, async (taskQueue) => {
      const id = `wf-${uniq()}`;
      const handle = await env.client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [input(id)],
      });
      await firstTaskCompleted(handle);
      await eventually(
        () => handle.query(statusQuery),
        (s) => s.phase === 'gate:go',
      );
      await handle.signal(abortSignal, { reason: 'not today', requestedBy: 'olga' });
      return handle.result().catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toMatchObject({
      type: 'MigrationAborted',
      message: expect.stringContaining('not today'),
    });
  });
});

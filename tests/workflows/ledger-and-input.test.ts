import { ApplicationFailure } from '@temporalio/common';
import type { Plan } from '../../model/plan';
import type { MigrationStatus } from '../../model/status';
import { resumeSignal } from '../../workflows/definitions';
import { migrationWorkflow } from '../../workflows/migration';
import { uniq } from '../helpers/stack';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, ledgerRows, productionPlan, quickPlan, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow: ledger and input checks (stubbed activities, dev server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-ledger');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('writes each undo record, with its data, to the ledger before the change it undoes', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result } = await env.runMigration(acts, { plan: quickPlan() });
    expect(result.phase).toBe('complete');
    const batchWith = (kind: string) =>
      acts.appendLedger.mock.calls.findIndex((c) =>
        c[0].entries.some((e) => e.kind === 'compensation' && (e.data as { kind?: string })?.kind === kind),
      );
    const order = (i: number) => acts.appendLedger.mock.invocationCallOrder[i]!;
    for (const [kind, change] of [
      ['containers', acts.deployUnified],
      ['unified-job', acts.installUnifiedJob],
      ['legacy-jobs', acts.disableLegacyJobs],
      ['archive', acts.archiveLegacyScripts],
    ] as const) {
      expect(batchWith(kind)).toBeGreaterThanOrEqual(0);
      expect(order(batchWith(kind))).toBeLessThan(change.mock.invocationCallOrder[0]!);
    }
    // The plan run is in the ledger's first row: with the undo records, all a rollback from the ledger needs.
    const started = ledgerRows(acts).find((r) => r.kind === 'started')!;
    expect((started.data as { plan: Plan }).plan).toEqual(quickPlan());
  });

  /** Stubs whose ledger writes fail while `ledger.down`, each entry counted once when written (as the table's key). */
  function flakyLedger() {
    const acts = stubActivities(productionPlan.metrics);
    const ledger = { down: false, written: [] as number[] };
    acts.appendLedger.mockImplementation(async (i) => {
      // Not retried within one write (each would wait out its retries): the next checkpoint tries again.
      if (ledger.down) throw ApplicationFailure.nonRetryable('connect ECONNREFUSED 127.0.0.1:5432', 'Error');
      for (const e of i.entries) if (!ledger.written.includes(e.seq)) ledger.written.push(e.seq);
      return { inserted: i.entries.length };
    });
    return { acts, ledger };
  }

  /** An `onStatus` hook that, the first time the migration stops for its ledger, brings the ledger back and resumes. */
  const resumeOnLedgerStop =
    (ledger: { down: boolean }, seen: { status?: MigrationStatus }) => async (s: MigrationStatus) => {
      if (seen.status || !s.paused || !s.attention?.includes('cannot be written')) return false;
      seen.status = s;
      ledger.down = false;
      await env.client.workflow.getHandle(s.migrationId).signal(resumeSignal, { requestedBy: 'olga' });
      return true;
    };

  it('a ledger that cannot be written stops the migration at its bound, drops nothing, and goes on once written', async () => {
    const { acts, ledger } = flakyLedger();
    // The ledger goes down when the soak starts (after the traffic steps and the monitoring window), once.
    const evaluate = acts.evaluateMetrics.getMockImplementation()!;
    acts.evaluateMetrics.mockImplementation(async (i) => {
      if (acts.evaluateMetrics.mock.calls.length === 4 + 1 + 1) ledger.down = true;
      return evaluate(i);
    });
    const seen: { status?: MigrationStatus } = {};
    const { result, status } = await env.runMigration(acts, {
      plan: quickPlan({ soakMs: 1_500 }),
      soakChecksPerRun: 4,
      pendingLedgerMax: 10,
      onStatus: resumeOnLedgerStop(ledger, seen),
    });
    expect(seen.status?.phase).toBe('soak');
    expect(seen.status?.attention).toMatch(
      /^the ledger \(migration_ledger at \$\w+\) cannot be written: 1\d entries wait; more than a run may hold/,
    );
    expect(result.phase).toBe('complete');
    // Every entry reached the ledger, in order, none dropped.
    expect(ledger.written).toEqual(Array.from({ length: status.ledgerSeq! }, (_, i) => i));
  });

  it('refuses a migration ID that would name a folder outside the backup and report folders', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { worker, taskQueue } = await env.createWorker(acts);
    const failure = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: `dotdot-${uniq()}`,
        args: [{ migrationId: '..', plan: quickPlan(), startedBy: 'test' }],
      });
      return handle.result().then(
        () => undefined,
        (err: Error & { cause?: Error }) => err,
      );
    });
    expect(failure?.cause?.message).toMatch(/^migrationId: expected 1 to 128 letters.*got "\.\."/);
    expect(acts.runChecks).not.toHaveBeenCalled();
  });
});

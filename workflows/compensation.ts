import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  patched,
  startChild,
  uuid4,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { LedgerEntry } from '../model/status';
import type { Phase } from '../model/constants';
import { rollbackWorkflowId } from '../model/status';
import { rollbackMetric } from './metrics';
import { overBudget, type RollbackFailureDetails, type RollbackResult, type UndoOutcome } from '../model/status';
import { rollbackWorkflow } from './rollback';
import { Interrupt, type MigrationState } from './state';

/** Undo of a routing change: every item back on the legacy path. */
export async function recordTrafficUndo(s: MigrationState): Promise<void> {
  await s.record({
    kind: 'traffic',
    router: s.plan.traffic.router,
    databaseUrlEnv: s.plan.target.databaseUrlEnv,
    restorePercent: 0,
    at: new Date().toISOString(),
  });
}

/** The interrupt an error that left the forward path stands for (an activity that failed for good is a failed step). */
export function interruptFor(s: MigrationState, err: unknown): Interrupt {
  if (err instanceof Interrupt) return s.interrupt ?? err;
  // An activity that failed for good (after its retries) leaves production as it is and rolls back what changed.
  const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return s.stepFailed(`step ${s.status.phase} failed: ${message}`);
}

/**
 * Leaves the forward path: an abort or a failed step with nothing changed yet ends the migration at once; otherwise
 * the rollback workflow undoes every recorded change and verifies the legacy path.
 */
export async function compensate(s: MigrationState, why: Interrupt): Promise<void> {
  const { status } = s;
  if (why.action === 'abort' && status.compensations.length === 0) {
    const failure = s.recordFailure(`aborted by ${why.requestedBy}: ${why.reason}`);
    s.enter('aborted');
    await s.notify('aborted', 'migration aborted', failure);
    return;
  }
  // A step that failed before anything in production changed (e.g. the first backup) leaves nothing to undo: the
  // migration fails with that step's error instead of running a rollback whose verification has nothing to verify.
  // Patched: histories recorded before this change ran the rollback here. Not in `changes`: a run in flight would then
  // decide it false, and one that recorded it here would not replay.
  if (
    why.kind === 'step-failed' &&
    status.compensations.length === 0 &&
    (s.changes.settledAtStart || patched('fail-without-rollback-when-nothing-changed'))
  ) {
    const failure = s.recordFailure(why.reason);
    s.enter('failed');
    await s.notify('failed', 'migration failed before any production change', failure);
    return;
  }
  s.recordFailure(why.reason);
  const fromPhase = status.phase;
  s.enter('rolling-back');
  rollbackMetric(s.migrationId, fromPhase, why.kind);
  // Patched: histories recorded before this change notified and wrote the ledger first, then started the rollback.
  if (s.changes.rollbackFirst) {
    // Nothing waits in front of the rollback: it starts at once (carrying the entries the ledger does not have yet,
    // for its report), and the notification and the ledger write go beside it.
    const child = await startRollback(s, why, fromPhase, s.unwritten());
    await Promise.all([
      s.notify('rollback', 'rolling back', `From phase ${fromPhase}: ${why.reason}`),
      s.flushLedger(),
    ]);
    const rollback = await rollbackResult(s, why, child);
    if (!rollback) return;
    recordRollback(s, why, rollback);
    // The rollback leaves its notification to this workflow (sent beside, given a moment at the end).
    await s.notify(
      'rolled-back',
      `rollback ${rollback.verified ? 'verified' : 'NOT verified'}`,
      `Rolled back from ${fromPhase} in ${(rollback.durationMs / 1000).toFixed(1)} s${overBudget(rollback)}: ${why.reason}\nReport: ${rollback.reportFile}${leftText(rollback)}`,
      {
        report: rollback.reportFile,
        verified: rollback.verified,
        ...(rollback.overBudget ? { overBudget: true } : {}),
      },
    );
    return;
  }
  await s.notify('rollback', 'rolling back', `From phase ${fromPhase}: ${why.reason}`);
  // The rollback report reads what led here from the ledger: write it first.
  await s.flushLedger();
  const rollback = await rollbackResult(s, why, await startRollback(s, why, fromPhase));
  if (rollback) recordRollback(s, why, rollback);
}

/**
 * The rollback's result; a rollback workflow that failed (its report's disk full, its verification's activity out of
 * retries, terminated) ends the migration `failed` with both causes and the undo outcomes its failure carries, never
 * stuck in `rolling-back`. Undefined then: the migration is settled.
 */
async function rollbackResult(
  s: MigrationState,
  why: Interrupt,
  child: ChildWorkflowHandle<typeof rollbackWorkflow>,
): Promise<RollbackResult | undefined> {
  try {
    return await child.result();
  } catch (err) {
    const cause = err instanceof ChildWorkflowFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    const details = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
    const undone = (details as RollbackFailureDetails | undefined)?.undone ?? [];
    auditUndone(s, why, undone);
    const outcomes = undone.length
      ? `undo: ${undone.map((u) => `${u.kind} ${u.ok ? 'undone' : 'FAILED'}`).join(', ')}`
      : `no undo outcome came back (see workflow ${rollbackWorkflowId(s.migrationId)})`;
    const failure = s.recordFailure(
      `${s.status.failure ?? why.reason}; the rollback workflow failed: ${message}; ${outcomes}`,
      'replace',
    );
    s.enter('failed');
    await s.notify(
      'failed',
      'rollback failed',
      `${failure}\n\nRun it again with \`migrate rollback ${s.migrationId}\`.`,
    );
    return undefined;
  }
}

/** Each undo outcome in the audit log and the ledger. */
function auditUndone(s: MigrationState, why: Interrupt, undone: UndoOutcome[]): void {
  for (const u of undone)
    s.audit(
      'undone',
      `${u.kind}: ${u.ok ? 'undone' : `FAILED (${u.error ?? 'unknown error'})`} after ${u.attempts} attempt(s)`,
      why.requestedBy,
      u,
    );
}

/** Starts the rollback workflow (its own, so it survives this one and can be started by hand). */
async function startRollback(
  s: MigrationState,
  why: Interrupt,
  fromPhase: Phase,
  recent?: LedgerEntry[],
): Promise<ChildWorkflowHandle<typeof rollbackWorkflow>> {
  const start = (workflowId: string) =>
    startChild(rollbackWorkflow, {
      workflowId,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [
        {
          migrationId: s.migrationId,
          plan: s.plan,
          compensations: s.status.compensations,
          reason: why.reason,
          requestedBy: why.requestedBy,
          fromPhase,
          ...(recent?.length ? { recent } : {}),
          // The rollback re-verifies the migration's own start proof and checks it was started by this run.
          ...(s.changes.admission && s.input.proof ? { proof: s.input.proof } : {}),
        },
      ],
    });
  const id = rollbackWorkflowId(s.migrationId);
  if (!s.changes.admission) return start(id);
  try {
    return await start(id);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // Another workflow holds the rollback's ID (a squatter started under it): the rollback cannot be blocked, it starts
    // under an ID nobody could predict (uuid4 is the workflow's seeded, replay-safe generator), and the audit says so.
    const fallback = `${id}-${uuid4()}`;
    s.audit('rollback-id-taken', `workflow ID ${id} is held by another workflow: the rollback runs as ${fallback}`);
    return start(fallback);
  }
}

/** Records the undo outcomes and ends the migration rolled back, or failed if the legacy path did not verify. */
function recordRollback(s: MigrationState, why: Interrupt, rollback: RollbackResult): void {
  auditUndone(s, why, rollback.undone);
  s.recordRollback(rollback);
  s.enter(rollback.verified ? 'rolled-back' : 'failed');
  // The cause stays first: the verification failure is added to it, never replaces it.
  if (!rollback.verified)
    s.recordFailure(`rollback verification failed: ${rollback.failedChecks.join('; ')}${leftText(rollback)}`, 'append');
}

/** For a person, when the rollback left steps: what runs now, and the commands that finish the rollback. */
function leftText(rollback: RollbackResult): string {
  if (!rollback.toDo?.length) return '';
  const runs = (rollback.runningNow ?? []).map((l) => `\n  ${l}`).join('');
  const todo = rollback.toDo.map((l) => `\n  ${l}`).join('');
  return `\nWhat runs now:${runs}\nTo finish the rollback:${todo}`;
}

import { CancellationScope, condition, patched } from '@temporalio/workflow';
import type { MigrationState, Notice } from './state';
import { timerSummary, waitLabel, type Wait } from '../model/summaries';

/** Between steps: writes the ledger, stops here while paused, leaves the forward path on abort/rollback. */
export async function checkpoint(s: MigrationState): Promise<void> {
  await s.flushLedger();
  while (s.ledgerBacklogged() && !s.interrupt) await s.ledgerBlocked('more than a run may hold');
  await condition(() => !s.status.paused || s.interrupt !== undefined);
  if (s.interrupt) throw s.interrupt;
}

/**
 * Runs a production-neutral activity (checks, backups, readings, comparison) so that rollback, abort or fail cancels
 * it at once, also while it waits out its retries (a database that is down), instead of at the next step boundary.
 * Activities that change production are not wrapped: they run to their end, so the undo meets a settled state.
 * Patched: histories recorded before this waited for the activity.
 */
export async function interruptible<T>(s: MigrationState, run: () => Promise<T>): Promise<T> {
  // Not in `changes`: recorded histories have its marker after the first search attributes; moved, they fail replay.
  if (!(s.changes.settledAtStart || patched('interrupt-cancels-neutral-activity'))) return run();
  if (s.interrupt) throw s.interrupt;
  return CancellationScope.cancellable(async () => {
    const work = run();
    const stop = condition(() => s.interrupt !== undefined);
    // Whichever loses is cancelled below; its rejection is expected and must not surface as unhandled.
    work.catch(() => undefined);
    stop.catch(() => undefined);
    try {
      await Promise.race([work, stop]);
    } finally {
      // Requests the activity's cancellation if the interrupt came first; ends the watcher if the activity did.
      CancellationScope.current().cancel();
    }
    if (s.interrupt) {
      s.audit('cancelled', `running activity cancelled: ${s.interrupt.reason}`, s.interrupt.requestedBy);
      throw s.interrupt;
    }
    return work;
  });
}

/** A durable, interruptible wait (bake, parallel run, monitoring window, soak interval). */
export async function hold(s: MigrationState, ms: number, wait: Wait): Promise<void> {
  const what = waitLabel(wait);
  s.setWaiting(wait, ms);
  s.audit('wait', `${what}: ${Math.round(ms / 1000)} s`);
  await s.flushLedger();
  await condition(() => s.interrupt !== undefined, ms, { summary: timerSummary(what, ms) });
  s.clearWaiting();
  await checkpoint(s);
}

/** Asks a person to decide on a gate evaluation (`MigrationState.pauseAndAsk`), and waits for the decision. */
export async function askPerson(
  s: MigrationState,
  attention: string,
  audited: string,
  notice: Notice,
): Promise<'resume' | 'retry'> {
  await s.pauseAndAsk(attention, notice, audited);
  return s.decision();
}

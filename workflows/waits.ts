import { CancellationScope, condition, patched } from '@temporalio/workflow';
import type { MigrationState } from './state';
import { timerSummary } from '../model/summaries';

/** Between steps: writes the ledger, stops here while paused, leaves the forward path on abort/rollback. */
export async function checkpoint(s: MigrationState): Promise<void> {
  await s.flushLedger();
  while (s.ledgerBacklogged() && !s.interrupt) await s.ledgerBlocked('more than a run may hold');
  await condition(() => !s.status.paused || s.interrupt !== undefined);
  if (s.interrupt) throw s.interrupt;
}

/** Waits for a person's decision on a gate evaluation: resume (go on), retry (measure again) or rollback/abort. */
export async function decision(s: MigrationState): Promise<'resume' | 'retry'> {
  await s.flushLedger();
  s.awaitingDecision = true;
  s.retryRequested = undefined;
  await condition(() => !s.status.paused || s.retryRequested !== undefined || s.interrupt !== undefined);
  s.awaitingDecision = false;
  s.status.attention = undefined;
  if (s.interrupt) throw s.interrupt;
  if (s.retryRequested) {
    s.status.paused = false;
    return 'retry';
  }
  return 'resume';
}

/**
 * Runs a production-neutral activity (checks, backups, readings, comparison) so that rollback, abort or fail cancels
 * it at once, also while it waits out its retries (a database that is down), instead of at the next step boundary.
 * Activities that change production are not wrapped: they run to their end, so the undo meets a settled state.
 * Patched: histories recorded before this waited for the activity.
 */
export async function interruptible<T>(s: MigrationState, run: () => Promise<T>): Promise<T> {
  if (!patched('interrupt-cancels-neutral-activity')) return run();
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
export async function hold(s: MigrationState, ms: number, what: string): Promise<void> {
  const { status } = s;
  status.waitingSince = new Date(Date.now()).toISOString();
  status.waitingUntil = new Date(Date.now() + ms).toISOString();
  status.waitingFor = what;
  s.audit('wait', `${what}: ${Math.round(ms / 1000)} s`);
  await s.flushLedger();
  await condition(() => s.interrupt !== undefined, ms, { summary: timerSummary(what, ms) });
  status.waitingUntil = status.waitingSince = status.waitingFor = undefined;
  s.showCard();
  await checkpoint(s);
}

/** Asks a person to decide: pauses with what is wrong and which command decides, notifies, waits for the decision. */
export async function askPerson(
  s: MigrationState,
  attention: string,
  audited: string,
  notice: { event: string; subject: string; text: string; data?: Record<string, unknown> },
): Promise<'resume' | 'retry'> {
  s.status.paused = true;
  s.status.attention = attention;
  s.audit('paused', audited);
  await s.notify(notice.event, notice.subject, notice.text, notice.data);
  return decision(s);
}

import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import type { Plan } from './plan';
import { NON_RETRYABLE_ERROR_TYPES } from './constants';

/** Every activity the runbook calls, with the options that bound it, in one place. */
const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

/**
 * Long activities (backup, checks, containers, metrics, comparison, routing) heartbeat every few seconds: a worker
 * that dies under one is noticed within the heartbeat timeout and the activity runs again on another worker.
 */
export const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry,
});

/** Short ones (crontab edits, git, notifications, reports) do not heartbeat; their start-to-close limit is the bound. */
export const quick = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry });

/**
 * Ledger writes are short, idempotent inserts on the worker that runs the workflow: a local activity records one
 * marker event instead of a task-queue round trip (the production plan writes some 40 batches).
 */
export const ledgerActs = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 5 },
});

/**
 * Notifications go out beside the runbook, never awaited by a phase: each attempt is short (a receiver that hangs is
 * given up on after 20 s) and the attempts go on in the background, with backoff, for some six minutes.
 */
export const noticeActs = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 6,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
});

/** The rollback's retries: short and quick, a rollback must finish in seconds. */
const rollbackRetry = {
  initialInterval: '200 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 5,
} as const;

/**
 * The rollback's undo steps, verification and report run as local activities: short, idempotent, and on the worker
 * that runs the rollback, so no step waits for a task queue round trip. A worker that dies mid-step makes the next
 * worker run that step again, which idempotence makes safe.
 */
export const rollbackLocal = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry: rollbackRetry,
});

/** The rollback's notification goes out through the task queue: it may be slow (SMTP) and must not hold the task. */
export const rollbackActs = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry: rollbackRetry });

/**
 * The completion report measures the success metrics: its limit is theirs (each check's own `timeout`, else the
 * command default of 60 s) plus a minute for the report, never the short activities' minute.
 */
export function reportActs(plan: Plan): ReturnType<typeof proxyActivities<Activities>> {
  const limit = (m: { kind: string; timeoutMs?: number }) => m.timeoutMs ?? (m.kind === 'http' ? 30_000 : 60_000);
  const measuring = plan.successMetrics.reduce((sum, c) => sum + limit(c.measure), 0);
  return proxyActivities<Activities>({ startToCloseTimeout: 60_000 + measuring, retry });
}

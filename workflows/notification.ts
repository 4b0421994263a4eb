import { getExternalWorkflowHandle, log, ParentClosePolicy, proxyActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NotifyInput } from '../activities/notify';
import { NON_RETRYABLE_ERROR_TYPES } from './constants';
import { notificationFailedSignal } from './definitions';

/** A notification sent beside the runbook: what to send, and which migration to tell if it cannot be delivered. */
export interface NotificationInput {
  notice: NotifyInput;
  /** The migration workflow that gets a `notificationFailed` signal when every attempt failed (if still running). */
  reportTo?: string;
}

/** How a notification went, after all its attempts. */
export interface NotificationResult {
  delivered: boolean;
  error?: string;
}

/**
 * Each attempt is short (a receiver that hangs is given up on within 20 s), and the attempts go on in the background
 * for some 20 minutes with backoff: nothing in the runbook waits for them.
 */
const send = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
});

/** Delivers one notification with its own retries; a delivery that fails for good is reported, never thrown. */
export async function notificationWorkflow(input: NotificationInput): Promise<NotificationResult> {
  try {
    await send.notify(input.notice);
    return { delivered: true };
  } catch (err) {
    const error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    log.warn('notification not delivered', { migrationId: input.notice.migrationId, event: input.notice.event, error });
    if (input.reportTo)
      await getExternalWorkflowHandle(input.reportTo)
        .signal(notificationFailedSignal, { event: input.notice.event, error })
        .catch(() => undefined); // the migration has ended: its notification's own history keeps the failure
    return { delivered: false, error };
  }
}

/**
 * Starts a notification beside the caller (its own workflow, which outlives the caller): the caller waits only for the
 * start, never for the receiver. `id` must be unique per notification.
 */
export async function notifyBeside(id: string, input: NotificationInput): Promise<void> {
  await startChild(notificationWorkflow, {
    workflowId: id,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [input],
    staticSummary: `Notification ${input.notice.event}: ${input.notice.subject}`,
  });
}

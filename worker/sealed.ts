import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { ErrorType } from '../model/constants';
import { unsealedMessage, unsealedReason } from '../model/sealed';

/**
 * Refuses an activity task whose input no known key sealed (the worker's codec hands it on as a marker,
 * `model/sealed.ts`), e.g. one a foreign workflow scheduled on an agent's queue: it fails for good, and nothing runs.
 */
export class SealedActivityInbound implements ActivityInboundCallsInterceptor {
  execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const reason = unsealedReason(input.args);
    if (!reason) return next(input);
    return Promise.reject(
      ApplicationFailure.create({
        nonRetryable: true,
        type: ErrorType.Unsealed,
        message: unsealedMessage(`activity ${activityInfo().activityType}`, reason),
      }),
    );
  }
}

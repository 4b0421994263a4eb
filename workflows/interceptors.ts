import {
  ApplicationFailure,
  log,
  workflowInfo,
  type QueryInput,
  type SignalInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type Next,
} from '@temporalio/workflow';
import { ErrorType } from '../model/constants';
import { unsealedMessage, unsealedReason } from '../model/sealed';

/** The refusal of a call whose input no known key sealed: non-retryable, so nothing waits for a retry. */
const refusal = (what: string, reason: string) =>
  ApplicationFailure.create({ nonRetryable: true, type: ErrorType.Unsealed, message: unsealedMessage(what, reason) });

/**
 * Refuses input no known key sealed (the worker's codec hands it on as a marker, `model/sealed.ts`), before any of
 * our workflow code sees it: a start fails the workflow at once, an Update is rejected by its validator (nothing in
 * the history), a signal is dropped and logged, a query fails. It adds no command, so histories replay unchanged; a
 * replay or a worker without codec keys never sees a marker.
 */
class SealedInbound implements WorkflowInboundCallsInterceptor {
  execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const reason = unsealedReason(input.args);
    // A rejected promise fails the workflow; thrown synchronously it would fail the workflow task, again and again.
    if (reason) return Promise.reject(refusal(`workflow ${workflowInfo().workflowType}`, reason));
    return next(input);
  }

  handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    const reason = unsealedReason(input.args);
    if (!reason) return next(input);
    log.warn('signal refused', {
      signal: input.signalName,
      reason: unsealedMessage(`signal ${input.signalName}`, reason),
    });
    return Promise.resolve();
  }

  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    const reason = unsealedReason(input.args);
    if (reason) throw refusal(`update ${input.name}`, reason);
    next(input);
  }

  handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    // Every Update of ours has a validator; this holds for one that would not.
    const reason = unsealedReason(input.args);
    if (reason) return Promise.reject(refusal(`update ${input.name}`, reason));
    return next(input);
  }

  handleQuery(input: QueryInput, next: Next<WorkflowInboundCallsInterceptor, 'handleQuery'>): Promise<unknown> {
    const reason = unsealedReason(input.args);
    if (reason) return Promise.reject(refusal(`query ${input.queryName}`, reason));
    return next(input);
  }
}

/** The workflow interceptors the bundle registers (`lib/workflow-bundle.ts`). */
export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new SealedInbound()] });

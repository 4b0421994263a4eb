import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  Next,
  WorkerInterceptors,
} from '@temporalio/worker';
import { SealedActivityInbound } from './sealed';
import { envSecrets, planEnvNames, redactDeep, redactError, withSecrets } from '../activities/redact';

/**
 * The last stop before workflow history: every activity runs with the values of the variables its input names (the
 * plan's `…Env` fields and `envFrom`) as secrets, and what it returns or throws (message, stack, causes, details) is
 * redacted by `activities/redact.ts` before the worker reports it to the server.
 */
export class RedactingActivityInbound implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const secrets = envSecrets(planEnvNames(input.args));
    try {
      return redactDeep(await withSecrets(secrets, () => next(input)), secrets);
    } catch (err) {
      throw redactError(err, secrets);
    }
  }
}

/**
 * The worker's interceptors: every worker that runs the real activities registers these. Unsealed input is refused
 * first, so nothing of ours runs on it.
 */
export const workerInterceptors: WorkerInterceptors = {
  activity: [() => ({ inbound: new SealedActivityInbound() }), () => ({ inbound: new RedactingActivityInbound() })],
};

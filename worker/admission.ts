import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  Next,
} from '@temporalio/worker';
import { ErrorType, WorkflowType } from '../model/constants';

const OUR_TYPES: readonly string[] = Object.values(WorkflowType);

/** How long a caller found to be ours is remembered (a migration schedules hundreds of activities). */
const KNOWN_MS = 5 * 60_000;

/**
 * An activity task runs only for one of our workflows, run by our workers: its caller (type and run, as the server
 * recorded them) must be a migration, rollback or scheduled-job workflow on one of our workflow task queues, so it ran
 * our workflow code, whose first step is admission. A foreign workflow (anyone's code on anyone's queue) that schedules
 * our activity types on an agent's or the central queue is refused before the activity runs. Local activities come
 * from this worker's own workflow code and pass.
 */
export function callerCheck(client: Client, workflowQueues: string[]): ActivityInterceptorsFactory {
  const known = new Map<string, number>();
  const problem = async (info: Context['info']): Promise<string | undefined> => {
    const { workflowType, workflowExecution: run, workflowNamespace } = info;
    if (!run || !OUR_TYPES.includes(workflowType ?? ''))
      return `scheduled by a ${workflowType ?? 'non-workflow'} workflow`;
    if (workflowNamespace !== client.options.namespace) return `scheduled from namespace ${workflowNamespace}`;
    const key = `${run.workflowId}/${run.runId}`;
    if ((known.get(key) ?? 0) > Date.now()) return undefined;
    const d = await client.workflow.getHandle(run.workflowId, run.runId).describe();
    if (d.type !== workflowType || !workflowQueues.includes(d.taskQueue))
      return `scheduled by a ${d.type} on task queue ${d.taskQueue}, not one of ours (${workflowQueues.join(', ')})`;
    known.set(key, Date.now() + KNOWN_MS);
    return undefined;
  };
  return () => ({
    inbound: new (class implements ActivityInboundCallsInterceptor {
      async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
        const { info } = Context.current();
        const bad = info.isLocal ? undefined : await problem(info);
        if (bad)
          throw ApplicationFailure.create({
            type: ErrorType.NotAdmitted,
            message: `activity ${info.activityType} refused: ${bad}; only an admitted migration's workflows run activities here`,
            nonRetryable: true,
          });
        return next(input);
      }
    })(),
  });
}

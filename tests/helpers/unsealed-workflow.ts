import { proxyActivities } from '@temporalio/workflow';

/**
 * A workflow that is not ours, run by a worker without our codec keys: it schedules one of our activity types on
 * another task queue (an agent's) with whatever input it likes, as anyone on the namespace could.
 */
export async function foreignWorkflow(taskQueue: string, activity: string, args: unknown[]): Promise<unknown> {
  const acts = proxyActivities<Record<string, (...a: unknown[]) => Promise<unknown>>>({
    taskQueue,
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  });
  return acts[activity]!(...args);
}

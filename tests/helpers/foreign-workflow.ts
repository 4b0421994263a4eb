import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';

/** Our activity `runJob` as anyone's workflow can schedule it, on any queue (an agent's). */
async function touchOn(queue: string, file: string): Promise<unknown> {
  const { runJob } = proxyActivities<Activities>({
    taskQueue: queue,
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
  return runJob({ name: 'foreign', schedule: '* * * * *', command: ['sh', '-c', `touch ${file}`] });
}

/** A foreign workflow (not ours, on a worker that is not ours) that schedules our activity types on an agent queue. */
export async function foreignWorkflow(queue: string, file: string): Promise<unknown> {
  return touchOn(queue, file);
}

/** The same, under our migration workflow's name: its task queue gives it away. */
export async function migrationWorkflow(queue: string, file: string): Promise<unknown> {
  return touchOn(queue, file);
}

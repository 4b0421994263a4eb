import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { JobSpec } from './plan';

const { runJob } = proxyActivities<Activities>({ startToCloseTimeout: '1 hour', retry: { maximumAttempts: 1 } });

/** What a job schedule (Temporal Schedules scheduler) starts: one run of the job's command on a worker. */
export async function scheduledJobWorkflow(input: { job: JobSpec }): Promise<{ code: number; output: string }> {
  return runJob(input.job);
}

import path from 'node:path';
import type { Client } from '@temporalio/client';
import { createAdmission } from '../../activities/admission';
import { loadPlan } from '../../client/plan';
import { DEMO_TRUST_FILE, demoStartProof } from '../../demo/keys';
import type { JobSpec, Plan } from '../../model/plan';
import type { ScheduledJobInput } from '../../model/status';

/**
 * The admission of an in-process test worker with real activities: the stack's trust file (the demo starter's key,
 * tests/global-setup.ts), as a worker process started by the tests has it through MO_TRUST_FILE.
 */
export const testAdmission = (client: Client, ...workflowQueues: string[]) =>
  createAdmission({ trustFile: DEMO_TRUST_FILE, client, workflowQueues });

/**
 * What a schedule our scheduler made starts: the job as the unified job of a plan (the demo's), that plan and the
 * migration's start proof signed by the demo starter.
 */
export async function admittedJob(job: JobSpec, migrationId: string): Promise<ScheduledJobInput> {
  const demo = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
  const plan = { ...demo, unifiedJob: job } as unknown as Plan;
  return { job, migrationId, plan, proof: await demoStartProof('start', migrationId, plan, 'test') };
}

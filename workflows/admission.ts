import { ApplicationFailure, log, workflowInfo } from '@temporalio/workflow';
import type { AdmitInput } from '../activities/admission';
import { ErrorType } from '../model/constants';
import { admitActs } from './proxies';

/** Fails the run, before any other activity, with the reason it is not admitted. */
export function notAdmitted(reason: string): never {
  throw ApplicationFailure.create({
    type: ErrorType.NotAdmitted,
    message: `not admitted: ${reason}`,
    nonRetryable: true,
  });
}

/** The input's migration ID must be the workflow's own ID (a run cannot claim another migration's folders and rows). */
export function refuseForeignId(migrationId: string, expected = workflowInfo().workflowId): void {
  if (migrationId !== expected)
    notAdmitted(`input.migrationId ${JSON.stringify(migrationId)} is not the workflow ID ${JSON.stringify(expected)}`);
}

/**
 * The run's first step: the worker checks its start proof against its own trust file (a local activity). A run not
 * admitted fails at once with the reason, having run nothing else.
 */
export async function admit(i: AdmitInput): Promise<string> {
  const a = await admitActs.admitRun(i);
  if (!a.admitted) notAdmitted(a.reason);
  log.info('admitted', { workflowId: i.workflowId, by: a.by, mode: a.mode });
  return `${a.by} (${a.mode})`;
}

import type { WorkflowHandle } from '@temporalio/client';

/** An activity the server is retrying: which one, how often it failed and why (read from the workflow's description). */
export interface RetryingActivity {
  activity: string;
  /** The attempt the server will run next (or is running). */
  attempt: number;
  maximumAttempts?: number;
  lastFailure: string;
  nextAttemptAt?: string;
}

const isoOf = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined =>
  t?.seconds == null ? undefined : new Date(Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6)).toISOString();

/**
 * Activities that failed at least once and are waiting for (or running) another attempt: a database or engine that is
 * down shows here with its error long before the step gives up. The workflow itself does not see server-side retries.
 */
export async function retryingActivities(handle: WorkflowHandle): Promise<RetryingActivity[]> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return pending
    .filter((a) => a.lastFailure?.message)
    .map((a) => ({
      activity: a.activityType?.name ?? 'activity',
      attempt: a.attempt ?? 1,
      ...(a.maximumAttempts ? { maximumAttempts: a.maximumAttempts } : {}),
      lastFailure: a.lastFailure?.message ?? '',
      ...(isoOf(a.nextAttemptScheduleTime) ? { nextAttemptAt: isoOf(a.nextAttemptScheduleTime) } : {}),
    }));
}

/** `retrying  backupDatabase, attempt 3 of 8 (next 12:00:03): connection refused` lines for `migrate status`. */
export function renderRetries(retries: RetryingActivity[]): string[] {
  return retries.map(
    (r) =>
      `  retrying  ${r.activity}, attempt ${r.attempt}${r.maximumAttempts ? ` of ${r.maximumAttempts}` : ''}${r.nextAttemptAt ? ` (next ${r.nextAttemptAt})` : ''}: ${r.lastFailure}`,
  );
}

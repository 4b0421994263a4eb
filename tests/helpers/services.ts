import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { retryingActivities, type RetryingActivity } from '../../client/retries';

const STACK = path.join(__dirname, '..', '..', 'scripts', 'stack');

/** A service of the local stack the fault tests take away (its data stays: database file, cluster, images). */
export type Service = 'temporal' | 'postgres' | 'docker';

/** Stops one service of the stack. */
export function stopService(service: Service): void {
  execFileSync('bash', [STACK, 'stop', service], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Starts whatever of the stack is not running (idempotent), with the data it had. */
export function startServices(): void {
  execFileSync('bash', [STACK, 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Polls until the server reports `activity` failed at least `attempts - 1` times and is retrying it. */
export async function waitForRetries(
  handle: WorkflowHandle,
  activity: string,
  attempts = 3,
  timeoutMs = 120_000,
): Promise<RetryingActivity> {
  for (const until = Date.now() + timeoutMs; Date.now() < until;) {
    const r = (await retryingActivities(handle).catch(() => [])).find(
      (a) => a.activity === activity && a.attempt >= attempts,
    );
    if (r) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`${activity} was not retried ${attempts - 1} times within ${timeoutMs / 1000} s`);
}

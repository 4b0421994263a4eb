import fs from 'node:fs';
import path from 'node:path';
import type { Plan } from '../../model/plan';
import { uniq } from './stack';

/** The shortened waits, in the plan file's words and as the loaded plan has them. */
const SHORT = {
  parallelRun: ['3s', 3_000],
  bake: ['2s', 2_000],
  monitoringWindow: ['2s', 2_000],
  soak: ['4s', 4_000],
  soakInterval: ['2s', 2_000],
} as const;

/**
 * The demo plan's durable waits shortened for tests that do not measure them: a parallel run of 3 s, bakes and the
 * monitoring window of 2 s, a soak of two 2-s checks (the plan's 6, 4, 4 and 9 s). Every step, gate and soak check
 * still runs for real; each wait is still several of the watcher's 300-ms polls long (tests act on the phase they
 * see), and 2 s at 10 % traffic still gives the gates items of both pipelines to measure (20 submissions/s).
 */
export function shortWaits(plan: Plan): void {
  plan.durations = {
    ...plan.durations,
    parallelRunMs: SHORT.parallelRun[1],
    bakeMs: SHORT.bake[1],
    monitoringWindowMs: SHORT.monitoringWindow[1],
    soakMs: SHORT.soak[1],
    soakIntervalMs: SHORT.soakInterval[1],
  };
}

/**
 * The same waits in a plan file, for a test that hands the file itself to the CLI (`migrate rollback --plan`): a copy
 * of `plan` beside it (its paths are relative to its folder) with the `durations` lines rewritten. `remove()` deletes it.
 */
export function shortWaitsPlanFile(plan: string): { file: string; remove: () => void } {
  let text = fs.readFileSync(plan, 'utf8');
  for (const [key, [value]] of Object.entries(SHORT)) {
    const line = new RegExp(`^(  ${key}: )\\S+$`, 'm');
    if (!line.test(text)) throw new Error(`${plan} has no durations.${key} line`);
    text = text.replace(line, `$1${value}`);
  }
  const file = path.join(path.dirname(plan), `.short-waits-${uniq()}.yaml`);
  fs.writeFileSync(file, text);
  return { file, remove: () => fs.rmSync(file, { force: true }) };
}

/**
 * Short retry budgets (the plan's `retry` block) for fault tests, which test that a failure is retried and then
 * handled, not the production half-minute between attempts: a failed step is tried again within a second, and a
 * worker killed under a step is noticed within 10 s (the long steps heartbeat every 2 s; 10 s leaves room for a
 * loaded machine and for the short steps that send no heartbeat). `maximumAttempts` sets how
 * long a step outlasts an outage (about one second an attempt).
 */
export function shortRetries(plan: Plan, maximumAttempts = 8, heartbeatTimeoutMs = 10_000): void {
  const step = { initialIntervalMs: 200, maximumIntervalMs: 1_000, maximumAttempts };
  plan.retry = {
    long: { ...step, heartbeatTimeoutMs },
    quick: { ...step, heartbeatTimeoutMs },
    notify: { ...step, maximumAttempts: Math.min(maximumAttempts, 6) },
    rollback: { initialIntervalMs: 200, maximumIntervalMs: 1_000, maximumAttempts: 5 },
  };
}

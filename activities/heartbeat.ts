import { Context } from '@temporalio/activity';

/** Heartbeats when running as an activity; a no-op when called directly (scripts, tests). */
export function heartbeat(detail: string): void {
  heartbeatDetails(detail);
}

/**
 * Heartbeats structured details: what a retry of the activity reads back with `previousHeartbeat` to resume. A no-op
 * outside an activity.
 */
export function heartbeatDetails(details: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}

/**
 * The details the previous attempt of the running activity heartbeated last, and this attempt's number; undefined
 * outside an activity, on a first attempt, or when the previous attempt recorded nothing.
 */
export function previousHeartbeat(): { attempt: number; details: unknown } | undefined {
  let info: Context['info'];
  try {
    info = Context.current().info;
  } catch {
    return undefined;
  }
  if (info.attempt <= 1 || info.heartbeatDetails === undefined) return undefined;
  return { attempt: info.attempt, details: info.heartbeatDetails };
}

/**
 * Calls `beat` (which heartbeats) at once and every `everyMs` while `work` runs, so one long step that cannot report
 * progress itself (a `count(*)` on a big table, a query waiting for a lock) does not outlast the heartbeat timeout.
 * Every 2 s, as commands do (`runBounded`); the SDK throttles what reaches the server.
 */
export async function heartbeatWhile<T>(beat: () => void, work: () => Promise<T>, everyMs = 2_000): Promise<T> {
  beat();
  const ticker = setInterval(beat, everyMs);
  try {
    return await work();
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Heartbeats every few seconds while `work` runs: one slow query (a comparison over a day of output), an HTTP check
 * that hangs until its timeout or a long command must not outlast the activity's heartbeat timeout (20 s) while it
 * is still making progress. Every 2 s, as commands do (`runBounded`); the SDK throttles what reaches the server.
 */
export function withHeartbeats<T>(detail: string, work: Promise<T>, everyMs = 2_000): Promise<T> {
  return heartbeatWhile(
    () => heartbeat(detail),
    () => work,
    everyMs,
  );
}

import { Context } from '@temporalio/activity';

/** Heartbeats when running as an activity; a no-op when called directly (scripts, tests). */
export function heartbeat(detail: string): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(detail);
}

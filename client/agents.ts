import type { Client } from '@temporalio/client';

/** Host-bound work a migration sent to an agent's task queue: which activity, where, and which worker took it. */
export interface AgentStep {
  activity: string;
  taskQueue: string;
  /** The identity of the worker that started it (`<pid>@<host>` by default), or why none has. */
  worker: string;
  /** How many tasks of this activity went there (a backup runs twice, an activity may be retried). */
  count: number;
}

/**
 * What ran on agents, read from the migration's history (its current run): every activity scheduled on a task queue
 * other than the workflow's own, grouped by activity, queue and worker. One not started yet waits for its agent.
 */
export async function agentSteps(client: Client, workflowId: string): Promise<AgentStep[]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const own = events[0]?.workflowExecutionStartedEventAttributes?.taskQueue?.name;
  const startedBy = new Map<string, string>();
  for (const e of events) {
    const a = e.activityTaskStartedEventAttributes;
    if (a) startedBy.set(String(a.scheduledEventId), a.identity ?? 'a worker');
  }
  const steps = new Map<string, AgentStep>();
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    const taskQueue = a?.taskQueue?.name;
    if (!a || !taskQueue || taskQueue === own) continue;
    const activity = a.activityType?.name ?? 'activity';
    const worker = startedBy.get(String(e.eventId)) ?? `waiting: no agent polling ${taskQueue} has taken it yet`;
    const key = `${activity}\0${taskQueue}\0${worker}`;
    const step = steps.get(key) ?? { activity, taskQueue, worker, count: 0 };
    step.count++;
    steps.set(key, step);
  }
  return [...steps.values()];
}

/** `  agent     backupDatabase ×2 on billing-db by 4242@db-host` lines for `migrate status`. */
export function renderAgentSteps(steps: AgentStep[]): string[] {
  return steps.map(
    (s) => `  agent     ${s.activity}${s.count > 1 ? ` ×${s.count}` : ''} on ${s.taskQueue} by ${s.worker}`,
  );
}

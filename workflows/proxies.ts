import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import type { CheckSpec, Plan, StepRetry } from '../model/plan';
import { DEFAULT_RETRY, NON_RETRYABLE_ERROR_TYPES, type HostSystem, type RetryKind } from '../model/constants';
import { agentQueueFor, onCommandsHost } from '../model/routing';
import { withSummaries } from '../model/summaries';

/**
 * The running workflow's retry budgets: the plan's `retry` block over the defaults. Module state is the workflow's
 * own (each workflow gets its own module instances in the sandbox); `useRetryBudgets` sets it at the start of a run,
 * before any activity is scheduled, and the proxies below are made afresh from it.
 */
let budgets: Plan['retry'] | undefined;
let generation = 0;

/** Applies the plan's `retry` block to every proxy of this workflow run (call first thing in a workflow). */
export function useRetryBudgets(plan: Pick<Plan, 'retry'>): void {
  budgets = plan.retry;
  generation++;
}

/** One kind of step's budget: the plan's values over the production defaults. */
function budget(kind: RetryKind): StepRetry {
  return { ...DEFAULT_RETRY[kind], ...(budgets?.[kind] ?? {}) };
}

/** The retry policy of one kind of step. */
function retryOf(kind: RetryKind): RetryPolicy {
  const b = budget(kind);
  return {
    initialInterval: b.initialIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: b.maximumIntervalMs,
    maximumAttempts: b.maximumAttempts,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  };
}

/**
 * A proxy made when first used and made again after the budgets change: `acts.backupDatabase(…)` reads the budgets
 * of the run it is called in, and workflow files keep importing one object.
 */
function lazy<T extends object>(make: () => T): T {
  let made: T | undefined;
  let madeAt = -1;
  return new Proxy({} as T, {
    get(_, name) {
      if (made === undefined || madeAt !== generation) {
        made = make();
        madeAt = generation;
      }
      return (made as Record<string | symbol, unknown>)[name];
    },
  });
}

/**
 * Long activities (backup, checks, containers, metrics, comparison, routing) heartbeat every few seconds: a worker
 * that dies under one is noticed within the heartbeat timeout and the activity runs again on another worker.
 */
const long = (): ActivityOptions => ({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: budget('long').heartbeatTimeoutMs,
  retry: retryOf('long'),
});
/** Every activity the runbook calls, with the options that bound it, in one place. */
export const acts = lazy(() => withSummaries(proxyActivities<Activities>(long())));

/**
 * Short ones (crontab edits, git, notifications, reports): their start-to-close limit is the bound. A plan may give
 * them a heartbeat timeout too (`retry.quick.heartbeatTimeout`): the crontab and archive steps heartbeat while they
 * run (`createActivities`), so a worker that dies under one is noticed then, not at the end of its minute.
 */
const quickOptions = (): ActivityOptions => ({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: budget('quick').heartbeatTimeoutMs,
  retry: retryOf('quick'),
});
export const quick = lazy(() => withSummaries(proxyActivities<Activities>(quickOptions())));

/**
 * Ledger writes are short, idempotent inserts on the worker that runs the workflow: a local activity records one
 * marker event instead of a task-queue round trip (the production plan writes some 40 batches).
 */
export const ledgerActs = withSummaries(
  proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', maximumAttempts: 5 },
  }),
);

/**
 * The admission check: the worker verifies the run's start proof against its own trust file (worker-local config,
 * so an activity, local: it runs on the worker that runs the workflow, before any other activity).
 */
export const admitActs = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/**
 * Notifications go out beside the runbook, never awaited by a phase: each attempt is short (a receiver that hangs is
 * given up on after 20 s) and the attempts go on in the background, with backoff, for some six minutes.
 */
export const noticeActs = lazy(() =>
  withSummaries(proxyActivities<Activities>({ startToCloseTimeout: '20 seconds', retry: retryOf('notify') })),
);

/** The rollback's retries: short and quick, a rollback must finish in seconds (no error type is exempt). */
const rollbackRetry = (): RetryPolicy => ({ ...retryOf('rollback'), nonRetryableErrorTypes: undefined });

/**
 * The rollback's undo steps, verification and report run as local activities: short, idempotent, and on the worker
 * that runs the rollback, so no step waits for a task queue round trip. A worker that dies mid-step makes the next
 * worker run that step again, which idempotence makes safe.
 */
export const rollbackLocal = lazy(() =>
  withSummaries(
    proxyLocalActivities<Activities>({
      startToCloseTimeout: '2 minutes',
      localRetryThreshold: '10 seconds',
      retry: rollbackRetry(),
    }),
    'rollback',
  ),
);

/**
 * The activities of one host system (see `./routing`): on the agent's task queue when the plan names one, else the
 * central proxies above, unchanged. A task waits on an agent's queue until the agent polls it: no schedule-to-start
 * limit, so a migration whose agent is down waits for it instead of failing. `undo` is the rollback's: remote on an
 * agent (a local activity would run on the central worker, the wrong host), local centrally as before.
 */
export function on(plan: Pick<Plan, 'target' | 'scheduler'>, system: HostSystem) {
  const taskQueue = agentQueueFor(plan, system);
  if (taskQueue === undefined) return central();
  return {
    acts: agentActs(taskQueue),
    quick: withSummaries(proxyActivities<Activities>({ ...quickOptions(), taskQueue })),
    undo: agentUndo(taskQueue),
    taskQueue,
  };
}

/** The long activities' options on an agent's queue. */
export const agentActs = (taskQueue: string) => withSummaries(proxyActivities<Activities>({ ...long(), taskQueue }));

/** The longest one backup may take when the plan does not say (`target.backupTimeout`). */
const DEFAULT_BACKUP_MS = 30 * 60_000;

/**
 * The backup's activities: its limit is the plan's `target.backupTimeout` (dump, verifying restore, row counts and
 * hash together), its heartbeat timeout the long activities' 20 s, on the backup host's agent if any.
 */
export function backupActs(plan: Pick<Plan, 'target' | 'scheduler'>) {
  const taskQueue = agentQueueFor(plan, 'backup');
  return withSummaries(
    proxyActivities<Activities>({
      ...long(),
      startToCloseTimeout: plan.target.backupTimeoutMs ?? DEFAULT_BACKUP_MS,
      ...(taskQueue !== undefined ? { taskQueue } : {}),
    }),
  );
}

/** What one check may take at most: its own `timeout`, else its kind's default (SQL has no timeout of its own). */
const CHECK_DEFAULT_MS = { sql: 10 * 60_000, command: 60_000, http: 30_000 } as const;
const checkLimit = (c: CheckSpec) => {
  const m = c.measure;
  return (m.kind !== 'sql' ? m.timeoutMs : undefined) ?? CHECK_DEFAULT_MS[m.kind];
};

/** Room beside the checks themselves: the target probes, the report and its chart. */
const CHECKS_MARGIN_MS = 10 * 60_000;

/**
 * The proxies of a check run (`runChecks`, `hostChecks`): their limit is the sum of the checks' own limits (they run
 * one after the other) plus a margin, never a fixed half hour, so a plan whose checks allow 30 min + 1 h + 20 min gets
 * them; each heartbeats while it measures, so a dead worker is still noticed within 20 s.
 */
export function checkActs(checks: CheckSpec[]) {
  const startToCloseTimeout = CHECKS_MARGIN_MS + checks.reduce((sum, c) => sum + checkLimit(c), 0);
  return {
    central: withSummaries(proxyActivities<Activities>({ ...long(), startToCloseTimeout })),
    agent: (taskQueue: string) =>
      withSummaries(proxyActivities<Activities>({ ...long(), startToCloseTimeout, taskQueue })),
  };
}

/**
 * The rollback's options on an agent's queue. Unlike the forward steps, an undo does not wait for a down agent
 * without end: after a minute in the queue it fails (not retried by the policy), the rollback tries it once more and
 * then reports it failed (rollback NOT verified, notified), so the rollback always ends.
 */
export const agentUndo = (taskQueue: string) =>
  withSummaries(
    proxyActivities<Activities>({
      startToCloseTimeout: '2 minutes',
      scheduleToStartTimeout: '1 minute',
      retry: rollbackRetry(),
      taskQueue,
    }),
    'rollback',
  );

/** The central workers' proxies. */
const central = () => ({ acts, quick, undo: rollbackLocal, taskQueue: undefined as string | undefined });

/**
 * Reads the metric gates' metrics where each runs: the command ones on the commands agent, the rest centrally, in
 * the plan's order. A plan without a commands agent: one central call, as before.
 */
export async function evaluateMetricsRouted(
  plan: Pick<Plan, 'target' | 'scheduler'>,
  input: Parameters<Activities['evaluateMetrics']>[0],
): ReturnType<Activities['evaluateMetrics']> {
  const onAgent = onCommandsHost;
  const agent = on(plan, 'commands');
  if (agent.taskQueue === undefined || !input.metrics.some(onAgent)) return acts.evaluateMetrics(input);
  const [there, here] = await Promise.all([
    agent.acts.evaluateMetrics({ ...input, metrics: input.metrics.filter(onAgent) }),
    input.metrics.some((m) => !onAgent(m))
      ? acts.evaluateMetrics({ ...input, metrics: input.metrics.filter((m) => !onAgent(m)) })
      : Promise.resolve([]),
  ]);
  const byName = new Map([...there, ...here].map((r) => [r.name, r]));
  return input.metrics.flatMap((m) => byName.get(m.name) ?? []);
}

/** The router's proxies: a command router runs its command on the commands agent; the routing table is central. */
export function routerProxies(plan: Pick<Plan, 'target' | 'scheduler' | 'traffic'>) {
  return plan.traffic.router.kind === 'command' ? on(plan, 'commands') : central();
}

/** The rollback's notification goes out through the task queue: it may be slow (SMTP) and must not hold the task. */
export const rollbackActs = lazy(() =>
  withSummaries(proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry: rollbackRetry() }), 'rollback'),
);

/**
 * The completion report measures the success metrics: its limit is theirs (each check's own `timeout`, else the
 * command default of 60 s) plus a minute for the report, never the short activities' minute.
 */
export function reportActs(plan: Plan): ReturnType<typeof proxyActivities<Activities>> {
  const limit = (m: { kind: string; timeoutMs?: number }) => m.timeoutMs ?? (m.kind === 'http' ? 30_000 : 60_000);
  const measuring = plan.successMetrics.reduce((sum, c) => sum + limit(c.measure), 0);
  return withSummaries(
    proxyActivities<Activities>({ startToCloseTimeout: 60_000 + measuring, retry: retryOf('quick') }),
  );
}

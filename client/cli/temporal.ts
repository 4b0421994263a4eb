import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import type { Payload, UpdateDefinition } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { applyStackEnv, loadConfig } from '../../lib/config';
import type { MigrationStatus, RequestAnswer } from '../../model/status';
import { migrationNameKey, migrationPhaseKey, statusQuery, trafficPercentKey } from '../../workflows/definitions';
import type { migrationWorkflow } from '../../workflows/migration';
import type { Plan } from '../../model/plan';
import type { MigrationResult } from '../../model/status';
import { connectClient } from '../connection';
import { CliError, ExitCode } from './errors';

/**
 * The first value of payloads read from a history, decoded as the SDK decodes: the codecs in reverse order (a payload
 * no codec key sealed is refused, `lib/codec.ts`), then the payload converter.
 */
async function firstValue<T>(client: Client, payloads: Payload[] | null | undefined): Promise<T | undefined> {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  let decoded: Payload[] = payloads ?? [];
  for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
  return decoded[0] ? payloadConverter.fromPayload<T>(decoded[0]) : undefined;
}

/** Runs `fn` with a client for the configured stack and closes its connection afterwards. */
export async function withClient<T>(fn: (client: Client) => Promise<T>, identity?: string): Promise<T> {
  applyStackEnv();
  const client = await connectClient(loadConfig(), identity);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** How long `status` waits for a polling worker to answer the status query (a replay from scratch included). */
const QUERY_DEADLINE_MS = { running: 5_000, closed: 10_000 } as const;
/**
 * A worker long-polls its task queue for up to a minute at a time, and the server lists a poller for five minutes
 * after its last poll: one not seen for this long has stopped.
 */
const POLLER_GONE_MS = 75_000;

/** What Temporal itself knows of a migration without a worker: its description and search attributes. */
export interface LastKnownState {
  migrationId: string;
  /** Temporal's execution status: RUNNING, TERMINATED, FAILED, … */
  execution: string;
  taskQueue: string;
  name?: string;
  /** The phase and traffic split the workflow last recorded as search attributes. */
  phase?: string;
  trafficPercent?: number;
  startedAt: string;
  closedAt?: string;
  historyLength: number;
  /** A workflow task scheduled and not yet taken by a worker: since when. */
  waitingForWorkerSince?: string;
}

/**
 * No worker could answer for a migration (none polls its task queue, or none answered in time): the message says so
 * and gives the last known state, which `lastKnown` carries for `--json` and `--watch`.
 */
export class NoWorkerError extends CliError {
  constructor(
    message: string,
    readonly lastKnown: LastKnownState,
  ) {
    super(message, ExitCode.error);
  }
}

const isoOfTimestamp = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined =>
  t?.seconds == null ? undefined : new Date(Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6)).toISOString();

function lastKnownOf(id: string, desc: WorkflowExecutionDescription): LastKnownState {
  const name = desc.typedSearchAttributes.get(migrationNameKey);
  const phase = desc.typedSearchAttributes.get(migrationPhaseKey);
  const trafficPercent = desc.typedSearchAttributes.get(trafficPercentKey);
  const waiting = isoOfTimestamp(desc.raw.pendingWorkflowTask?.scheduledTime);
  return {
    migrationId: id,
    execution: desc.status.name,
    taskQueue: desc.taskQueue,
    ...(name !== undefined ? { name } : {}),
    ...(phase !== undefined ? { phase } : {}),
    ...(trafficPercent !== undefined ? { trafficPercent } : {}),
    startedAt: desc.startTime.toISOString(),
    ...(desc.closeTime ? { closedAt: desc.closeTime.toISOString() } : {}),
    historyLength: desc.historyLength,
    ...(waiting ? { waitingForWorkerSince: waiting } : {}),
  };
}

/** The last known state in one line, for the message of a `NoWorkerError`. */
function describeLastKnown(k: LastKnownState): string {
  const facts = [
    k.phase ? `phase ${k.phase}` : 'phase not recorded yet',
    ...(k.trafficPercent !== undefined ? [`traffic ${k.trafficPercent} % on the unified pipeline`] : []),
    k.closedAt ? `${k.execution.toLowerCase()} at ${k.closedAt}` : `running since ${k.startedAt}`,
    `${k.historyLength} history events`,
    ...(k.waitingForWorkerSince ? [`a workflow task waiting for a worker since ${k.waitingForWorkerSince}`] : []),
  ];
  return `Last known state of ${k.migrationId}${k.name ? ` (${k.name})` : ''}, from Temporal's record of it: ${facts.join(', ')}.`;
}

/** The workers polling a workflow task queue now (seen within `POLLER_GONE_MS`), by identity. */
export async function workflowPollers(client: Client, taskQueue: string): Promise<string[]> {
  const { enums } = temporal.api;
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const since = Date.now() - POLLER_GONE_MS;
  return (r.pollers ?? [])
    .filter((p) => Date.parse(isoOfTimestamp(p.lastAccessTime) ?? '') >= since)
    .map((p) => p.identity ?? 'a worker');
}

const notFound = (id: string) =>
  new CliError(`no migration ${id}; \`migrate list\` shows the migrations there are`, ExitCode.notFound);

/**
 * What a completed run returned, read from its close event: the newest event of its history, one page read backwards
 * (no worker, no wait, and none of the describe response's decoders to build). Undefined while it runs, or when it
 * ended otherwise (failed, terminated, timed out).
 */
async function completedResult(client: Client, id: string): Promise<MigrationResult | undefined> {
  const page = await client.workflowService
    .getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId: id },
      maximumPageSize: 1,
    })
    .catch((err: unknown) => {
      if (isGrpcError(err, 'NOT_FOUND')) throw notFound(id);
      throw err;
    });
  const completed = page.history?.events?.[0]?.workflowExecutionCompletedEventAttributes;
  if (!completed) return undefined;
  return firstValue<MigrationResult>(client, completed.result?.payloads);
}

/**
 * The status of a migration. One that completed answers from its result, without a worker; one still running (or
 * ended otherwise) is asked through the status query, only when a worker polls its task queue and with a deadline.
 * Without an answer: a `NoWorkerError` with the last known state, at once when no worker polls. A missing migration
 * exits with `notFound`.
 */
export async function readStatus(client: Client, id: string): Promise<MigrationStatus> {
  const result = await completedResult(client, id);
  if (result) return result.status;
  const handle = client.workflow.getHandle<typeof migrationWorkflow>(id);
  const desc = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw notFound(id);
    throw err;
  });
  const lastKnown = lastKnownOf(id, desc);
  const pollers = await workflowPollers(client, desc.taskQueue);
  if (!pollers.length)
    throw new NoWorkerError(
      [
        `no worker is polling task queue ${desc.taskQueue} (none in the last ${POLLER_GONE_MS / 1000} s): none can answer for ${id}.`,
        describeLastKnown(lastKnown),
        'Start a worker (`npm run worker`) for the full status; the migration waits for one, nothing is lost.',
      ].join('\n'),
      lastKnown,
    );
  const deadlineMs = desc.status.name === 'RUNNING' ? QUERY_DEADLINE_MS.running : QUERY_DEADLINE_MS.closed;
  try {
    return await client.connection.withDeadline(Date.now() + deadlineMs, () => handle.query(statusQuery));
  } catch (err) {
    if (!isGrpcError(err, 'DEADLINE_EXCEEDED')) throw err;
    throw new NoWorkerError(
      [
        `no answer from the workers polling task queue ${desc.taskQueue} (${pollers.join(', ')}) within ${deadlineMs / 1000} s.`,
        describeLastKnown(lastKnown),
        'A worker that has just stopped is listed for a while; is one stuck or overloaded? Try again.',
      ].join('\n'),
      lastKnown,
    );
  }
}

/** How long a request waits for the workflow's answer (a worker must run to give one). */
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * Sends a request as an Update and returns the workflow's answer; a refusal exits with `rejected` and its reason.
 * No polling: the workflow answers accepted (with the new state) or rejected, or the CLI says no worker answered.
 */
export async function sendRequest<A>(
  client: Client,
  id: string,
  update: UpdateDefinition<RequestAnswer, [A]>,
  args: A,
): Promise<RequestAnswer> {
  const handle = client.workflow.getHandle(id);
  try {
    return await client.connection.withDeadline(Date.now() + ANSWER_TIMEOUT_MS, () =>
      handle.executeUpdate(update, { args: [args] }),
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(id);
    if (err instanceof WorkflowUpdateFailedError)
      throw new CliError(`rejected: ${err.cause?.message ?? err.message}`, ExitCode.rejected);
    if (isGrpcError(err, 'DEADLINE_EXCEEDED'))
      throw new CliError(
        `no answer from ${id} within ${ANSWER_TIMEOUT_MS / 1000} s: is a worker running (\`npm run worker\`)? The request may still be applied when one starts.`,
        ExitCode.error,
      );
    if (isGrpcError(err, 'NOT_FOUND'))
      throw new CliError(`rejected: migration ${id} has ended (${(err as Error).message})`, ExitCode.rejected);
    throw err;
  }
}

/** gRPC status codes the answer can fail with. */
const GRPC = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5 } as const;

function isGrpcError(err: unknown, code: keyof typeof GRPC): boolean {
  const e = err as { code?: number; cause?: { code?: number } };
  return (e.code ?? e.cause?.code) === GRPC[code];
}

/**
 * The plan a migration was started with, from its current run's input: the first event of its history, one page of
 * one event (no worker, and no need to read a long history). A missing migration throws `WorkflowNotFoundError`.
 */
export async function planOf(client: Client, id: string): Promise<Plan> {
  const history = await client.workflowService
    .getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: id },
      maximumPageSize: 1,
    })
    .catch((err: unknown) => {
      if (isGrpcError(err, 'NOT_FOUND')) throw new WorkflowNotFoundError(`no migration ${id}`, id, undefined);
      throw err;
    });
  const started = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = await firstValue<{ plan: Plan }>(client, started?.input?.payloads);
  if (!input?.plan) throw new CliError(`cannot read the plan of ${id} from its history`, ExitCode.error);
  return input.plan;
}

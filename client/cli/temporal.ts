import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { applyStackEnv, loadConfig } from '../../lib/config';
import type { MigrationStatus, RequestAnswer } from '../../workflows/definitions';
import { statusQuery } from '../../workflows/definitions';
import type { migrationWorkflow } from '../../workflows/migration';
import type { rollbackWorkflow } from '../../workflows/rollback';
import { connectClient } from '../connection';
import { CliError, ExitCode } from './errors';

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

/** The status of a migration, also of one that has completed; a missing one exits with `notFound`. */
export async function readStatus(client: Client, id: string): Promise<MigrationStatus> {
  const handle = client.workflow.getHandle<typeof migrationWorkflow>(id);
  try {
    return await handle.query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no migration ${id}; \`migrate list\` shows the migrations there are`, ExitCode.notFound);
    // A closed migration answers queries only while a worker can replay it; a completed one carries its status.
    const desc = await handle.describe();
    if (desc.status.name === 'COMPLETED') return (await handle.result()).status;
    throw new CliError(
      `cannot read the status of ${id} (${desc.status.name}): start a worker (\`npm run worker\`) and try again`,
      ExitCode.error,
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
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no migration ${id}; \`migrate list\` shows the migrations there are`, ExitCode.notFound);
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

/** The plan a migration was started with, from its first run's input. */
export async function planOf(client: Client, id: string) {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload?.data) throw new CliError(`cannot read the plan of ${id} from its history`, ExitCode.error);
  return (
    JSON.parse(Buffer.from(payload.data).toString('utf8')) as { plan: Parameters<typeof rollbackWorkflow>[0]['plan'] }
  ).plan;
}

import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { applyStackEnv, loadConfig } from '../../lib/config';
import type { MigrationStatus } from '../../workflows/definitions';
import { auditCount, statusQuery } from '../../workflows/definitions';
import type { migrationWorkflow } from '../../workflows/migration';
import type { rollbackWorkflow } from '../../workflows/rollback';
import { connectClient } from '../connection';
import { CliError, ExitCode } from './errors';

/** Runs `fn` with a client for the configured stack and closes its connection afterwards. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  applyStackEnv();
  const client = await connectClient(loadConfig());
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

/** Sends a signal, then reads the audit log: a request the workflow rejected exits with `rejected`. */
export async function signalAndCheck(
  client: Client,
  id: string,
  send: () => Promise<void>,
  actor: string,
): Promise<MigrationStatus> {
  const since = auditCount(await readStatus(client, id));
  await send();
  // The handler runs in the next workflow task; wait for the audit log to grow.
  for (let i = 0; i < 50; i++) {
    const after = await readStatus(client, id);
    const added = after.audit.filter((a, n) => (a.seq ?? n) >= since);
    const rejected = added.find((a) => a.kind === 'rejected' && (a.actor === actor || !a.actor));
    if (rejected) throw new CliError(`rejected: ${rejected.detail}`, ExitCode.rejected);
    if (added.length) return after;
    await new Promise((r) => setTimeout(r, 100));
  }
  return readStatus(client, id);
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

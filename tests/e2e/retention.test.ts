import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ExitCode } from '../../client/cli/errors';
import { connectClient } from '../../client/connection';
import { requireEnv } from '../../lib/config';
import { migrateCli } from '../helpers/cli';
import { config, uniq } from '../helpers/stack';

const exec = promisify(execFile);
const PLAN = path.join(__dirname, '..', '..', 'plans', 'production.example.yaml');

/** The stock CLI against the dev server; the namespace is given in `args`. */
const temporal = (...args: string[]) =>
  exec(requireEnv('TEMPORAL_CLI_PATH'), [...args, '--address', config.temporalAddress]);

describe('migrate start against a namespace whose retention is shorter than the plan needs', () => {
  const namespace = `mo-short-retention-${uniq()}`;
  const env = { TEMPORAL_NAMESPACE: namespace, MO_TASK_QUEUE: `retention-${uniq()}` };
  let client: Client;

  beforeAll(async () => {
    await temporal('operator', 'namespace', 'create', '--namespace', namespace, '--retention', '1d');
    client = await connectClient({ ...config, temporalNamespace: namespace });
    // A new namespace answers requests once the server's namespace cache has it (a few seconds on the dev server).
    for (let i = 0; ; i++) {
      try {
        await client.workflow.count();
        break;
      } catch (err) {
        if (i >= 60) throw err;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  });
  afterAll(async () => {
    await client?.connection.close();
    await temporal('operator', 'namespace', 'delete', '--namespace', namespace, '--yes').catch(() => undefined);
  });

  /** Every workflow of the namespace, as visibility lists them. */
  async function workflowIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const w of client.workflow.list()) ids.push(w.workflowId);
    return ids;
  }

  it('refuses with exit code 4, naming the retention and what the plan needs, and starts nothing', async () => {
    const id = `retention-refused-${uniq()}`;
    const r = await migrateCli(['start', PLAN, '--id', id], env);
    expect(r.code).toBe(ExitCode.rejected);
    expect(r.stderr).toContain(`namespace ${namespace} keeps a closed workflow's history for 1d (24h)`);
    expect(r.stderr).toContain('shorter than the 28d 10h 5m plan monolith-to-unified needs');
    expect(r.stderr).toContain('the runbook can take 21d 10h 5m');
    expect(r.stderr).toContain('the margin after its end is 7d');
    expect(r.stderr).toContain(`temporal operator namespace update --namespace ${namespace} --retention 29d`);
    expect(r.stdout).not.toContain('started');
    await expect(client.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await workflowIds()).toEqual([]);
  });

  it('with --allow-short-retention, warns with the same numbers and starts the migration', async () => {
    const id = `retention-allowed-${uniq()}`;
    const r = await migrateCli(['start', PLAN, '--id', id, '--allow-short-retention'], env);
    expect(r.code).toBe(ExitCode.ok);
    expect(r.stderr).toContain(`warning: namespace ${namespace} keeps a closed workflow's history for 1d (24h)`);
    expect(r.stderr).toContain('28d 10h 5m');
    expect(r.stdout).toContain(`started ${id}`);
    const handle = client.workflow.getHandle(id);
    try {
      const described = await handle.describe();
      expect(described.status.name).toBe('RUNNING');
      expect(described.type).toBe('migrationWorkflow');
    } finally {
      await handle.terminate('retention test: started only to prove the flag works');
    }
    expect((await handle.describe()).status.name).toBe('TERMINATED');
  });
});

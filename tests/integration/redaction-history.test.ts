import { type Client, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { testAdmission, admittedJob } from '../helpers/admission';
import { runJob } from '../../activities';
import { WorkflowType } from '../../model/constants';
import { workerInterceptors } from '../../worker/redact';
import { config, stackClient, uniq } from '../helpers/stack';
import { bundleWorkflows, historyText } from '../helpers/temporal';
import { workerDataConverter } from '../../lib/codec';

/**
 * The worker's interceptor is the last stop before workflow history: an activity that puts a secret in its error
 * without redacting it (a job's stderr) still leaves none in the history the server keeps.
 */
describe('workflow history on the dev server holds no secret an activity threw', () => {
  let bundle: WorkflowBundle;
  let connection: NativeConnection;
  let client: Client;

  beforeAll(async () => {
    bundle = await bundleWorkflows();
    connection = await NativeConnection.connect({ address: config.temporalAddress });
    client = await stackClient();
  });
  afterAll(async () => {
    await connection?.close();
    await client?.connection.close();
  });

  it('a scheduled job whose command prints a password: the failure in history shows DB_PASS=*** and not the value', async () => {
    const secret = `pw-${uniq()}${uniq()}`;
    const envName = `MO_TEST_HISTORY_SECRET_${uniq()}`;
    process.env[envName] = secret;
    const taskQueue = `redact-history-${uniq()}`;
    const workflowId = `redact-history-${uniq()}`;
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue,
      workflowBundle: bundle,
      dataConverter: workerDataConverter(),
      activities: { runJob, ...testAdmission(client) },
      interceptors: workerInterceptors,
    });
    const job = {
      name: 'leaky-job',
      schedule: '0 * * * *',
      command: [process.execPath, '-e', `console.error('auth: DB_PASS=' + process.env.${envName}); process.exit(4)`],
    };
    try {
      const input = await admittedJob(job, `leaky-${uniq()}`);
      const err = await worker.runUntil(
        client.workflow
          .execute(WorkflowType.scheduledJobWorkflow, { taskQueue, workflowId, args: [input] })
          .catch((e: unknown) => e),
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const text = await historyText(await client.workflow.getHandle(workflowId).fetchHistory());
      expect(text).toContain('job leaky-job exited 4: auth: DB_PASS=***');
      expect(text).not.toContain(secret);
    } finally {
      delete process.env[envName];
    }
  });
});

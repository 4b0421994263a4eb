import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { dockerClient } from '../activities/docker';
import { applyStackEnv, loadConfig } from '../lib/config';

/** Starts the worker: registers the workflows and activities on the task queue and runs until SIGTERM/SIGINT. */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  // A client for the Temporal Schedules scheduler adapter.
  const clientConnection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection: clientConnection, namespace: config.temporalNamespace });
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ docker: dockerClient(config.dockerHost), client, taskQueue: config.taskQueue }),
  });
  console.log(JSON.stringify({ level: 'info', msg: 'worker started', taskQueue: config.taskQueue, pid: process.pid }));
  // The SDK's runtime turns SIGTERM/SIGINT into a graceful shutdown: running activities finish or are cancelled.
  await worker.run();
  await clientConnection.close();
  await connection.close();
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

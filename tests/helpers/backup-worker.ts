import { NativeConnection, Worker } from '@temporalio/worker';
import { backupDatabase } from '../../activities/backup';
import { workerDataConverter } from '../../lib/codec';
import { applyStackEnv, loadConfig, requireEnv } from '../../lib/config';

/**
 * A worker of `backupDatabase` alone on the task queue `MO_BACKUP_TASK_QUEUE`, run as its own process
 * (`startWorkerProcess`) so a test can SIGKILL it in the middle of a backup; the workflow runs in the test's worker.
 */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const connection = await NativeConnection.connect(config.temporalConnection);
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: requireEnv('MO_BACKUP_TASK_QUEUE'),
    activities: { backupDatabase },
    dataConverter: workerDataConverter(),
  });
  console.log(`worker started (pid ${process.pid})`);
  await worker.run();
  await connection.close();
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

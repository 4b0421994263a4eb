import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { applyStackEnv, loadConfig } from '../lib/config';
import { noopActivities, passingReadings } from '../lib/noop-activities';
import { workflowBundleFor } from '../lib/workflow-bundle';
import type { MetricSpec } from '../model/plan';
import { workerDataConverter } from '../lib/codec';

/**
 * A worker whose activities do nothing real, for benchmarks of the orchestration itself (reaction time, history,
 * many migrations at once). Each activity start is printed as `BENCH {"wf","act","at"}`; a migration whose ID
 * contains `gatefail` reads failing metrics, and the moment that reading is returned is printed too.
 */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const base = noopActivities([]) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const mark = (act: string) => {
    const wf = Context.current().info.workflowExecution?.workflowId ?? '';
    process.stdout.write(`BENCH ${JSON.stringify({ wf, act, at: Date.now() })}\n`);
    return wf;
  };
  const activities = Object.fromEntries(
    Object.entries(base).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const wf = mark(name);
        if (name !== 'evaluateMetrics' || !wf.includes('gatefail')) return fn(...args);
        const { metrics } = args[0] as { metrics: MetricSpec[] };
        const failing = passingReadings(metrics).map((r, i) => (i === 0 ? { ...r, value: 1e9, passed: false } : r));
        mark('evaluateMetrics:failed');
        return failing;
      },
    ]),
  );
  const connection = await NativeConnection.connect(config.temporalConnection);
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    // The cached bundle, as the real worker: the peak memory is the migrations', not webpack's.
    workflowBundle: await workflowBundleFor(config.dataDir),
    activities,
    dataConverter: workerDataConverter(),
  });
  console.log(JSON.stringify({ level: 'info', msg: 'worker started', taskQueue: config.taskQueue, pid: process.pid }));
  await worker.run();
  await connection.close();
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

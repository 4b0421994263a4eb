import fs from 'node:fs';
import path from 'node:path';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { demoStartProof } from '../../demo/keys';
import { setupDemoTarget } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess } from '../../lib/worker-process';
import type { migrationWorkflow } from '../../workflows/migration';
import { freePort } from '../helpers/ports';
import { config, uniq } from '../helpers/stack';
import { eventually } from '../helpers/temporal';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

describe('the worker process: Prometheus metrics, JSON logs, graceful shutdown on SIGTERM', () => {
  it('serves SDK metrics, logs JSON lines, and on SIGTERM lets a running activity finish before it exits', async () => {
    const plan = loadPlan(PLAN);
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_worker_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = target.metricsDatabaseUrl;
    // One preflight check that takes a few seconds: the activity the SIGTERM arrives in.
    plan.preflight = plan.preflight.filter((c) => c.name === 'load-test');
    const taskQueue = `worker-${uniq()}`;
    const port = await freePort();
    const logFile = path.join(config.dataDir, 'logs', `${taskQueue}.log`);
    const worker = startWorkerProcess(logFile, { MO_TASK_QUEUE: taskQueue, MO_METRICS_ADDRESS: `127.0.0.1:${port}` });
    const client = await connectClient(config);
    const id = `worker-${uniq()}`;
    try {
      await worker.ready;
      const handle = await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
        taskQueue,
        workflowId: id,
        // Signed as `migrate start` signs it: the worker admits only starters its trust file lists.
        args: [{ migrationId: id, plan, startedBy: 'test', proof: await demoStartProof('start', id, plan, 'test') }],
      });
      await eventually(
        async () => (await handle.describe()).raw.pendingActivities ?? [],
        (acts) =>
          acts.some((a) => a.activityType?.name === 'runChecks' && Number(a.attempt) === 1 && !!a.lastStartedTime),
      );

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^temporal_[a-z_]+\\{[^}]*task_queue="${taskQueue}"[^}]*\\} \\d`, 'm'));

      const exited = new Promise<number | null>((r) => worker.child.once('exit', (code) => r(code)));
      worker.child.kill('SIGTERM');
      expect(await exited).toBe(0);

      // The activity ran to its end in the stopping worker: completed on its first attempt, no retry needed.
      const events = (await handle.fetchHistory()).events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runChecks');
      const started = events.find(
        (e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId),
      );
      expect(Number(started?.activityTaskStartedEventAttributes?.attempt)).toBe(1);
      expect(
        events.some(
          (e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId),
        ),
      ).toBe(true);

      // Every line the worker wrote is one JSON object with a time, a level and a message.
      const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
      const parsed = lines.map((l) => JSON.parse(l) as { time: string; level: string; msg: string });
      for (const p of parsed) {
        expect(Number.isNaN(Date.parse(p.time))).toBe(false);
        expect(['trace', 'debug', 'info', 'warn', 'error']).toContain(p.level);
      }
      expect(parsed.map((p) => p.msg)).toEqual(expect.arrayContaining(['worker started', 'worker stopped']));
    } finally {
      await client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
      await client.connection.close();
      await worker.stop();
    }
  }, 120_000);
});

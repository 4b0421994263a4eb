import { ensureDemoTrust } from '../demo/keys';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectClient } from '../client/connection';
import { loadConfig } from '../lib/config';
import { startWorkerProcess } from '../lib/worker-process';
import { bundleWorkflows, writeAtomically } from '../lib/workflow-bundle';
import { WorkflowType } from '../model/constants';
import { log, quantile, round, type Figures } from './lib';

/** Resident memory now (VmRSS), in MiB. */
function rssMb(pid: number): number | null {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : null;
}

/**
 * One cold start of the worker process: from spawn to its first workflow task (a workflow waits on the queue before
 * the worker exists; its first task's start time in the history is when the worker first polled and took work), then
 * its memory after 5 s idle. `env` chooses how the worker gets its workflow code.
 */
async function coldStart(env: NodeJS.ProcessEnv, tag: string): Promise<{ startS: number; idleRssMb: number | null }> {
  const config = loadConfig();
  const client = await connectClient(config);
  const taskQueue = `bench-start-${tag}-${Date.now().toString(36)}`;
  const workflowId = `${taskQueue}-probe`;
  // A plan the workflow refuses at its first task (no activity, nothing changed): the cheapest real workflow task.
  await client.workflow.start(WorkflowType.migrationWorkflow, {
    taskQueue,
    workflowId,
    args: [{ migrationId: workflowId, plan: {}, startedBy: 'bench' }],
  });
  const logFile = path.join(os.tmpdir(), `${taskQueue}.log`);
  const t0 = Date.now();
  const worker = startWorkerProcess(logFile, { MO_TRUST_FILE: ensureDemoTrust(), ...env, MO_TASK_QUEUE: taskQueue });
  try {
    await worker.ready;
    let firstTaskAt: number | undefined;
    for (let i = 0; i < 600 && firstTaskAt === undefined; i++) {
      const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const started = events.find((e) => e.workflowTaskStartedEventAttributes);
      if (started?.eventTime?.seconds != null)
        firstTaskAt = Number(started.eventTime.seconds) * 1000 + Math.round((started.eventTime.nanos ?? 0) / 1e6);
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (firstTaskAt === undefined) throw new Error(`worker ${tag} took no task within a minute; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 5_000));
    return { startS: (firstTaskAt - t0) / 1000, idleRssMb: rssMb(worker.child.pid!) };
  } finally {
    await worker.stop();
    await client.connection.close();
    fs.rmSync(logFile, { force: true });
  }
}

const median = (xs: (number | null)[]) =>
  quantile(
    xs.filter((x): x is number => x !== null),
    0.5,
  );

/**
 * Worker start: before, a worker that bundles its workflow code with webpack when it starts (an empty bundle cache,
 * as every container start was); after, one that loads the bundle built once (`MO_WORKFLOW_BUNDLE`, as the image
 * does). Each measured `runs` times, alternating.
 */
export async function workerStartBench(runs: number): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-bench-start-'));
  try {
    const bundle = path.join(dir, 'workflow-bundle.js');
    writeAtomically(bundle, (await bundleWorkflows()).code);
    const bundling: { startS: number; idleRssMb: number | null }[] = [];
    const prebuilt: { startS: number; idleRssMb: number | null }[] = [];
    for (let i = 0; i < runs; i++) {
      // A data folder of its own, so its bundle cache is empty: the worker runs webpack.
      const data = fs.mkdtempSync(path.join(dir, 'data-'));
      bundling.push(await coldStart({ MO_DATA_DIR: data, MO_WORKFLOW_BUNDLE: '' }, 'bundling'));
      prebuilt.push(await coldStart({ MO_WORKFLOW_BUNDLE: bundle }, 'prebuilt'));
      log(
        `  run ${i + 1}: bundling ${bundling[i]!.startS.toFixed(2)} s ${bundling[i]!.idleRssMb?.toFixed(0)} MiB; prebuilt ${prebuilt[i]!.startS.toFixed(2)} s ${prebuilt[i]!.idleRssMb?.toFixed(0)} MiB`,
      );
    }
    return {
      worker_start_runs: runs,
      worker_start_bundling_s: round(median(bundling.map((r) => r.startS)), 2),
      worker_start_s: round(median(prebuilt.map((r) => r.startS)), 2),
      worker_idle_rss_bundling_mb: round(median(bundling.map((r) => r.idleRssMb)), 0),
      worker_idle_rss_mb: round(median(prebuilt.map((r) => r.idleRssMb)), 0),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

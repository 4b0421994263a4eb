import { demoStartProof, ensureDemoTrust } from '../demo/keys';
import { execFile, execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { connectClient } from '../client/connection';
import { loadConfig, projectRoot } from '../lib/config';
import { startWorkerProcess } from '../lib/worker-process';
import { abortSignal } from '../workflows/definitions';
import type { migrationWorkflow } from '../workflows/migration';
import { WorkflowType } from '../model/constants';
import { log, quantile, round, smallPlan, type Figures } from './lib';

const BIN = path.join(projectRoot, 'bin', 'migrate');

/**
 * One `bin/migrate` call as an operator's shell sees it (bash, node, the command): its wall time, its CPU time (user
 * and system, from bash's `times`: steadier than wall time when other work shares the cores) and its exit code.
 */
function timed(args: string[]): Promise<{ ms: number; cpuMs: number; code: number; stderr: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', '"$@" >/dev/null; rc=$?; times >&2; exit $rc', 'bash', BIN, ...args],
      (err, _stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        // `times` ends with the children's user and system time: `0m0.412s 0m0.052s`.
        const [user = 0, sys = 0] = [...(stderr.trim().split('\n').at(-1) ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map(
          (m) => (Number(m[1]) * 60 + Number(m[2])) * 1000,
        );
        resolve({ ms, cpuMs: user + sys, code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
      },
    );
  });
}

/** Medians of `runs` calls after one warm-up call (wall and CPU ms); every call must end with `code`. */
async function medianMs(
  args: string[],
  runs: number,
  code: number,
): Promise<{ wall: number | null; cpu: number | null }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const r = await timed(args);
    if (r.code !== code) throw new Error(`migrate ${args.join(' ')} exited ${r.code}, expected ${code}: ${r.stderr}`);
    if (i === 0) continue;
    wall.push(r.ms);
    cpu.push(r.cpuMs);
  }
  return { wall: round(quantile(wall, 0.5), 0), cpu: round(quantile(cpu, 0.5), 0) };
}

/**
 * A completed migration, and no worker left: the demo plan started on a task queue of its own, aborted at once by
 * signal (it ends in its preflight, with its rollback child and reports: a real closed run), and its worker stopped.
 */
async function completedMigration(): Promise<string> {
  const config = loadConfig();
  const taskQueue = `bench-cli-${Date.now().toString(36)}`;
  const id = `${taskQueue}-closed`;
  const logFile = path.join(os.tmpdir(), `${taskQueue}.log`);
  const worker = startWorkerProcess(logFile, { MO_TASK_QUEUE: taskQueue, MO_TRUST_FILE: ensureDemoTrust() });
  const client = await connectClient(config);
  try {
    await worker.ready;
    const plan = smallPlan();
    plan.name = taskQueue;
    const handle = await client.workflow.start<typeof migrationWorkflow>(WorkflowType.migrationWorkflow, {
      taskQueue,
      workflowId: id,
      args: [{ migrationId: id, plan, startedBy: 'bench', proof: await demoStartProof('start', id, plan, 'bench') }],
    });
    await handle.signal(abortSignal, { requestedBy: 'bench', reason: 'a closed migration for cli_status_closed_ms' });
    // Closed, and completed: a failed workflow task (a bug) leaves it running; a failed run has no result to read.
    for (const until = Date.now() + 120_000; ; await new Promise((r) => setTimeout(r, 500))) {
      const { status } = await handle.describe();
      if (status.name === 'COMPLETED') break;
      if (status.name !== 'RUNNING' || Date.now() > until)
        throw new Error(`${id} is ${status.name}, not COMPLETED, after its abort; see ${logFile}`);
    }
    log(`  ${id} ended ${(await handle.result()).phase}`);
    return id;
  } finally {
    await worker.stop();
    await client.connection.close();
  }
}

/** A running migration no worker has ever polled for: started on a task queue of its own, then left alone. */
async function orphanMigration(): Promise<{ id: string; done: () => Promise<void> }> {
  const client = await connectClient(loadConfig());
  const id = `bench-cli-orphan-${Date.now().toString(36)}`;
  await client.workflow.start(WorkflowType.migrationWorkflow, {
    taskQueue: `${id}-nobody`,
    workflowId: id,
    args: [{ migrationId: id, plan: smallPlan(), startedBy: 'bench' }],
  });
  return {
    id,
    done: async () => {
      await client.workflow.getHandle(id).terminate('bench done');
      await client.connection.close();
    },
  };
}

/**
 * The CLI's own speed: `migrate --help` (start-up alone), `migrate status` of a completed migration with no worker
 * (its result, no query) and of a running one no worker polls for (says so at once). Medians of `runs` calls each.
 */
export async function cliBench(runs: number): Promise<Figures> {
  // The bundle bin/migrate runs, current: a rebuild is not what is measured.
  execFileSync(process.execPath, [path.join(projectRoot, 'scripts', 'build-cli.mjs'), '--if-stale'], {
    stdio: 'inherit',
  });
  // Other work on the machine stretches wall times: the load when measuring is recorded beside them.
  const load = os.loadavg()[0] ?? 0;
  const help = await medianMs(['--help'], runs, 0);
  log(`  migrate --help: ${help.wall} ms wall, ${help.cpu} ms CPU (medians of ${runs})`);
  const closed = await completedMigration();
  const statusClosed = await medianMs(['status', closed], runs, 0);
  log(`  migrate status of a completed migration, no worker: ${statusClosed.wall} ms wall, ${statusClosed.cpu} ms CPU`);
  const orphan = await orphanMigration();
  let statusNoWorker: { wall: number | null; cpu: number | null };
  try {
    statusNoWorker = await medianMs(['status', orphan.id], runs, 1);
  } finally {
    await orphan.done();
  }
  log(
    `  migrate status of a running migration no worker polls: ${statusNoWorker.wall} ms wall, ${statusNoWorker.cpu} ms CPU`,
  );
  return {
    cli_help_ms: help.wall,
    cli_help_cpu_ms: help.cpu,
    cli_status_closed_ms: statusClosed.wall,
    cli_status_closed_cpu_ms: statusClosed.cpu,
    cli_status_no_worker_ms: statusNoWorker.wall,
    cli_status_no_worker_cpu_ms: statusNoWorker.cpu,
    cli_runs: runs,
    cli_load_avg_1m: round(Math.max(load, os.loadavg()[0] ?? 0), 1),
  };
}

import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { loadPlan } from '../client/plan';
import { projectRoot } from '../lib/config';
import { drive, virtualClock, withTestKeys } from '../lib/drive';
import { noopActivities } from '../lib/noop-activities';
import { bundleWorkflows, createTimeSkippingEnv, firstTaskCompleted } from '../lib/time-skipping';
import type { migrationWorkflow } from '../workflows/migration';
import { WorkflowType } from '../model/constants';
import type { Plan } from '../model/plan';
import { log, type Figures } from './lib';
import { workerDataConverter } from '../lib/codec';

const { History } = temporal.api.history.v1;

/** Events and encoded bytes of every run of a workflow, following continue-as-new from the first run. */
async function runsOf(handle: WorkflowHandle, firstRunId: string): Promise<{ events: number; bytes: number }[]> {
  const out: { events: number; bytes: number }[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const h: temporal.api.history.v1.IHistory = await handle.client.getHandle(handle.workflowId, runId).fetchHistory();
    out.push({ events: h.events?.length ?? 0, bytes: History.encode(h).finish().length });
    runId = h.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

/**
 * The production plan (≈9.4 days of durable waits, every gate signed) on the time-skipping server with activities
 * that do nothing real: wall time, and the history's events and bytes. Then the same plan with a soak check every
 * 5 minutes for 7 days (2,016 checks), split by continue-as-new: the largest run's events.
 */
export async function historyBench(): Promise<Figures> {
  // Signed approvals, as in production (throwaway keys for the approvers the driver signs as).
  const { plan: production, signers } = withTestKeys(
    loadPlan(path.join(projectRoot, 'plans', 'production.example.yaml')),
  );
  const [env, bundle] = await Promise.all([createTimeSkippingEnv(), bundleWorkflows()]);
  try {
    const run = async (plan: Plan, id: string) => {
      const taskQueue = `bench-history-${id}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: noopActivities(plan.metrics),
        dataConverter: workerDataConverter(),
      });
      return worker.runUntil(async () => {
        const t0 = Date.now();
        const handle = await env.client.workflow.start<typeof migrationWorkflow>(WorkflowType.migrationWorkflow, {
          taskQueue,
          workflowId: id,
          args: [{ migrationId: id, plan, startedBy: 'bench' }],
        });
        await firstTaskCompleted(handle);
        // Stepping the soak check by check (a query per check) would take minutes for 2,016 checks: sleep through
        // the whole soak at once instead; the workflow runs every check and continues as new inside that sleep.
        let slept = false;
        const status = await drive(virtualClock(env), handle, plan, {
          timeoutMs: 600_000,
          signers,
          onStatus: async (s) => {
            if (s.phase !== 'soak' || slept) return false;
            slept = true;
            await env.sleep(plan.durations.soakMs);
            return true;
          },
        });
        const wallS = (Date.now() - t0) / 1000;
        if (status.phase !== 'complete') throw new Error(`${id} ended ${status.phase}: ${status.failure ?? ''}`);
        return { wallS, runs: await runsOf(handle, handle.firstExecutionRunId) };
      });
    };
    const full = await run(production, `bench-production-${Date.now()}`);
    log(`production plan: ${full.wallS} s wall, ${full.runs.map((r) => r.events).join('+')} events`);
    const soakPlan: Plan = { ...production, durations: { ...production.durations, soakIntervalMs: 5 * 60_000 } };
    const soak = await run(soakPlan, `bench-soak5m-${Date.now()}`);
    log(`5-minute soak: ${soak.wallS} s wall, runs of ${soak.runs.map((r) => r.events).join(', ')} events`);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return {
      history_events_production_plan: sum(full.runs.map((r) => r.events)),
      history_bytes_production_plan: sum(full.runs.map((r) => r.bytes)),
      simulated_full_plan_wall_s: Math.round(full.wallS * 10) / 10,
      simulated_plan_days: Math.round(planDays(production) * 10) / 10,
      history_events_soak_5min_max_per_run: Math.max(...soak.runs.map((r) => r.events)),
      history_events_soak_5min_total: sum(soak.runs.map((r) => r.events)),
      history_runs_soak_5min: soak.runs.length,
      soak_5min_wall_s: Math.round(soak.wallS * 10) / 10,
    };
  } finally {
    await env.teardown();
  }
}

/** Plan time of the durable waits alone (gates excluded), in days. */
function planDays(plan: Plan): number {
  const d = plan.durations;
  const ms = d.parallelRunMs + d.bakeMs * plan.traffic.steps.length + d.monitoringWindowMs + d.soakMs;
  return ms / 86_400_000;
}

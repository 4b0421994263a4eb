import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { loadConfig } from '../lib/config';
import { startWorkerProcess } from '../lib/worker-process';
import { memoryKey, signRequest, type Signer } from '../lib/signing';
import { claimFor } from '../model/auth';
import type { GateName, Plan } from '../model/plan';
import { approveUpdate, statusQuery } from '../workflows/definitions';
import { rollbackWorkflowId } from '../model/status';
import { planDigest } from '../model/signatures';
import type { migrationWorkflow } from '../workflows/migration';
import { WorkflowType } from '../model/constants';
import { log, peakRssMb, quantile, smallPlan } from './lib';

/** What one fleet of migrations on one stub worker measured. */
export interface FleetResult {
  started: number;
  completed: number;
  rolledBack: number;
  wallS: number;
  workerPeakRssMb: number | null;
  /** Final approval of a gate sent → next activity started (ms), one per gate decision. */
  reactionsMs: number[];
  /** Failing metric reading returned → rollback workflow started (ms), one per `gatefail` migration. */
  gateFailureToRollbackMs: number[];
}

interface Mark {
  wf: string;
  act: string;
  at: number;
}

/**
 * Runs `count` migrations of a small plan at once against the dev server, on one worker process whose activities do
 * nothing real (so the figures are the orchestration's: server, SDK, workflow code). A demo approver watches
 * visibility for open gates and signs every role; `gateFailures` of the migrations read a failing metric instead.
 */
export async function runFleet(
  label: string,
  count: number,
  opts: { gateFailures?: number; staggerMs?: number } = {},
): Promise<FleetResult> {
  const gateFailures = opts.gateFailures ?? 0;
  const config = loadConfig();
  const stamp = Date.now().toString(36);
  const taskQueue = `bench-${label}-${stamp}`;
  const logFile = path.join(config.dataDir, 'logs', `${taskQueue}.log`);
  const worker = startWorkerProcess(logFile, { MO_TASK_QUEUE: taskQueue }, path.join(__dirname, 'noop-worker.ts'));
  await worker.ready;
  const client = await connectClient(config);
  // Approvals are signed (Ed25519 over the request and the plan digest) and sent as Updates, as `migrate approve` does.
  const { plan, signers } = signedPlan(smallPlan());
  plan.name = taskQueue;
  const lastSent = new Map<string, number>();
  const t0 = Date.now();
  try {
    const ids = Array.from({ length: count }, (_, i) => `${taskQueue}-${i < gateFailures ? 'gatefail' : 'ok'}-${i}`);
    const start = (id: string) =>
      client.workflow.start<typeof migrationWorkflow>(WorkflowType.migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [{ migrationId: id, plan, startedBy: 'bench' }],
      });
    // All at once, or one every `staggerMs` (a steady trickle, as migrations really arrive) while approving.
    const starting = opts.staggerMs
      ? (async () => {
          for (const id of ids) {
            await start(id);
            await new Promise((r) => setTimeout(r, opts.staggerMs));
          }
        })()
      : Promise.all(ids.map(start));
    if (!opts.staggerMs) await starting;
    await approveUntilDone(client, plan, signers, ids, lastSent, starting);
    const phases = await Promise.all(
      ids.map((id) =>
        client.workflow
          .getHandle<typeof migrationWorkflow>(id)
          .result()
          .then((r) => r.phase),
      ),
    );
    const wallS = (Date.now() - t0) / 1000;
    const workerPeakRssMb = peakRssMb(worker.child.pid!);
    const marks = readMarks(logFile);
    const reactionsMs = [...lastSent].flatMap(([key, sent]) => {
      const wf = key.split('|')[0]!;
      const next = marks.find((m) => m.wf === wf && m.at >= sent);
      return next ? [next.at - sent] : [];
    });
    const gateFailureToRollbackMs: number[] = [];
    for (const id of ids.filter((x) => x.includes('gatefail'))) {
      const failed = marks.find((m) => m.wf === id && m.act === 'evaluateMetrics:failed');
      const d = await client.workflow.getHandle(rollbackWorkflowId(id)).describe();
      if (failed) gateFailureToRollbackMs.push(d.startTime.getTime() - failed.at);
    }
    return {
      started: count,
      completed: phases.filter((p) => p === 'complete').length,
      rolledBack: phases.filter((p) => p === 'rolled-back').length,
      wallS,
      workerPeakRssMb,
      reactionsMs,
      gateFailureToRollbackMs,
    };
  } finally {
    await client.connection.close();
    await worker.stop();
  }
}

/** Signs every open gate of the fleet (found through visibility) until no migration of it runs. */
async function approveUntilDone(
  client: Client,
  plan: Plan,
  signers: Record<string, Signer>,
  ids: string[],
  lastSent: Map<string, number>,
  starting: Promise<unknown>,
): Promise<void> {
  const { name } = plan;
  const digest = planDigest(plan);
  let started = false;
  void starting.then(() => (started = true));
  const inFlight = new Set<Promise<void>>();
  for (let round = 0; ; round++) {
    const open = `MigrationName = '${name}' AND ExecutionStatus = 'Running' AND MigrationPhase IN ('gate:go', 'gate:cutover', 'gate:sign-off')`;
    for await (const wf of client.workflow.list({ query: open })) {
      const gate = String(wf.searchAttributes?.MigrationPhase?.[0] ?? '').slice(5) as GateName;
      const key = `${wf.workflowId}|${gate}`;
      if (!gate || lastSent.has(key)) continue;
      lastSent.set(key, 0);
      const roles = plan.approvals.gates[gate].roles.map((r) => r.role);
      const p = (async () => {
        const handle = client.workflow.getHandle(wf.workflowId);
        // A gate decision is signed for the opening of its gate.
        const gateOpenedAt = (await handle.query(statusQuery)).gates[gate]?.openedAt;
        for (const [i, role] of roles.entries()) {
          const approver = `${role}-bench`;
          const args = { gate, role, approver };
          const target = { migrationId: wf.workflowId, planDigest: digest, gateOpenedAt };
          const signature = await signRequest(claimFor({ kind: 'approve', args }), target, signers[approver]!);
          // The reaction is timed from the moment the deciding (last) approval is sent.
          if (i === roles.length - 1) lastSent.set(key, Date.now());
          await handle.executeUpdate(approveUpdate, { args: [{ ...args, signature }] });
        }
      })().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (round % 8 === 0) {
      // Not started yet (staggered) counts as running.
      const states = await Promise.all(
        ids.map((id) =>
          client.workflow
            .getHandle(id)
            .describe()
            .then((d) => d.status.name)
            .catch(() => 'RUNNING'),
        ),
      );
      const running = states.filter((name) => name === 'RUNNING').length;
      if (started && running === 0 && inFlight.size === 0) return;
      if (round % 40 === 0) log(`${name}: ${running} running`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The plan with a throwaway key for each role's bench approver (`<role>-bench`). */
function signedPlan(plan: Plan): { plan: Plan; signers: Record<string, Signer> } {
  const roles = [...new Set(Object.values(plan.approvals.gates).flatMap((g) => g.roles.map((r) => r.role)))];
  const keys = Object.fromEntries(roles.map((r) => [`${r}-bench`, memoryKey(`${r}-bench`)]));
  const bare = (line: string) => line.split(' ').slice(0, 2).join(' ');
  return {
    plan: {
      ...plan,
      approvals: {
        ...plan.approvals,
        keys: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, bare(k.publicKey)])),
      },
    },
    signers: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, k.sign])),
  };
}

function readMarks(logFile: string): Mark[] {
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('BENCH '))
    .map((l) => JSON.parse(l.slice(6)) as Mark)
    .sort((a, b) => a.at - b.at);
}

/** p50 and p95 of a sample, rounded to whole milliseconds. */
export const p = (xs: number[], q: number): number | null => {
  const v = quantile(xs, q);
  return v === null ? null : Math.round(v);
};

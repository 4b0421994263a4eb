import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { isFinalPhase } from '../model/constants';
import type { MigrationStatus } from '../model/status';
import { approveSignal, statusQuery } from '../workflows/definitions';
import { auditCount } from '../model/status';
import { claimFor } from '../model/auth';
import { GATES } from '../model/constants';
import type { GateName, Plan } from '../model/plan';
import { memoryKey, signRequest, type Signer } from './signing';

export { HAPPY_PHASES } from '../model/constants';

/** Distinct approvers for every role (as many as its quorum needs), so separation of duties holds. */
export function approversFor(plan: Plan, gate: GateName): { role: string; approver: string }[] {
  return plan.approvals.gates[gate].roles.flatMap((r) =>
    Array.from({ length: r.required ?? 1 }, (_, i) => ({
      role: r.role,
      approver: r.approvers?.[i] ?? (i ? `${r.role}-person-${i + 1}` : `${r.role}-person`),
    })),
  );
}

/**
 * The plan with throwaway keys for every approver the driver signs as (rehearsals, tests): the plan's own keys are
 * replaced, so approvals are signed and verified as in production, with keys nobody else holds.
 */
export function withTestKeys(plan: Plan): { plan: Plan; signers: Record<string, Signer> } {
  const names = [...new Set(GATES.flatMap((g) => approversFor(plan, g).map((a) => a.approver)))];
  const made = Object.fromEntries(names.map((n) => [n, memoryKey(n)]));
  return {
    plan: {
      ...plan,
      // As the schema normalises a key line: type and key, no comment.
      approvals: {
        ...plan.approvals,
        keys: Object.fromEntries(names.map((n) => [n, made[n]!.publicKey.split(' ').slice(0, 2).join(' ')])),
      },
    },
    signers: Object.fromEntries(names.map((n) => [n, made[n]!.sign])),
  };
}

/** The plan without approver keys: approvals not authenticated (tests of the rules alone). */
export function withoutKeys(plan: Plan): Plan {
  const { keys: _keys, ...approvals } = plan.approvals;
  return { ...plan, approvals };
}

/**
 * Drives a migration on the time-skipping server without letting virtual time run past a gate: time stays locked
 * (see createTimeSkippingEnv); at a durable wait the driver sleeps exactly to its end, at an open gate it signs
 * every role (unless `approve` says otherwise), and `onStatus` may act (send a signal) at any point.
 */
/** How a driver reads and moves time: virtual (time-skipping server) or real (dev server). */
export interface Clock {
  now(): Promise<number>;
  sleep(ms: number): Promise<void>;
  client: Client;
}

/** The time-skipping server's clock. */
export const virtualClock = (env: TestWorkflowEnvironment): Clock => ({
  now: () => env.currentTimeMs(),
  sleep: (ms) => env.sleep(ms),
  client: env.client,
});

/** Real time, for the dev server: waits in short slices so the driver keeps reacting. */
export const realClock = (client: Client): Clock => ({
  now: () => Promise.resolve(Date.now()),
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
  client,
});

/** Sends a signal and waits until the workflow has handled it: every handled signal adds to the audit log. */
export async function signalHandled(handle: WorkflowHandle, send: (h: WorkflowHandle) => Promise<void>): Promise<void> {
  const before = auditCount(await handle.query(statusQuery));
  await send(handle);
  for (let i = 0; i < 200 && auditCount(await handle.query(statusQuery)) === before; i++)
    await new Promise((r) => setTimeout(r, 20));
}

export async function drive(
  env: Clock,
  handle: WorkflowHandle,
  plan: Plan,
  opts: {
    approve?: (gate: GateName) => boolean;
    onStatus?: (s: MigrationStatus) => Promise<boolean | void>;
    timeoutMs?: number;
    /** The approvers' signers, for a plan that lists keys (see `withTestKeys`): each approval is signed. */
    signers?: Record<string, Signer>;
  } = {},
): Promise<MigrationStatus> {
  const signed = new Set<string>();
  const started = new Set<string>();
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  for (;;) {
    if (Date.now() > deadline) throw new Error(`migration ${handle.workflowId} did not finish in time`);
    // Seen on the Java test server: after continue-as-new the new run does not start until virtual time moves, and
    // a query sent to it meanwhile never returns and holds time still. So query a run only once its first workflow
    // task has completed; until then nudge virtual time by a millisecond.
    const { runId, status } = await handle.describe();
    if (status.name === 'RUNNING' && !started.has(runId)) {
      const history = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      if (!history.events?.some((e) => e.workflowTaskCompletedEventAttributes)) {
        await env.sleep(1);
        continue;
      }
      started.add(runId);
    }
    const s = await handle.query(statusQuery);
    if (isFinalPhase(s.phase)) return s;
    // onStatus returning true means it acted: read the status again before anything else.
    if (opts.onStatus && (await opts.onStatus(s))) continue;
    const gate = Object.values(s.gates).find((g) => g?.open);
    const key = gate && `${gate.name}:${s.runs}:${s.phaseTimeline.length}`;
    if (gate && key && !signed.has(key) && (opts.approve?.(gate.name) ?? true)) {
      signed.add(key);
      for (const a of approversFor(plan, gate.name)) {
        const signer = s.approvalsAuthenticated && s.planDigest ? opts.signers?.[a.approver] : undefined;
        const args = { gate: gate.name, ...a };
        const claim = claimFor({ kind: 'approve', args });
        // Signed at the server's time (virtual on the time-skipping server), for this opening of the gate.
        const target = {
          migrationId: s.migrationId,
          planDigest: s.planDigest!,
          ...(gate.openedAt ? { gateOpenedAt: gate.openedAt } : {}),
          atMs: await env.now(),
        };
        const signature = signer && (await signRequest(claim, target, signer));
        await handle.signal(approveSignal, { ...args, ...(signature ? { signature } : {}) });
      }
      continue;
    }
    if (s.waitingUntil) {
      const d = Date.parse(s.waitingUntil) - (await env.now());
      if (d > 0) {
        await env.sleep(d);
        continue;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

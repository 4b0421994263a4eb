/**
 * Where each activity runs. Activities that act on a host (its crontab, the scripts and git in its repository, its
 * Docker engine, its backup files, the commands the plan runs) run on that host's agent: a worker started with the
 * task queue the plan names (`target.agentQueue`, or one per system in `target.agentQueues`). Checks, SQL metrics,
 * notifications, reports and the ledger run on the central workers, the queue the workflow itself runs on. A plan
 * that names no agent runs everything centrally, as before agents existed. Pure and workflow-safe.
 */
import { HOST_SYSTEMS, type HostSystem, type TargetSystem } from './constants';
import type { Plan } from './plan';

type Routed = Pick<Plan, 'target' | 'scheduler'>;

/** The agent queue a host system's activities go to, or undefined: the central workers. */
export function agentQueueFor(plan: Routed, system: HostSystem): string | undefined {
  // Temporal Schedules live in Temporal, not on a host.
  if (system === 'scheduler' && plan.scheduler.kind !== 'crontab') return undefined;
  return plan.target.agentQueues?.[system] ?? plan.target.agentQueue;
}

/** Whether the plan names any agent at all. */
export function usesAgents(plan: Routed): boolean {
  return HOST_SYSTEMS.some((s) => agentQueueFor(plan, s) !== undefined);
}

/** The preflight's split: the systems each agent checks, and those the central workers check. */
export function targetRouting(plan: Routed): {
  central: TargetSystem[];
  agents: { queue: string; systems: HostSystem[] }[];
} {
  const central: TargetSystem[] = ['central'];
  const agents = new Map<string, HostSystem[]>();
  for (const s of HOST_SYSTEMS) {
    const q = agentQueueFor(plan, s);
    if (q === undefined) central.push(s);
    else agents.set(q, [...(agents.get(q) ?? []), s]);
  }
  return { central, agents: [...agents].map(([queue, systems]) => ({ queue, systems })) };
}

/** A measurement runs where its kind needs: a command on the commands host, SQL and HTTP centrally. */
export function measurementSystem(m: { kind: string }): TargetSystem {
  return m.kind === 'command' ? 'commands' : 'central';
}

/** Whether a check or metric is measured on the commands host. */
export const onCommandsHost = (c: { measure: { kind: string } }): boolean =>
  measurementSystem(c.measure) === 'commands';

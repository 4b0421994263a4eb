import type { Activities } from '../activities';
import type { CheckReport, RunChecksInput } from '../activities/checks';
import type { CheckResult } from '../model/status';
import type { CheckSpec, Plan } from '../model/plan';
import { agentActs } from './proxies';
import { agentQueueFor, onCommandsHost, targetRouting, usesAgents } from '../model/routing';

type Proxy = Pick<Activities, 'runChecks' | 'hostChecks'>;

/**
 * The command checks of `checks` to measure on the commands agent, for a report the central workers write (the
 * completion report's success metrics): a function that measures them there, or undefined when there is nothing to
 * measure there (then no activity is scheduled and nothing waits).
 */
export function measuredOnAgents(
  plan: Plan,
  checks: CheckSpec[],
  migrationId: string,
): (() => Promise<CheckResult[]>) | undefined {
  const queue = agentQueueFor(plan, 'commands');
  const there = checks.filter(onCommandsHost);
  if (queue === undefined || !there.length) return undefined;
  return () =>
    agentActs(queue).hostChecks({
      migrationId,
      checks: there,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      repository: plan.target.repository,
    });
}

/**
 * A check report whose host-bound parts run on the target hosts' agents: each agent probes its systems of the target
 * (legacy jobs in its crontab, scripts in its repository, images in its engine, its backup folder, its variables)
 * and the commands agent measures the command checks; the central workers measure the rest and write the report with
 * every result in it. A plan without agents: one `runChecks` on the central workers, as before.
 */
export async function routedChecks(
  plan: Plan,
  input: RunChecksInput,
  central: Proxy,
  agent: (taskQueue: string) => Proxy,
): Promise<CheckReport> {
  if (!usesAgents(plan)) return central.runChecks(input);
  const routing = targetRouting(plan);
  const commands = agentQueueFor(plan, 'commands');
  const shares = await Promise.all(
    routing.agents.map(async ({ queue, systems }): Promise<CheckResult[]> => {
      const checks = queue === commands ? input.checks.filter(onCommandsHost) : [];
      if (!checks.length && !input.target) return [];
      return agent(queue).hostChecks({
        migrationId: input.migrationId,
        checks,
        databaseUrlEnv: input.databaseUrlEnv,
        ...(input.repository !== undefined ? { repository: input.repository } : {}),
        ...(input.since !== undefined ? { since: input.since } : {}),
        ...(input.target ? { target: { ...input.target, systems } } : {}),
      });
    }),
  );
  return central.runChecks({
    ...input,
    ...(input.target ? { target: { ...input.target, systems: routing.central } } : {}),
    measured: shares.flat(),
  });
}

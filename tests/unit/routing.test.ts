import { validatePlan } from '../../client/plan';
import type { Plan } from '../../model/plan';
import { demoDoc, planIssues, PLANS } from '../helpers/plan-doc';
import { agentQueueFor, measurementSystem, targetRouting, usesAgents } from '../../model/routing';
import { HOST_SYSTEMS } from '../../model/constants';

/** The demo plan as its author wrote it, changed by `mutate`, through the CLI's validator. */
function planWith(mutate: (p: Record<string, any>) => void): Plan {
  const doc = demoDoc();
  mutate(doc);
  return validatePlan(doc, 'plan.yaml', PLANS);
}

function issuesOf(mutate: (p: Record<string, any>) => void): { path: string; message: string }[] {
  const doc = demoDoc();
  mutate(doc);
  return planIssues(doc);
}

describe('routing of host-bound activities to agents', () => {
  it('runs everything centrally when the plan names no agent', () => {
    const plan = planWith(() => undefined);
    expect(usesAgents(plan)).toBe(false);
    expect(HOST_SYSTEMS.map((s) => agentQueueFor(plan, s))).toEqual(HOST_SYSTEMS.map(() => undefined));
    expect(targetRouting(plan)).toEqual({ central: ['central', ...HOST_SYSTEMS], agents: [] });
  });

  it('sends every host system to target.agentQueue', () => {
    const plan = planWith((p) => (p.target.agentQueue = 'billing-host'));
    expect(usesAgents(plan)).toBe(true);
    expect(targetRouting(plan)).toEqual({
      central: ['central'],
      agents: [{ queue: 'billing-host', systems: ['backup', 'containers', 'scheduler', 'repository', 'commands'] }],
    });
  });

  it('lets one system go to its own host, the others to agentQueue or central', () => {
    const plan = planWith((p) => {
      p.target.agentQueue = 'cron-host';
      p.target.agentQueues = { backup: 'db-host', containers: 'docker-host' };
    });
    expect(agentQueueFor(plan, 'backup')).toBe('db-host');
    expect(agentQueueFor(plan, 'scheduler')).toBe('cron-host');
    expect(targetRouting(plan).agents).toEqual([
      { queue: 'db-host', systems: ['backup'] },
      { queue: 'docker-host', systems: ['containers'] },
      { queue: 'cron-host', systems: ['scheduler', 'repository', 'commands'] },
    ]);
    const onlyDb = planWith((p) => (p.target.agentQueues = { backup: 'db-host' }));
    expect(targetRouting(onlyDb)).toEqual({
      central: ['central', 'containers', 'scheduler', 'repository', 'commands'],
      agents: [{ queue: 'db-host', systems: ['backup'] }],
    });
  });

  it('keeps Temporal Schedules central: they live in Temporal, not on a host', () => {
    const plan = planWith((p) => {
      p.target.agentQueue = 'app-host';
      p.scheduler = { kind: 'temporal-schedule' };
      for (const j of p.legacyJobs) j.scheduleId = `legacy-${j.name}`;
    });
    expect(agentQueueFor(plan, 'scheduler')).toBeUndefined();
    expect(agentQueueFor(plan, 'commands')).toBe('app-host');
    expect(targetRouting(plan).central).toEqual(['central', 'scheduler']);
  });

  it('measures commands on the commands host, SQL and HTTP centrally', () => {
    expect(['command', 'sql', 'http'].map((kind) => measurementSystem({ kind }))).toEqual([
      'commands',
      'central',
      'central',
    ]);
  });

  it('refuses a queue name that is not one, and a system that does not exist, naming the field', () => {
    expect(issuesOf((p) => (p.target.agentQueue = 'billing host'))).toEqual([
      { path: 'target.agentQueue', message: expect.stringMatching(/expected a task queue name/) },
    ]);
    expect(issuesOf((p) => (p.target.agentQueues = { cron: 'cron-host' }))).toEqual([
      {
        path: 'target.agentQueues.cron',
        message: 'unknown field (allowed here: backup, containers, scheduler, repository, commands)',
      },
    ]);
  });
});

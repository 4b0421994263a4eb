import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { connectClient } from '../../client/connection';
import { runDemo, type DemoOutcome } from '../../demo/demo';
import { rollbackWorkflowId } from '../../model/status';
import { expectLegacyRestored } from '../helpers/end-state';
import { migrateCli } from '../helpers/cli';
import { shortWaits } from '../helpers/short-waits';
import { config, uniq } from '../helpers/stack';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** Every activity that acts on the target host: its crontab, its repository, its Docker engine, its backups, commands. */
const HOST_BOUND = new Set([
  'backupDatabase',
  'deployUnified',
  'startContainers',
  'stopContainers',
  'listContainers',
  'installUnifiedJob',
  'removeUnifiedJob',
  'disableLegacyJobs',
  'enableLegacyJobs',
  'findLegacyJobs',
  'archiveLegacyScripts',
  'restoreArchivedScripts',
  'hostChecks',
  'runJob',
]);

interface Ran {
  type: string;
  taskQueue: string;
  /** The process ID in the identity of the worker that started it (`<pid>@<host>`). */
  pid: number | undefined;
}

/** Each activity task of a workflow's history: its type, the queue it was scheduled on, the worker that ran it. */
async function activitiesRun(client: Client, workflowId: string): Promise<Ran[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] =
    (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const started = new Map<string, string>();
  for (const e of events) {
    const a = e.activityTaskStartedEventAttributes;
    if (a) started.set(String(a.scheduledEventId), a.identity ?? '');
  }
  return events.flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (!a) return [];
    const identity = started.get(String(e.eventId));
    return [
      {
        type: a.activityType?.name ?? '?',
        taskQueue: a.taskQueue?.name ?? '?',
        pid: identity ? Number(identity.split('@')[0]) : undefined,
      },
    ];
  });
}

/** Host-bound work ran on the agent's queue, by the agent's process; nothing else did, nothing host-bound ran centrally. */
function expectRouted(ran: Ran[], outcome: DemoOutcome, agentQueue: string): void {
  const where = (r: Ran) =>
    `${r.type} on ${r.taskQueue} by ${outcome.workerPids.agent.includes(r.pid!) ? 'agent' : outcome.workerPids.central.includes(r.pid!) ? 'central' : `pid ${r.pid}`}`;
  const hostBound = ran.filter((r) => HOST_BOUND.has(r.type));
  const central = ran.filter((r) => !HOST_BOUND.has(r.type));
  expect(hostBound.map(where)).toEqual(hostBound.map((r) => `${r.type} on ${agentQueue} by agent`));
  expect(central.map(where)).toEqual(central.map((r) => `${r.type} on ${config.taskQueue} by central`));
}

describe('a central worker and an agent on the target host, each on its own task queue', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectClient(config);
  });
  afterAll(async () => {
    await client.connection.close();
  });

  it('waits for an agent that is down, then runs every host-bound step on it and the rest centrally', async () => {
    const agentQueue = `agent-${uniq()}`;
    let waited: { phase: string; pending: string[]; running: string } | undefined;
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      // Where each step runs is under test, not the waits between them.
      adjustPlan: shortWaits,
      agent: { queue: agentQueue, startLater: true },
      onStatus: async (s, handle, control) => {
        if (waited) return;
        // The agent is down: the preflight's host share waits on its queue, not started, the migration running.
        const describe = async () => (await handle.describe()).raw.pendingActivities ?? [];
        let pending = await describe();
        if (!pending.some((p) => p.activityType?.name === 'hostChecks')) return;
        await new Promise((r) => setTimeout(r, 5_000));
        pending = await describe();
        waited = {
          phase: (await handle.query<{ phase: string }>('status')).phase,
          pending: pending.map((p) => `${p.activityType?.name} attempt ${p.attempt} started ${!!p.lastStartedTime}`),
          running: (await handle.describe()).status.name,
        };
        await control.startAgent();
      },
    });
    expect(waited).toEqual({ phase: 'preflight', pending: ['hostChecks attempt 1 started false'], running: 'RUNNING' });
    expect(outcome.phase).toBe('complete');
    const ran = await activitiesRun(client, outcome.workflowId);
    expectRouted(ran, outcome, agentQueue);
    // Not vacuous: each kind of host-bound step happened, on the agent.
    expect([...new Set(ran.filter((r) => HOST_BOUND.has(r.type)).map((r) => r.type))].sort()).toEqual([
      'archiveLegacyScripts',
      'backupDatabase',
      'deployUnified',
      'disableLegacyJobs',
      'hostChecks',
      'installUnifiedJob',
    ]);
    // The preflight's host share and the completion report's command metric (test coverage), both on the agent.
    expect(ran.filter((r) => r.type === 'hostChecks')).toHaveLength(2);
    expect(fs.readFileSync(outcome.reports.completion!, 'utf8')).toMatch(
      /Test coverage of the unified pipeline \| > 90 % \| 9\d/,
    );
    // The status names the agent that did each host-bound step.
    const status = await migrateCli(['status', outcome.workflowId, '--json']);
    expect(status.code).toBe(0);
    const agents = (JSON.parse(status.stdout) as { agents?: { activity: string; taskQueue: string; worker: string }[] })
      .agents;
    expect(agents?.find((a) => a.activity === 'backupDatabase')).toMatchObject({
      taskQueue: agentQueue,
      worker: expect.stringMatching(new RegExp(`^${outcome.workerPids.agent[0]}@`)),
    });
  });

  it("undoes the host's changes on its agent when the migration rolls back", async () => {
    const agentQueue = `agent-${uniq()}`;
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      adjustPlan: shortWaits,
      agent: { queue: agentQueue },
      rollbackAt: 'traffic-shift',
    });
    expect(outcome.phase).toBe('rolled-back');
    await expectLegacyRestored(outcome);
    const undo = await activitiesRun(client, rollbackWorkflowId(outcome.workflowId));
    expectRouted(undo, outcome, agentQueue);
    expect(undo.map((r) => r.type)).toContain('stopContainers');
  });
});

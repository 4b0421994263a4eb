import type { Payload } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { runbookCard } from '../../model/card';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, productionPlan, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-card');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('reads like the runbook in the UI: every activity and timer has a summary; the card says who acts and how', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const cards = new Map<string, string>();
    const metadata = async (id: string) =>
      (await env.client.workflow.getHandle(id).query<{ currentDetails: string }>('__temporal_workflow_metadata'))
        .currentDetails;
    const { result, id } = await env.runMigration(acts, {
      onStatus: async (s) => {
        const gate = Object.values(s.gates).find((g) => g?.open && g.signatures.length === 0);
        const moment = gate ? `gate:${gate.name}` : s.waitingFor?.startsWith('bake at 25') ? 'bake' : undefined;
        if (moment && !cards.has(moment)) cards.set(moment, await metadata(s.migrationId));
        return false;
      },
    });
    expect(result.phase).toBe('complete');
    // At the cutover gate: who must sign, the exact commands, and the timeout's consequence from the plan.
    const cutover = cards.get('gate:cutover')!;
    const roles = productionPlan.approvals.gates.cutover.roles.map((r) => r.role);
    expect(cutover).toContain(`### ${productionPlan.name} · gate:cutover`);
    expect(cutover).toContain(`**Who acts:** ${roles.join(', ')}`);
    expect(cutover).toContain(`migrate approve ${id} --gate cutover --role ${roles[0]} --as <you>`);
    expect(cutover).toContain(`temporal workflow update execute --workflow-id ${id} --name approve`);
    expect(cutover).toMatch(
      productionPlan.approvals.gates.cutover.onTimeout === 'abort'
        ? /At the timeout:\*\* .*the migration aborts/
        : /At the timeout:\*\* .*a reminder goes out/,
    );
    expect(cutover).toContain('**Traffic:** 100 % unified · 0 % legacy');
    // During a bake: what it waits for, until when, and what comes after.
    expect(cards.get('bake')).toMatch(/\*\*Now:\*\* bake at 25%, until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(cards.get('bake')).toContain('**Traffic:** 25 % unified · 75 % legacy');
    expect(cards.get('bake')).toContain('the metric gate reads the metrics');
    // Ended (the worker has stopped, so from the final state; the UI test reads it from a finished run's page).
    expect(runbookCard(productionPlan, result.status, Date.now())).toContain(`migrate report ${id} --kind completion`);

    // Every activity and timer of every run carries its summary; spot-check the ones a reader looks for.
    const summaries: string[] = [];
    // Summaries are sealed like every payload: decoded as the UI decodes them, through the codec.
    const decode = async (p?: Payload | null) =>
      p ? await decodeFromPayloadsAtIndex<string>(env.client.options.loadedDataConverter, 0, [p]) : undefined;
    const handle = env.client.workflow.getHandle(id);
    const runs = [(await handle.describe()).runId];
    for (let runId: string | undefined = runs[0]; runId;) {
      const events = (await env.client.workflow.getHandle(id, runId).fetchHistory()).events ?? [];
      for (const e of events) {
        if (!e.activityTaskScheduledEventAttributes && !e.timerStartedEventAttributes) continue;
        const summary = await decode(e.userMetadata?.summary);
        expect({ event: e.eventId?.toString(), summary }).toEqual({
          event: e.eventId?.toString(),
          summary: expect.any(String),
        });
        summaries.push(summary!);
      }
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    }
    expect(summaries).toEqual(
      expect.arrayContaining([
        `backup initial of $${productionPlan.target.databaseUrlEnv} (pg_dump, verify by restore)`,
        expect.stringMatching(/^traffic 25 % → unified, 75 % legacy/),
        expect.stringMatching(/^bake at 25% \(8 h\)$/),
        expect.stringMatching(/^gate cutover: waiting for /),
        expect.stringMatching(/^soak check 3\/7 \(1 d\)$/),
        expect.stringMatching(/^disable the legacy jobs /),
      ]),
    );
  });
});

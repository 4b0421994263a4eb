import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { bundleWorkflows } from '../../lib/time-skipping';

const DIR = path.join(__dirname, '..', 'histories');
/** One folder per recording (`npm run record-histories`), named by its day: each stands for migrations started then. */
const generations = fs
  .readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const fixtures = generations.flatMap((g) =>
  fs
    .readdirSync(path.join(DIR, g))
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(g, f)),
);

// Histories recorded from real demo runs replayed against the current workflow code: a change that would break
// migrations already running (a new activity, a reordered step) fails here. See docs/ARCHITECTURE.md, "Changing
// workflow code safely".
describe('recorded histories replay deterministically against the current workflow code', () => {
  // Bundled once for every history (no server is needed: replay runs the code against the recorded events).
  let workflowBundle: WorkflowBundle;
  beforeAll(async () => {
    workflowBundle = await bundleWorkflows();
  }, 60_000);

  it('has the happy run, the rolled-back run and its rollback workflow in every generation', () => {
    expect(generations.length).toBeGreaterThanOrEqual(1);
    for (const g of generations)
      expect(
        fs
          .readdirSync(path.join(DIR, g))
          // Generations from 2026-12-02 on also hold a run with its host-bound steps on an agent's queue.
          .filter((f) => !f.includes('agent'))
          .sort(),
      ).toEqual(['migration-complete.json', 'migration-rolled-back.json', 'rollback.json']);
    expect(fs.readdirSync(path.join(DIR, generations.at(-1)!)).sort()).toEqual([
      'migration-agent-rolled-back.json',
      'migration-complete.json',
      'migration-rolled-back.json',
      'rollback-agent.json',
      'rollback.json',
    ]);
  });

  it.each(fixtures)(
    '%s',
    async (file) => {
      const json = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as { events: unknown[] };
      const history = historyFromJSON(json);
      expect(history.events?.length).toBeGreaterThan(5);
      await Worker.runReplayHistory({ workflowBundle, replayName: file }, history, path.basename(file, '.json'));
    },
    60_000,
  );

  it('fails on a history the code cannot produce', async () => {
    const newest = path.join(DIR, generations.at(-1)!, 'migration-complete.json');
    const json = JSON.parse(fs.readFileSync(newest, 'utf8')) as {
      events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[];
    };
    // The first activity the workflow schedules, renamed: as if the code had changed under a running migration.
    const first = json.events.find((e) => e.activityTaskScheduledEventAttributes)!;
    first.activityTaskScheduledEventAttributes!.activityType!.name = 'someOtherActivity';
    await expect(
      Worker.runReplayHistory({ workflowBundle, replayName: 'tampered' }, historyFromJSON(json)),
    ).rejects.toThrow(/[Nn]ondetermin/);
  }, 60_000);
});

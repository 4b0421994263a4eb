import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const DIR = path.join(__dirname, '..', 'histories');
const fixtures = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

// Histories recorded from real demo runs (`npm run record-histories`) replayed against the current workflow code: a
// change that would break migrations already running (a new activity, a reordered step) fails here. See
// docs/ARCHITECTURE.md, "Changing workflow code safely".
describe('recorded histories replay deterministically against the current workflow code', () => {
  it('has the happy run, the rolled-back run and its rollback workflow', () => {
    expect(fixtures.sort()).toEqual(['migration-complete.json', 'migration-rolled-back.json', 'rollback.json']);
  });

  it.each(fixtures)(
    '%s',
    async (file) => {
      const json = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as { events: unknown[] };
      const history = historyFromJSON(json);
      expect(history.events?.length).toBeGreaterThan(5);
      await Worker.runReplayHistory(
        { workflowsPath: require.resolve('../../workflows'), replayName: file },
        history,
        path.basename(file, '.json'),
      );
    },
    60_000,
  );

  it('fails on a history the code cannot produce', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(DIR, 'migration-complete.json'), 'utf8')) as {
      events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[];
    };
    // The first activity the workflow schedules, renamed: as if the code had changed under a running migration.
    const first = json.events.find((e) => e.activityTaskScheduledEventAttributes)!;
    first.activityTaskScheduledEventAttributes!.activityType!.name = 'someOtherActivity';
    await expect(
      Worker.runReplayHistory(
        { workflowsPath: require.resolve('../../workflows'), replayName: 'tampered' },
        historyFromJSON(json),
      ),
    ).rejects.toThrow(/[Nn]ondetermin/);
  }, 60_000);
});

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { createSchedulerActivities, cronLine, parseCrontab, readCrontab, scheduleId } from '../../activities/scheduler';
import type { JobSpec, SchedulerSpec } from '../../workflows/plan';
import { config, tempDir, uniq } from '../helpers/stack';

const USER = 'mo-crontest';
const legacy: JobSpec[] = [
  {
    name: 'batch-scorer',
    schedule: '*/15 * * * *',
    command: ['/usr/bin/python3', '/srv/scripts/batch_scorer.py', '--limit', '100%'],
  },
  { name: 'trust-scorer', schedule: '5 * * * *', command: ['/usr/bin/python3', '/srv/scripts/trust.py', "it's"] },
];
const unified: JobSpec = { name: 'unified', schedule: '*/5 * * * *', command: ['/usr/local/bin/unified', '--once'] };

describe('scheduler adapters: a real crontab and real Temporal Schedules', () => {
  let client: Client;
  let acts: ReturnType<typeof createSchedulerActivities>;
  const backupDir = tempDir('mo-sched');

  beforeAll(async () => {
    try {
      execFileSync('id', [USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--system', '--no-create-home', USER]);
    }
    client = new Client({
      connection: await Connection.connect({ address: config.temporalAddress }),
      namespace: config.temporalNamespace,
    });
    acts = createSchedulerActivities({ client });
  });
  afterAll(async () => {
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    fs.rmSync(backupDir, { recursive: true, force: true });
    await client.connection.close();
  });

  it('disables legacy lines restorably, installs the unified line, and restores the exact original crontab', async () => {
    const cron: SchedulerSpec = { kind: 'crontab', user: USER };
    // The legacy crontab as a team wrote it by hand: a variable, a comment, the two job lines without markers.
    const original = `MAILTO=ops@example.com\n# scoring jobs\n${cronLine(legacy[0]!).replace(/ # mo-job:.*/, '')}\n${cronLine(legacy[1]!).replace(/ # mo-job:.*/, '')}\n`;
    execFileSync('crontab', ['-u', USER, '-'], { input: original });
    const io = { migrationId: 'm-sched', scheduler: cron, backupDir };

    const disabled = await acts.disableLegacyJobs({ ...io, jobs: legacy });
    expect(disabled.changed).toEqual(['batch-scorer', 'trust-scorer']);
    expect(fs.readFileSync(disabled.savedTo!, 'utf8')).toBe(original);
    const again = await acts.disableLegacyJobs({ ...io, jobs: legacy });
    expect(again).toEqual({ kind: 'crontab', changed: [], unchanged: ['batch-scorer', 'trust-scorer'] });
    await acts.installUnifiedJob({ ...io, job: unified });
    await acts.installUnifiedJob({ ...io, job: unified });

    const text = execFileSync('crontab', ['-l', '-u', USER], { encoding: 'utf8' });
    expect(text.startsWith('MAILTO=ops@example.com\n# scoring jobs\n')).toBe(true);
    expect(parseCrontab(text)).toEqual([
      {
        name: 'batch-scorer',
        schedule: '*/15 * * * *',
        command: "/usr/bin/python3 /srv/scripts/batch_scorer.py --limit '100\\%'",
        enabled: false,
      },
      {
        name: 'trust-scorer',
        schedule: '5 * * * *',
        command: "/usr/bin/python3 /srv/scripts/trust.py 'it'\\''s'",
        enabled: false,
      },
      { name: 'unified', schedule: '*/5 * * * *', command: '/usr/local/bin/unified --once', enabled: true },
    ]);
    expect(await acts.readSchedule({ scheduler: cron, jobs: legacy })).toHaveLength(3);

    await acts.removeUnifiedJob({ ...io, job: unified });
    await acts.enableLegacyJobs({ ...io, jobs: legacy });
    const restored = await readCrontab(cron);
    expect(parseCrontab(restored).map((e) => [e.name, e.enabled])).toEqual([
      ['batch-scorer', true],
      ['trust-scorer', true],
    ]);
    // Same jobs, same schedules and commands as the original; only the markers were added.
    expect(restored.replace(/ # mo-job:\S+/g, '')).toBe(original);
  });

  it('pauses and unpauses Temporal schedules for the legacy jobs and the unified job, idempotently', async () => {
    const sched: SchedulerSpec = { kind: 'temporal-schedule', idPrefix: `test-${uniq()}` };
    const io = { migrationId: 'm-sched', scheduler: sched, backupDir };
    const paused = async (job: JobSpec) =>
      (await client.schedule.getHandle(scheduleId(sched, job)).describe()).state.paused;
    try {
      await acts.enableLegacyJobs({ ...io, jobs: legacy });
      expect(await paused(legacy[0]!)).toBe(false);
      const off = await acts.disableLegacyJobs({ ...io, jobs: legacy });
      expect(off.changed).toEqual(['batch-scorer', 'trust-scorer']);
      expect(await paused(legacy[0]!)).toBe(true);
      expect((await acts.disableLegacyJobs({ ...io, jobs: legacy })).changed).toEqual([]);
      await acts.installUnifiedJob({ ...io, job: unified });
      expect(await paused(unified)).toBe(false);
      const desc = await client.schedule.getHandle(scheduleId(sched, unified)).describe();
      expect(desc.action).toMatchObject({ type: 'startWorkflow', workflowType: 'scheduledJobWorkflow' });
      await acts.removeUnifiedJob({ ...io, job: unified });
      await acts.enableLegacyJobs({ ...io, jobs: legacy });
      expect(await acts.readSchedule({ scheduler: sched, jobs: [...legacy, unified] })).toEqual([
        expect.objectContaining({ name: 'batch-scorer', enabled: true }),
        expect.objectContaining({ name: 'trust-scorer', enabled: true }),
        expect.objectContaining({ name: 'unified', enabled: false }),
      ]);
    } finally {
      for (const job of [...legacy, unified])
        await client.schedule
          .getHandle(scheduleId(sched, job))
          .delete()
          .catch(() => undefined);
    }
  });
});

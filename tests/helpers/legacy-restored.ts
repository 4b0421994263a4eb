import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { listContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { parseCrontab } from '../../activities/scheduler';
import type { DemoOutcome } from '../../demo/demo';
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
  const cron = parseCrontab(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' }));
  expect(cron.map((e) => [e.name, e.enabled])).toEqual([
    ['batch-scorer', true],
    ['trust-scorer', true],
  ]);
  for (const script of ['scripts/legacy/batch_scorer.js', 'scripts/legacy/api_ingest_trust.js']) {
    expect(fs.existsSync(path.join(outcome.repository, script))).toBe(true);
  }
  const check = await integrity(outcome.databaseUrl);
  expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
  expect(check.byPipeline.legacy).toBeGreaterThan(0);
}

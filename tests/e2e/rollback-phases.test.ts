import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { listContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { parseCrontab } from '../../activities/scheduler';
import { runDemo } from '../../demo/demo';
import { integrity, withDb } from '../../demo/target';
import type { Phase } from '../../workflows/definitions';
import { config } from '../helpers/stack';

const PLAN = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');

// Rollback requested by a person in every phase that has changed production, on the real demo system.
const phases: [Phase, string[]][] = [
  ['parallel-run', ['containers', 'traffic']],
  ['traffic-shift', ['traffic', 'containers']],
  ['cutover', ['legacy-jobs', 'unified-job', 'traffic', 'containers']],
  ['soak', ['legacy-jobs', 'unified-job', 'traffic', 'containers']],
  ['gate:sign-off', ['archive', 'legacy-jobs', 'unified-job', 'traffic', 'containers']],
];

describe('rollback from every phase that changes production leaves the legacy path restored and verified', () => {
  const docker = dockerClient(config.dockerHost);

  it.each(phases)(
    'from %s (undoes %j)',
    async (phase, undone) => {
      const outcome = await runDemo({ plan: PLAN, print: () => undefined, rollbackAt: phase });
      expect(outcome.phase).toBe('rolled-back');
      expect(outcome.status.phaseTimeline.map((p) => p.phase)).toContain(phase);
      const report = JSON.parse(fs.readFileSync(outcome.reports.rollback!.replace(/\.md$/, '.json'), 'utf8')) as {
        fromPhase: string;
        result: { verified: boolean; undone: { kind: string; ok: boolean }[] };
      };
      expect(report.fromPhase).toBe(phase);
      expect(report.result.verified).toBe(true);
      expect(report.result.undone.map((u) => [u.kind, u.ok])).toEqual(undone.map((k) => [k, true]));

      // The legacy path owns everything again and has processed every submission exactly once.
      const routing = await withDb(outcome.databaseUrl, (db) =>
        db.query<{ percent: number }>('select percent from migration_routing'),
      );
      expect(routing.rows).toEqual([{ percent: 0 }]);
      expect(await listContainers(docker, outcome.composeProject)).toEqual([]);
      const cron = parseCrontab(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' }));
      expect(cron.map((e) => [e.name, e.enabled])).toEqual([
        ['batch-scorer', true],
        ['trust-scorer', true],
      ]);
      for (const script of ['scripts/legacy/batch_scorer.js', 'scripts/legacy/api_ingest_trust.js']) {
        expect(fs.existsSync(path.join(outcome.repository, script))).toBe(true);
      }
      const log = execFileSync('git', ['log', '--format=%s'], { cwd: outcome.repository, encoding: 'utf8' });
      if (undone.includes('archive')) expect(log.split('\n')[0]).toMatch(/^Revert "Archive legacy monoliths/);
      else expect(log).not.toContain('Archive legacy monoliths');
      const check = await integrity(outcome.databaseUrl);
      expect(check).toMatchObject({ missing: 0, duplicates: 0, scored: check.submissions });
      expect(check.byPipeline.legacy).toBeGreaterThan(0);
    },
    240_000,
  );
});

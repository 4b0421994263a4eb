import fs from 'node:fs';
import path from 'node:path';
import { loadPlan } from '../../client/plan';
import { rehearse } from '../../client/rehearse';
import { setupDemoTarget, withDb } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { HAPPY_PHASES } from '../../lib/drive';
import { systemSnapshot } from '../helpers/end-state';
import { config, scratchDatabase, tempDir } from '../helpers/stack';

const root = path.join(__dirname, '..', '..');
const DAY = 86_400_000;

describe('rehearsal: the real plan in virtual time, read-only against the real target', () => {
  it('rehearses the production plan (9.4 days) with its timeline, who must act and what would fail', async () => {
    // The target the production plan names: a database with the pipeline's tables and some rows, nothing else.
    const db = await scratchDatabase('mo_rehearse');
    try {
      await withDb(db.url, async (c) => {
        await c.query(fs.readFileSync(path.join(root, 'demo', 'system', 'schema.sql'), 'utf8'));
        await c.query("insert into submissions (title, body, subreddit, score) values ('a', 'b', 'news', 1)");
      });
      process.env.TARGET_DATABASE_URL = db.url;
      const plan = loadPlan(path.join(root, 'plans', 'production.example.yaml'));
      const out = tempDir('rehearsal');
      const r = await rehearse(plan, { outDir: out });

      expect(r.outcome).toBe('complete');
      expect(r.timeline.map((t) => t.phase)).toEqual(HAPPY_PHASES);
      // The plan's real durations, in virtual time: 24 h parallel run, 4 × 8 h bakes, 2 h window, 7 d soak.
      expect(r.virtualMs).toBeGreaterThan(9.4 * DAY);
      expect(r.timeline.find((t) => t.phase === 'soak')!.durationMs).toBeGreaterThanOrEqual(7 * DAY);
      expect(r.timeline.find((t) => t.phase === 'gate:sign-off')!.mustAct).toEqual([
        'technical-lead',
        'product-owner',
        'engineering-manager',
        'stakeholder',
      ]);
      expect(r.historyEvents.length).toBeGreaterThanOrEqual(1);
      expect(r.historyEvents.every((n) => n > 100)).toBe(true);
      // What it would have done, in order, without doing it.
      const would = (a: string) => r.wouldDo.filter((w) => w.activity === a);
      expect(would('setTrafficPercent').map((w) => w.what.match(/route (\d+)%/)![1])).toEqual([
        '0',
        '10',
        '25',
        '50',
        '100',
      ]);
      expect(would('backupDatabase')).toHaveLength(2);
      expect(would('deployUnified')).toHaveLength(1);
      expect(would('disableLegacyJobs')[0]!.what).toContain('batch-scorer, trust-scorer');
      expect(would('archiveLegacyScripts')).toHaveLength(1);
      // What would have failed: the preflight commands are not installed here; the metric queries ran for real and
      // found no unified runs yet (inconclusive).
      const wouldFail = r.findings.filter((f) => f.kind === 'check' && f.severity === 'would-fail').map((f) => f.what);
      expect(wouldFail.filter((w) => !w.startsWith('target: '))).toHaveLength(5);
      // And the plan against this target: the legacy jobs are nowhere (the plan's crontab user does not exist here),
      // the scripts are not in a repository that is not there. A real run would stop at the preflight.
      expect(wouldFail).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^target: legacy job batch-scorer found: .*pipelines/),
          expect.stringMatching(/^target: legacy job trust-scorer found: /),
          expect.stringMatching(/^target: scripts\/.* in the repository: .* does not exist/),
        ]),
      );
      expect(r.findings.some((f) => f.kind === 'metric' && f.severity === 'inconclusive')).toBe(true);
      expect(fs.readFileSync(r.markdownFile, 'utf8')).toContain('| gate:cutover |');
      expect(JSON.parse(fs.readFileSync(r.jsonFile, 'utf8'))).toMatchObject({ outcome: 'complete', plan: plan.name });
      // Read-only: no routing table, no new rows.
      const after = await withDb(db.url, (c) =>
        c.query<{ t: string | null; n: string }>(
          "select to_regclass('migration_routing')::text as t, (select count(*) from submissions)::text as n",
        ),
      );
      expect(after.rows[0]).toEqual({ t: null, n: '1' });
    } finally {
      delete process.env.TARGET_DATABASE_URL;
      await db.drop();
    }
  }, 300_000);

  it('leaves the real demo system untouched: rows, containers, crontab and git', async () => {
    const plan = loadPlan(path.join(root, 'plans', 'demo.yaml'));
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_rehearse_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    await withDb(target.databaseUrl, (c) =>
      c.query(
        "insert into submissions (title, body, subreddit, score) select 'p' || g, 'b', 'news', g from generate_series(1, 50) g",
      ),
    );
    const system = { ...target, composeProject: plan.target.composeProject };
    const before = await systemSnapshot(system);
    const r = await rehearse(plan, { outDir: tempDir('rehearsal-demo') });
    expect(r.outcome).toBe('complete');
    expect(r.timeline.map((t) => t.phase)).toEqual(HAPPY_PHASES);
    // The checks ran for real (the load check against a scratch schema it drops again) and passed.
    expect(r.findings.filter((f) => f.kind === 'check')).toEqual([]);
    expect(await systemSnapshot(system)).toEqual(before);
    expect(before.routing).toBeNull();
    expect(before.containers).toEqual([]);
  }, 300_000);
});

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_LABEL } from '../../activities/containers';
import { quoteIdent } from '../../activities/database';
import { dockerClient } from '../../activities/docker';
import { rehearse, type Rehearsal } from '../../client/rehearse';
import { setupDemoTarget, withDb } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { HAPPY_PHASES } from '../../lib/drive';
import { demoDoc, planFromDoc, productionDoc } from '../helpers/plan-doc';
import { config, scratchDatabase, tempDir, uniq } from '../helpers/stack';

const root = path.join(__dirname, '..', '..');
const DAY = 86_400_000;

/**
 * Every file under `dir` (relative path → sha256, size and mtime) and every folder in it; null when it does not
 * exist. Folders' own mtimes are left out: the preflight's "backup folder writable" probe (activities/target.ts)
 * creates and removes a file in the backup folder, or in the nearest folder above it that exists.
 */
function files(dir: string): Record<string, string> | null {
  if (!fs.existsSync(dir)) return null;
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      const abs = path.join(dir, r);
      if (e.isDirectory()) {
        out[`${r}/`] = 'folder';
        walk(r);
      } else if (e.isSymbolicLink()) out[r] = `link to ${fs.readlinkSync(abs)}`;
      else {
        const st = fs.statSync(abs);
        out[r] =
          `sha256 ${createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}, ${st.size} B, mtime ${st.mtimeMs}`;
      }
    }
  };
  walk('');
  return out;
}

/**
 * Everything of the target database a rehearsal could change, read from the catalog: its schemas, every relation
 * (tables, views, indexes, sequences) of every schema, every table's exact row count (`count(*)`, not estimates),
 * every sequence's last value, every function.
 */
async function database(url: string) {
  return withDb(url, async (c) => {
    const relations = (
      await c.query<{ schema: string; name: string; kind: string }>(
        `select n.nspname as schema, c.relname as name, c.relkind::text as kind
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
          order by 1, 2`,
      )
    ).rows;
    const rows: Record<string, number> = {};
    const sequences: Record<string, unknown> = {};
    for (const r of relations) {
      const ident = `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`;
      if (['r', 'p', 'm'].includes(r.kind))
        rows[`${r.schema}.${r.name}`] = Number(
          (await c.query<{ n: string }>(`select count(*) as n from ${ident}`)).rows[0]!.n,
        );
      if (r.kind === 'S')
        sequences[`${r.schema}.${r.name}`] = (
          await c.query(`select last_value::text, is_called from ${ident}`)
        ).rows[0];
    }
    const list = async (sql: string) => (await c.query<{ x: string }>(sql)).rows.map((r) => r.x);
    return {
      schemas: await list(
        "select nspname as x from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema' order by 1",
      ),
      relations: relations.map((r) => `${r.schema}.${r.name} (${r.kind})`),
      rows,
      sequences,
      functions: await list(
        `select n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as x
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname not in ('pg_catalog', 'information_schema') order by 1`,
      ),
    };
  });
}

/** The target as a rehearsal must leave it: database, files under `folders`, the crontab, the project's containers. */
async function targetSnapshot(t: {
  databaseUrl: string;
  folders: string[];
  crontabUser: string;
  composeProject: string;
}) {
  // Every container labelled with the plan's project, the orchestrator's or not (the engine is shared with other
  // suites, so only what this plan could touch is compared).
  const containers = await dockerClient(config.dockerHost).listContainers({
    all: true,
    filters: { label: [`${PROJECT_LABEL}=${t.composeProject}`] },
  });
  return {
    database: await database(t.databaseUrl),
    files: Object.fromEntries(t.folders.map((f) => [f, files(f)])),
    crontab: execFileSync('crontab', ['-l', '-u', t.crontabUser], { encoding: 'utf8' }),
    containers: containers.map((c) => `${c.Names.join(',')} ${c.Id} ${c.State}`),
  };
}

/** What a rehearsal writes: its two files and the check report of its preflight, all in its own folder. */
function rehearsalOutput(r: Rehearsal): string[] {
  const out = path.dirname(r.markdownFile);
  return [
    `reports/${r.migrationId}/`,
    `reports/${r.migrationId}/validation.json`,
    `reports/${r.migrationId}/validation.md`,
    'reports/',
    path.basename(r.jsonFile),
    path.basename(r.markdownFile),
  ].map((f) => path.join(out, f));
}

const written = (dir: string) =>
  Object.keys(files(dir) ?? {})
    .map((f) => path.join(dir, f))
    .sort();

/** A system user for a crontab of the test's own (not the demo's: other suites may use that one meanwhile). */
function ensureUser(user: string): void {
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', user], { stdio: 'ignore' });
  }
}

/** Removes the test user's crontab (its lines name folders the test removes). */
function removeCrontab(user: string): void {
  try {
    execFileSync('crontab', ['-r', '-u', user], { stdio: 'ignore' });
  } catch {
    // None was installed.
  }
}

const wouldRun = (r: Rehearsal) => r.findings.filter((f) => f.severity === 'would-run');

describe('rehearsal: the real plan in virtual time, read-only against the real target', () => {
  it('rehearses the production plan (9.4 days) against a scratch copy of its target and changes nothing', async () => {
    // The target the production plan names, built here: its database with rows in every table the plan reads (the
    // runs dated ahead, so that every window of the virtual days reads them), the repository with the legacy scripts
    // and docs, the crontab that runs them, empty backup and report folders. Its own variable points at the database;
    // its paths and crontab user are rewritten to these.
    const db = await scratchDatabase('mo_rehearse');
    const home = tempDir('rehearsal-production-target');
    const repo = path.join(home, 'pipelines');
    const [backups, reports] = [path.join(home, 'backups'), path.join(home, 'reports')];
    const user = 'mo-rehearse-prod';
    const out = tempDir('rehearsal');
    try {
      await withDb(db.url, async (c) => {
        await c.query(fs.readFileSync(path.join(root, 'demo', 'system', 'schema.sql'), 'utf8'));
        await c.query(`insert into submissions (title, body, subreddit, score)
                         select 'p' || g, 'b', 'news', g from generate_series(1, 200) g`);
        await c.query(`insert into scores (submission_id, pipeline, quality_score, trust_score)
                         select id, 'legacy', 0.5, 0.7 from submissions`);
        await c.query(`insert into shadow_scores (submission_id, quality_score, trust_score, scored_at)
                         select id, 0.5, 0.7, now() + interval '30 days' from submissions`);
        await c.query(`insert into item_runs (submission_id, pipeline, job, status, duration_ms, cost, finished_at)
                         select s.id, p.pipeline, p.job, 'ok', 2000, p.cost, now() + interval '30 days'
                           from submissions s,
                                (values ('legacy', 'batch-scorer', 0.00091), ('unified', 'unified-pipeline', 0.0005))
                                  as p (pipeline, job, cost)`);
      });
      fs.mkdirSync(path.join(repo, 'scripts'), { recursive: true });
      fs.mkdirSync(path.join(repo, 'docs'));
      for (const s of ['batch_scorer.py', 'api_ingest_trust.py'])
        fs.writeFileSync(path.join(repo, 'scripts', s), 'print("scored")\n');
      fs.writeFileSync(path.join(repo, 'docs', 'operations.md'), '# Operations\n\nscripts/batch_scorer.py scores.\n');
      fs.writeFileSync(path.join(repo, 'README.md'), '# Pipelines\n');
      const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'pipe' });
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('-c', 'user.name=Ops', '-c', 'user.email=ops@example.com', 'commit', '-q', '-m', 'Legacy scorers');
      fs.mkdirSync(backups);
      fs.mkdirSync(reports);
      ensureUser(user);
      execFileSync('crontab', ['-u', user, '-'], {
        input: [
          '# scoring monoliths',
          `*/15 * * * * /usr/bin/python3 ${repo}/scripts/batch_scorer.py`,
          `5 * * * * /usr/bin/python3 ${repo}/scripts/api_ingest_trust.py`,
          '',
        ].join('\n'),
      });
      const doc = productionDoc();
      // A scratch copy of the target, disposable: its SQL may run as the stack's superuser (a warning, not a stop).
      Object.assign(doc.target, {
        repository: repo,
        backupDir: backups,
        reportDir: reports,
        allowPrivilegedSqlRole: true,
      });
      doc.legacyJobs[0].command = ['/usr/bin/python3', `${repo}/scripts/batch_scorer.py`];
      doc.legacyJobs[1].command = ['/usr/bin/python3', `${repo}/scripts/api_ingest_trust.py`];
      doc.scheduler.user = user;
      const plan = planFromDoc(doc);
      process.env.TARGET_DATABASE_URL = db.url;
      const target = {
        databaseUrl: db.url,
        folders: [home],
        crontabUser: user,
        composeProject: plan.target.composeProject,
      };
      const before = await targetSnapshot(target);
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
      // None of its preflight commands is marked readOnly: each is reported, with its command, as not run.
      expect(wouldRun(r).map((f) => [f.kind, f.what.split(':')[0]])).toEqual(
        ['test-coverage', 'side-by-side-match', 'benchmark', 'load-test', 'cost-check'].map((n) => ['check', n]),
      );
      expect(wouldRun(r).find((f) => f.what.startsWith('load-test'))!.what).toContain(
        '`/usr/local/bin/unified-pipeline loadtest --rate 1000/h --duration 10m`',
      );
      // What would fail is the plan against this target only: an image that is not in this engine and the
      // notification variables not set here. The legacy jobs, scripts and docs were found.
      const wouldFail = r.findings.filter((f) => f.severity === 'would-fail').map((f) => f.what);
      expect(wouldFail).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^target: image registry\.internal\/unified-pipeline:2\.4\.0: /),
          expect.stringMatching(/^target: environment variables set: not set on the worker: MIGRATION_SMTP_URL/),
        ]),
      );
      expect(wouldFail.filter((w) => !/^target: (image|environment variables)/.test(w))).toEqual([]);
      // The comparison and every metric read real rows (nothing inconclusive, nothing failing).
      expect(r.findings.filter((f) => f.kind === 'metric' || f.kind === 'comparison')).toEqual([]);
      // The check report shows the state of its own: neither passed nor failed, the command shown.
      const validation = fs.readFileSync(path.join(out, 'reports', r.migrationId, 'validation.md'), 'utf8');
      expect(validation).toContain('| load-test | not run | >= 1,000 items/h | would run |');
      expect(validation).toContain('5 not run, neither passed nor failed');
      expect(validation).toContain(
        '- **load-test**: Sustained load — not run: a real run runs `/usr/local/bin/unified-pipeline loadtest --rate 1000/h --duration 10m`',
      );
      const rehearsal = fs.readFileSync(r.markdownFile, 'utf8');
      expect(rehearsal).toContain('| gate:cutover |');
      expect(rehearsal).toContain('**5 check(s) NOT RUN** (commands not marked `readOnly: true`)');
      expect(JSON.parse(fs.readFileSync(r.jsonFile, 'utf8'))).toMatchObject({ outcome: 'complete', plan: plan.name });

      // Nothing of the target changed: rows, sequences, relations (no routing table, no ledger: its rows are only
      // counted), files, crontab, containers. The rehearsal wrote only into its own folder.
      expect(r.ledgerRows).toBeGreaterThan(0);
      const after = await targetSnapshot(target);
      expect(after).toEqual(before);
      expect(before.database.rows).toMatchObject({ 'public.submissions': 200, 'public.item_runs': 400 });
      expect(before.database.sequences).toMatchObject({ 'public.submissions_id_seq': { last_value: '200' } });
      expect(Object.keys(before.files[home]!)).toEqual(
        expect.arrayContaining(['pipelines/scripts/batch_scorer.py', 'pipelines/.git/HEAD', 'backups/', 'reports/']),
      );
      expect(before.crontab).toContain(`${repo}/scripts/batch_scorer.py`);
      expect(before.database.relations).not.toContain('public.migration_routing (r)');
      expect(before.database.relations).not.toContain('public.migration_ledger (r)');
      expect(written(out)).toEqual(rehearsalOutput(r).sort());
    } finally {
      delete process.env.TARGET_DATABASE_URL;
      removeCrontab(user);
      await db.drop();
      for (const dir of [home, out]) fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('rehearses the demo plan against the real demo system and changes nothing: rows, files, crontab, containers', async () => {
    // The demo's target, in a folder and crontab of this test's own (the demo suites may use the shipped ones); the
    // folder is under the project's, as the shipped one is, so that the demo's scripts find their node modules.
    fs.mkdirSync(path.join(root, '.stack'), { recursive: true });
    const home = fs.mkdtempSync(path.join(root, '.stack', 'rehearsal-demo-target-'));
    const doc = demoDoc();
    Object.assign(doc.target, {
      repository: path.join(home, 'repo'),
      backupDir: path.join(home, 'backups'),
      reportDir: path.join(home, 'reports'),
      composeProject: `mo-rehearse-${uniq()}`,
    });
    doc.scheduler.user = 'mo-rehearse-demo';
    const plan = planFromDoc(doc);
    const out = tempDir('rehearsal-demo');
    const setup = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_rehearse_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = setup.databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = setup.metricsDatabaseUrl;
    try {
      await withDb(setup.databaseUrl, (c) =>
        c.query(
          "insert into submissions (title, body, subreddit, score) select 'p' || g, 'b', 'news', g from generate_series(1, 50) g",
        ),
      );
      const target = {
        databaseUrl: setup.databaseUrl,
        folders: [home],
        crontabUser: setup.crontabUser,
        composeProject: plan.target.composeProject,
      };
      const before = await targetSnapshot(target);
      const r = await rehearse(plan, { outDir: out });
      expect(r.outcome).toBe('complete');
      expect(r.timeline.map((t) => t.phase)).toEqual(HAPPY_PHASES);
      // The read-only checks ran for real and passed; the load test writes (a scratch schema), so it did not run.
      expect(r.findings.filter((f) => f.kind === 'check' && f.severity !== 'would-run')).toEqual([]);
      expect(wouldRun(r).map((f) => f.what)).toEqual([
        'load-test: not run, a real run runs `node scripts/checks.js load --database-url-env DEMO_DATABASE_URL` (a rehearsal runs only commands marked readOnly: true)',
      ]);
      const validation = fs.readFileSync(path.join(out, 'reports', r.migrationId, 'validation.md'), 'utf8');
      expect(validation).toContain('**NOT ALL RUN**');
      expect(validation).toContain('| test-coverage | 93.8 % | > 90 % | pass |');
      expect(validation).toContain('| load-test | not run | >= 1,000 items/h | would run |');

      const after = await targetSnapshot(target);
      expect(after).toEqual(before);
      expect(before.database.rows['public.submissions']).toBe(50);
      expect(Object.keys(before.files[home]!)).toEqual(
        expect.arrayContaining(['repo/scripts/checks.js', 'repo/docs/operations.md', 'repo/.git/HEAD']),
      );
      expect(before.crontab).toContain('scripts/legacy/batch_scorer.js');
      expect(before.database.relations).not.toContain('public.migration_routing (r)');
      expect(before.containers).toEqual([]);
      expect(written(out)).toEqual(rehearsalOutput(r).sort());
    } finally {
      delete process.env.DEMO_DATABASE_URL;
      delete process.env.DEMO_METRICS_DATABASE_URL;
      removeCrontab(setup.crontabUser);
      for (const dir of [home, out]) fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { stopContainers } from '../activities/containers';
import { quoteIdent } from '../activities/database';
import { dockerClient } from '../activities/docker';
import { ensureDatabase } from '../lib/admin-db';
import { projectRoot } from '../lib/config';
import type { Plan } from '../model/plan';

const SYSTEM = path.join(projectRoot, 'demo', 'system');

/** What a prepared demo target consists of. */
export interface DemoTarget {
  databaseUrl: string;
  /** The read-only role's URL, for the variable the plan's `target.metricsDatabaseUrlEnv` names (holds a password). */
  metricsDatabaseUrl: string;
  repository: string;
  crontabUser: string;
  /** The crontab as the setup wrote it (what a rollback must restore byte for byte). */
  crontab: string;
}

/**
 * How the demo's legacy crontab is written: `plain` is one line per job, schedule and command (what a plan without
 * `line` or `match` finds); `hand-written` is how an operations team writes it, with `cd`, `&&`, an environment
 * assignment, log redirects and an unrelated `@daily` line (found by the plan's `match:`).
 */
export type CrontabStyle = 'plain' | 'hand-written';

/** The legacy crontab of the demo system, written as its owners would (never by the orchestrator's helpers). */
export function demoCrontab(repo: string, style: CrontabStyle, logDir: string): string {
  if (style === 'plain')
    return [
      '# scoring monoliths',
      `* * * * * node ${repo}/scripts/legacy/batch_scorer.js`,
      `* * * * * node ${repo}/scripts/legacy/api_ingest_trust.js`,
      '',
    ].join('\n');
  return [
    '# m h dom mon dow   command            (ops team: scoring monoliths, see docs/operations.md)',
    'MAILTO=""',
    'SHELL=/bin/sh',
    `*/1 * * * *  cd ${repo} && SCORER_MODE=batch node scripts/legacy/batch_scorer.js >> ${logDir}/batch_scorer.log 2>&1`,
    `* * * * *    cd ${repo}/scripts && node legacy/api_ingest_trust.js >>${logDir}/trust.log 2>&1`,
    `@daily       find ${logDir} -name '*.log.old' -mtime +14 -delete`,
    '',
  ].join('\n');
}

/**
 * Prepares the system the demo migrates, from scratch: its database (schema, no rows), the git repository holding
 * the legacy scripts and the docs that mention them, and the crontab that runs the legacy jobs.
 */
export async function setupDemoTarget(
  plan: Plan,
  adminUrl: string,
  databaseName: string,
  dockerHost?: string,
  style: CrontabStyle = 'plain',
): Promise<DemoTarget> {
  if (plan.scheduler.kind !== 'crontab') throw new Error('the demo target runs its legacy jobs from a crontab');
  const crontabUser = plan.scheduler.user ?? 'root';
  const databaseUrl = await ensureDatabase(adminUrl, databaseName, { recreate: true });
  await withDb(databaseUrl, (db) => db.query(fs.readFileSync(path.join(SYSTEM, 'schema.sql'), 'utf8')));
  const metricsDatabaseUrl = await readOnlyRole(databaseUrl, databaseName);

  const repo = plan.target.repository;
  fs.rmSync(repo, { recursive: true, force: true });
  fs.mkdirSync(path.join(repo, 'scripts', 'legacy'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'docs'), { recursive: true });
  for (const f of ['pipeline.js', 'unified.js', 'checks.js', 'generate.js', 'load.js', 'schema.sql'])
    fs.copyFileSync(path.join(SYSTEM, f), path.join(repo, 'scripts', f));
  for (const f of fs.readdirSync(path.join(SYSTEM, 'legacy')))
    fs.copyFileSync(path.join(SYSTEM, 'legacy', f), path.join(repo, 'scripts', 'legacy', f));
  fs.writeFileSync(
    path.join(repo, 'docs', 'operations.md'),
    [
      '# Scoring operations',
      '',
      'Submissions are scored every minute by two cron jobs:',
      '',
      '- `scripts/legacy/batch_scorer.js`: the database batch scorer (quality score).',
      '- `scripts/legacy/api_ingest_trust.js`: the API-ingest trust scorer (trust score).',
      '',
      'If scoring falls behind, run `node scripts/legacy/batch_scorer.js` by hand.',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(repo, 'README.md'), '# Scoring pipelines\n\nSee docs/operations.md.\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Demo Setup');
  git('config', 'user.email', 'demo@example.com');
  git('add', '-A');
  git('commit', '-q', '-m', 'Legacy scoring monoliths');

  for (const dir of [plan.target.backupDir, plan.target.reportDir]) fs.rmSync(dir, { recursive: true, force: true });
  // The demo owns its compose project: whichever earlier demo migration made its containers, they go.
  await stopContainers(dockerClient(dockerHost), plan.target.composeProject, { anyOwner: true });
  ensureUser(crontabUser);
  try {
    execFileSync('crontab', ['-r', '-u', crontabUser], { stdio: 'ignore' });
  } catch {
    // No crontab yet.
  }
  const logDir = path.join(path.dirname(repo), 'legacy-logs');
  fs.mkdirSync(logDir, { recursive: true });
  const crontab = demoCrontab(repo, style, logDir);
  execFileSync('crontab', ['-u', crontabUser, '-'], { input: crontab });
  return { databaseUrl, metricsDatabaseUrl, repository: repo, crontabUser, crontab };
}

/**
 * The role the demo's gate and check SQL runs as, made as a careful operator would: LOGIN, a fresh password, SELECT
 * on the tables (those created later by the same owner too) and nothing else. Returns its URL; never logged.
 */
export async function readOnlyRole(databaseUrl: string, databaseName: string): Promise<string> {
  const role = `${databaseName}_reader`.slice(0, 63);
  const password = randomBytes(18).toString('base64url');
  await withDb(databaseUrl, async (db) => {
    const exists = await db.query('select 1 from pg_roles where rolname = $1', [role]);
    const r = quoteIdent(role);
    // The password is a literal (CREATE ROLE takes no parameters); base64url holds no quote.
    const how = `login nosuperuser nocreatedb nocreaterole noinherit password '${password}'`;
    await db.query(exists.rowCount ? `alter role ${r} ${how}` : `create role ${r} ${how}`);
    await db.query(`grant connect on database ${quoteIdent(databaseName)} to ${r}`);
    await db.query(`grant usage on schema public to ${r}`);
    await db.query(`grant select on all tables in schema public to ${r}`);
    await db.query(`alter default privileges in schema public grant select on tables to ${r}`);
  });
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}

/** Creates a system user for the demo crontab if it does not exist. */
function ensureUser(user: string): void {
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', user], { stdio: 'ignore' });
  }
}

/** Runs `fn` on a connection to `url`. */
export async function withDb<T>(url: string, fn: (db: PgClient) => Promise<T>): Promise<T> {
  const db = new PgClient({ connectionString: url });
  db.on('error', () => undefined); // a dropped connection fails the query in flight, not the process
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** A background process of the demo system (generator, cron runner). */
export function startProcess(script: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a');
  return spawn(process.execPath, [path.join(SYSTEM, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
}

/** Stops a background process and waits for it. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

/** Whole-run integrity of the demo system: every submission scored exactly once, by whom. */
export async function integrity(url: string): Promise<{
  submissions: number;
  scored: number;
  missing: number;
  duplicates: number;
  byPipeline: Record<string, number>;
}> {
  return withDb(url, async (db) => {
    const r = await db.query<{ submissions: string; scored: string; missing: string; duplicates: string }>(
      `select (select count(*) from submissions) as submissions,
              (select count(*) from scores) as scored,
              (select count(*) from submissions s where not exists (select 1 from scores c where c.submission_id = s.id)) as missing,
              (select count(*) from (select submission_id from item_runs where status = 'ok' group by submission_id having count(*) > 1) d) as duplicates`,
    );
    const by = await db.query<{ pipeline: string; n: string }>('select pipeline, count(*) as n from scores group by 1');
    const row = r.rows[0]!;
    return {
      submissions: Number(row.submissions),
      scored: Number(row.scored),
      missing: Number(row.missing),
      duplicates: Number(row.duplicates),
      byPipeline: Object.fromEntries(by.rows.map((x) => [x.pipeline, Number(x.n)])),
    };
  });
}

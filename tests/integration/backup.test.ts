import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client as PgClient } from 'pg';
import {
  backupDatabase,
  libpqTarget,
  sha256File,
  type BackupInput,
  type BackupProgress,
} from '../../activities/backup';
import { pgTarget, tableRowCounts } from '../../activities/database';
import { runCommand } from '../../activities/process';
import type { BackupRecord } from '../../model/status';
import { processEndsWithin, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

/** One run of a libpq tool: its argv and whether it had `PGPASSWORD`. */
interface ToolRun {
  tool: string;
  argv: string[];
  pgpassword: boolean;
}

/**
 * A folder to put first on PATH with `psql`, `pg_dump` and `pg_restore` that record how they were called and then run
 * the real ones, and a reader of what they recorded.
 */
function recordingTools(): { bin: string; runs: () => ToolRun[] } {
  const bin = tempDir('mo-recording-tools');
  const log = path.join(bin, 'runs.log');
  for (const tool of ['psql', 'pg_dump', 'pg_restore']) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    fs.writeFileSync(
      path.join(bin, tool),
      `#!/bin/sh
printf '%s\n' ${tool} "$@" "pgpassword=\${PGPASSWORD:+set}" '--end--' >> ${JSON.stringify(log)}
exec ${real} "$@"
`,
      { mode: 0o755 },
    );
  }
  const runs = () => {
    if (!fs.existsSync(log)) return [];
    const runs: ToolRun[] = [];
    let lines: string[] = [];
    for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
      if (line !== '--end--') {
        lines.push(line);
        continue;
      }
      runs.push({ tool: lines[0]!, argv: lines.slice(1, -1), pgpassword: lines.at(-1) === 'pgpassword=set' });
      lines = [];
    }
    return runs;
  };
  return { bin, runs };
}

/** `backupDatabase` in a mock activity context (its `run` cannot infer the result type). */
const runIn = (env: MockActivityEnvironment, input: BackupInput): Promise<BackupRecord> =>
  env.run<[BackupInput], BackupRecord, typeof backupDatabase>(backupDatabase, input);

/** `fn` with `dir` first on PATH. */
async function withPath<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved}`;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe('libpqTarget: the database URL as libpq reads it, the password only in the environment', () => {
  it('keeps host lists, unix-socket hosts and every parameter, and moves the password out', () => {
    const t = libpqTarget(
      'postgresql://app:p%40ss@db1:5432,db2:5433/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem&password=winner&options=-c%20statement_timeout%3D0',
    );
    expect(t.conninfo).toBe(
      'postgresql://app@db1:5432,db2:5433/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem&options=-c%20statement_timeout%3D0',
    );
    // As in libpq, a `password` parameter wins over the one in the user part; both are secrets.
    expect(t.env.PGPASSWORD).toBe('winner');
    expect(t.secrets).toEqual(expect.arrayContaining(['p%40ss', 'p@ss', 'winner']));
    const socket = libpqTarget('postgres://app@/shop?host=/run/postgresql&application_name=mo');
    expect(socket.conninfo).toBe('postgres://app@/shop?host=/run/postgresql&application_name=mo');
    expect(socket.env.PGPASSWORD).toBeUndefined();
    // Another database on the same server: the path changes, a `dbname` parameter (which would win) goes.
    expect(libpqTarget('postgres://app:pw@db1/shop?dbname=x&sslmode=require', 'mo_verify_1').conninfo).toBe(
      'postgres://app@db1/mo_verify_1?sslmode=require',
    );
  });

  it('reads a bare @ in the password as node-postgres does, and never puts the password in the URL', () => {
    // Worked before with the pg driver (WHATWG URL: the user part ends at the last @); libpq alone would split at the
    // first and take "ss@db" for the host.
    const t = libpqTarget('postgres://app:p@ss@db:5432/x');
    expect(t.conninfo).toBe('postgres://app@db:5432/x');
    expect(t.env.PGPASSWORD).toBe('p@ss');
    // An Azure-style user (user@server) is spelled %-encoded, so libpq reads the same user.
    const azure = libpqTarget('postgres://ops%40pg-prod:pw@pg-prod.postgres.database.azure.com/x?sslmode=require');
    expect(azure.conninfo).toBe('postgres://ops%40pg-prod@pg-prod.postgres.database.azure.com/x?sslmode=require');
    // A client key's passphrase stays in the URL (libpq has no variable for it) but is scrubbed from messages.
    expect(libpqTarget('postgres://u@db/x?sslkey=/k.pem&sslpassword=k3y').secrets).toContain('k3y');
  });

  it("ignores the worker's PG* variables that say where to connect, keeps those that say how", () => {
    Object.assign(process.env, {
      PGHOST: 'elsewhere.invalid',
      PGUSER: 'intruder',
      PGSSLROOTCERT: '/etc/ssl/rds-ca.pem',
    });
    try {
      const t = libpqTarget('postgres://u@db/x');
      expect(t.env.PGHOST).toBeUndefined();
      expect(t.env.PGUSER).toBeUndefined();
      expect(t.env.PGSSLROOTCERT).toBe('/etc/ssl/rds-ca.pem');
      expect(t.env.PATH).toBe(process.env.PATH);
    } finally {
      for (const k of ['PGHOST', 'PGUSER', 'PGSSLROOTCERT']) delete process.env[k];
    }
  });

  it('refuses a value that is not a postgres:// URL without echoing it', () => {
    let err: unknown;
    try {
      libpqTarget('host=db password=hunter2');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(String((err as Error).message)).not.toContain('hunter2');
  });
});

describe('backupDatabase against the real PostgreSQL', () => {
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let dir: string;

  beforeAll(async () => {
    source = await scratchDatabase('mo_backup_src');
    await withPg(source.url, async (c) => {
      await c.query('create table items (id serial primary key, v text)');
      await c.query(`insert into items (v) select md5(g::text) from generate_series(1, 250) g`);
      await c.query('create schema audit');
      await c.query('create table audit.log (at timestamptz default now(), msg text)');
      await c.query(`insert into audit.log (msg) values ('a'), ('b'), ('c')`);
    });
    process.env.MO_TEST_BACKUP_URL = source.url;
    dir = tempDir('mo-backup');
  });

  afterAll(async () => {
    await source.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes a custom-format dump whose checksum and per-table row counts are verified by a restore', async () => {
    const rec = await backupDatabase({
      migrationId: 'm-1',
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_BACKUP_URL',
      backupDir: dir,
    });
    expect(rec.verified).toBe(true);
    expect(rec.tables).toEqual({ 'public.items': 250, 'audit.log': 3 });
    expect(await sha256File(rec.file)).toBe(rec.sha256);
    expect(fs.readFileSync(rec.file).subarray(0, 5).toString()).toBe('PGDMP');

    // Restore independently of the activity and count again.
    const restored = await scratchDatabase('mo_backup_restore');
    try {
      const r = await runCommand('pg_restore', ['--no-owner', '-d', restored.name, rec.file], {
        env: pgTarget(restored.url).env,
      });
      expect(r.code).toBe(0);
      expect(await withPg(restored.url, tableRowCounts)).toEqual({ 'public.items': 250, 'audit.log': 3 });
    } finally {
      await restored.drop();
    }
  });

  it('is idempotent: a second run of the same step returns the verified backup without dumping again', async () => {
    const first = await backupDatabase({
      migrationId: 'm-2',
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_BACKUP_URL',
      backupDir: dir,
    });
    const mtime = fs.statSync(first.file).mtimeMs;
    await withPg(source.url, (c) => c.query(`insert into items (v) values ('later')`));
    const second = await backupDatabase({
      migrationId: 'm-2',
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_BACKUP_URL',
      backupDir: dir,
    });
    expect(second).toEqual(first);
    expect(fs.statSync(second.file).mtimeMs).toBe(mtime);
    // A different step is a new backup and sees the new row.
    const third = await backupDatabase({
      migrationId: 'm-2',
      step: 'pre-cutover',
      databaseUrlEnv: 'MO_TEST_BACKUP_URL',
      backupDir: dir,
    });
    expect(third.tables['public.items']).toBe(251);
    expect(path.basename(third.file)).toBe('pre-cutover.dump');
  });

  it('fails without a side effect when the named variable is missing, and never echoes a URL', async () => {
    await expect(
      backupDatabase({ migrationId: 'm-3', step: 'pre-go', databaseUrlEnv: 'MO_TEST_NOT_SET', backupDir: dir }),
    ).rejects.toMatchObject({
      type: 'MissingSecret',
      nonRetryable: true,
      message: expect.stringContaining('MO_TEST_NOT_SET'),
    });
    expect(fs.existsSync(path.join(dir, 'm-3'))).toBe(false);
  });

  it('refuses to count a failed dump as a backup', async () => {
    const broken = new URL(source.url);
    broken.pathname = '/mo_database_that_does_not_exist';
    process.env.MO_TEST_BROKEN_URL = broken.toString();
    await expect(
      backupDatabase({ migrationId: 'm-4', step: 'pre-go', databaseUrlEnv: 'MO_TEST_BROKEN_URL', backupDir: dir }),
    ).rejects.toThrow(/does not exist/);
    expect(fs.existsSync(path.join(dir, 'm-4', 'pre-go.dump.json'))).toBe(false);
  });

  it('a cancelled backup (rollback or abort while it dumps) kills pg_dump and its children and leaves no file', async () => {
    // A pg_dump that starts writing, leaves a child behind and never finishes, first on the PATH.
    const bin = tempDir('mo-slow-pg-dump');
    const pids = path.join(bin, 'pids');
    fs.writeFileSync(
      path.join(bin, 'pg_dump'),
      `#!/bin/sh
for a in "$@"; do [ "$prev" = "--file" ] && printf 'PGDMP partial' > "$a"; prev="$a"; done
sleep 60 &
echo "$$ $!" > ${JSON.stringify(pids)}
wait
`,
      { mode: 0o755 },
    );
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    const id = `m-cancel-${uniq()}`;
    try {
      const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 });
      const beats: BackupProgress[] = [];
      env.on('heartbeat', (d: BackupProgress) => beats.push(d));
      const run = env.run(backupDatabase, {
        migrationId: id,
        step: 'pre-cutover',
        databaseUrlEnv: 'MO_TEST_BACKUP_URL',
        backupDir: dir,
      });
      while (!fs.existsSync(pids)) await new Promise((r) => setTimeout(r, 50));
      // pg_dump writes in a scratch folder of its own beside the dump.
      expect(fs.readdirSync(path.join(dir, id))).toEqual([expect.stringMatching(/^\.pre-cutover\.dump\.tmp-/)]);
      env.cancel();
      await expect(run).rejects.toBeInstanceOf(CancelledFailure);
      expect(beats).toContainEqual(expect.objectContaining({ stage: 'dumping' }));
      // The whole process group is gone: the script and the child it left behind.
      for (const pid of fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number)) {
        expect(await processEndsWithin(pid)).toBe(true);
      }
      expect(fs.readdirSync(path.join(dir, id))).toEqual([]);
    } finally {
      process.env.PATH = savedPath;
      fs.rmSync(bin, { recursive: true, force: true });
    }
  }, 20_000);

  it('a retry after a dead worker reuses the dump its heartbeats recorded, and starts over when the file changed', async () => {
    const id = `m-resume-${uniq()}`;
    const input = { migrationId: id, step: 'pre-go', databaseUrlEnv: 'MO_TEST_BACKUP_URL', backupDir: dir };
    const first = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 });
    const beats: BackupProgress[] = [];
    first.on('heartbeat', (d: BackupProgress) => beats.push(d));
    const rec = await runIn(first, input);
    const dumped = beats.find((b) => b.stage === 'dumped');
    expect(dumped?.dump).toEqual({ file: rec.file, sha256: rec.sha256, bytes: rec.bytes, tables: rec.tables });
    // The worker died after the dump, before the manifest: the retry gets the last heartbeat of attempt 1.
    fs.rmSync(`${rec.file}.json`);
    const inode = fs.statSync(rec.file).ino;
    const tools = recordingTools();
    const retry = async (attempt: number, details: BackupProgress) => {
      const env = new MockActivityEnvironment({ attempt, heartbeatDetails: details, startToCloseTimeoutMs: 60_000 });
      const seen: BackupProgress[] = [];
      env.on('heartbeat', (d: BackupProgress) => seen.push(d));
      return { rec: await withPath(tools.bin, () => runIn(env, input)), seen };
    };
    try {
      const second = await retry(2, { ...dumped!, stage: 'verifying' });
      expect(second.rec).toMatchObject({ file: rec.file, sha256: rec.sha256, tables: rec.tables, verified: true });
      expect(second.seen).toContainEqual(expect.objectContaining({ stage: 'verifying', resumed: true }));
      expect(tools.runs().map((r) => r.tool)).not.toContain('pg_dump');
      expect(fs.statSync(rec.file).ino).toBe(inode);

      // A dump that changed since (or a half-written one beside it) is never reused: the backup starts over.
      fs.rmSync(`${rec.file}.json`);
      fs.appendFileSync(rec.file, 'tampered');
      fs.writeFileSync(`${rec.file}.partial`, 'PGDMP half');
      const third = await retry(3, { ...dumped!, stage: 'verifying' });
      expect(tools.runs().filter((r) => r.tool === 'pg_dump')).toHaveLength(1);
      expect(third.rec.verified).toBe(true);
      expect(third.rec.sha256).toBe(await sha256File(rec.file));
      expect(third.seen).not.toContainEqual(expect.objectContaining({ resumed: true }));
      expect(fs.readdirSync(path.dirname(rec.file)).sort()).toEqual(['pre-go.dump', 'pre-go.dump.json']);
    } finally {
      fs.rmSync(tools.bin, { recursive: true, force: true });
    }
  }, 30_000);

  it("sslmode=require reaches the tools: against a server without SSL the backup fails with libpq's SSL error", async () => {
    const password = decodeURIComponent(new URL(source.url).password);
    expect(password).not.toBe('');
    process.env.MO_TEST_SSL_URL = `${source.url}?sslmode=require`;
    const err = await backupDatabase({
      migrationId: 'm-ssl',
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_SSL_URL',
      backupDir: dir,
    }).then(
      () => new Error('the backup succeeded'),
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({
      type: 'BackupFailed',
      message: expect.stringMatching(/server does not support SSL, but SSL was required/),
    });
    expect(err.message).toContain('sslmode=require');
    expect(err.message).not.toContain(password);
    expect(JSON.stringify(err)).not.toContain(password);
    expect(fs.readdirSync(path.join(dir, 'm-ssl'))).toEqual([]);
  });

  it('sslmode=disable&application_name=…: every tool gets the whole URL, the password only in PGPASSWORD', async () => {
    const password = decodeURIComponent(new URL(source.url).password);
    process.env.MO_TEST_APPNAME_URL = `${source.url}?sslmode=disable&application_name=mo-backup-test`;
    const tools = recordingTools();
    // pg_dump waits for a lock on a view (views are dumped, not counted), long enough to be seen by its name.
    const locker = await scratchClient(source.url);
    // A view on no table: locking a view also locks the tables it reads, which would hold up the row counts.
    await locker.query('create view idle_view as select 1 as x');
    await locker.query('begin');
    await locker.query('lock table idle_view in access exclusive mode');
    try {
      const run = withPath(tools.bin, () =>
        backupDatabase({
          migrationId: 'm-appname',
          step: 'pre-go',
          databaseUrlEnv: 'MO_TEST_APPNAME_URL',
          backupDir: dir,
        }),
      );
      run.catch(() => undefined); // awaited below; a failed assertion first must not leave it unhandled
      const waiting = await lockWaiters(source.url, () => tools.runs().some((r) => r.tool === 'pg_dump'));
      expect(waiting).toContain('mo-backup-test');
      await locker.query('commit');
      const rec = await run;
      expect(rec).toMatchObject({ verified: true, tables: { 'public.items': expect.any(Number), 'audit.log': 3 } });
      const runs = tools.runs();
      expect(runs.map((r) => r.tool)).toEqual(expect.arrayContaining(['psql', 'pg_dump', 'pg_restore']));
      for (const r of runs) {
        const dbname = r.argv.find((a) => a.startsWith('--dbname='));
        expect(dbname).toMatch(/[?&]sslmode=disable(&|$)/);
        expect(dbname).toMatch(/[?&]application_name=mo-backup-test(&|$)/);
        expect(r.argv.join(' ')).not.toContain(password);
        expect(r.pgpassword).toBe(true);
      }
      // The scratch restore goes to the same server with the same parameters, in another database.
      const restore = runs.find((r) => r.tool === 'pg_restore')!.argv.find((a) => a.startsWith('--dbname='))!;
      expect(restore).toMatch(/\/mo_verify_[0-9a-f]{16}_1\?sslmode=disable&application_name=mo-backup-test$/);
      expect(JSON.stringify(rec)).not.toContain(password);
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await locker.query('drop view if exists idle_view');
      await locker.end();
      fs.rmSync(tools.bin, { recursive: true, force: true });
    }
  }, 30_000);
});

/** A connected `pg` client the caller ends. */
async function scratchClient(url: string): Promise<PgClient> {
  const c = new PgClient({ connectionString: url });
  await c.connect();
  return c;
}

/**
 * The application names of the sessions waiting for a lock on the database of `url`, once `ready()` holds and one
 * is waiting (polled for up to 10 s).
 */
async function lockWaiters(url: string, ready: () => boolean): Promise<string[]> {
  const db = new URL(url).pathname.slice(1);
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    if (!ready()) continue;
    const names = await withPg(url, async (c) =>
      (
        await c.query<{ name: string }>(
          `select application_name as name from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'`,
          [db],
        )
      ).rows.map((r) => r.name),
    );
    if (names.length) return names;
  }
  throw new Error('no session waited for the lock within 10 s');
}

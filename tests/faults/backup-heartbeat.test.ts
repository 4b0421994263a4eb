import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { backupDatabase, sha256File, type BackupInput, type BackupProgress } from '../../activities/backup';
import { connectClient } from '../../client/connection';
import { workerDataConverter } from '../../lib/codec';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import type { BackupRecord } from '../../model/status';
import type { backupWorkflow } from '../helpers/backup-workflow';
import { config, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

const EXPECTED_TABLES = { 'public.items': 20_000, 'audit.log': 3 };
/**
 * The backup's heartbeat timeout here: half the migration's 20 s, so the waits below (multiples of it) take half as
 * long. The activity heartbeats every 2 s whatever the timeout; one that keeps within 10 s keeps within 20 s.
 */
const HEARTBEAT_TIMEOUT_MS = 10_000;
const TIMEOUT = { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The backup activity's attempts as the workflow history records them. */
async function activityAttempts(handle: WorkflowHandle) {
  const events = (await handle.fetchHistory()).events ?? [];
  const started = events.filter((e) => e.activityTaskStartedEventAttributes);
  const completed = events.filter((e) => e.activityTaskCompletedEventAttributes);
  const ms = (e: (typeof events)[number] | undefined) =>
    Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
  return {
    attempts: started.map((e) => e.activityTaskStartedEventAttributes!.attempt),
    completed: completed.length,
    timedOut: events.filter((e) => e.activityTaskTimedOutEventAttributes).length,
    durationMs: ms(completed[0]) - ms(started[0]),
  };
}

/** The application names and queries of the sessions of `db` that wait for a lock, once one does (polled). */
async function lockWaiter(adminUrl: string, appName: string, timeoutMs = 30_000): Promise<string> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(200)) {
    const rows = await withPg(adminUrl, async (c) =>
      (
        await c.query<{ query: string }>(
          `select query from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
          [appName],
        )
      ).rows.map((r) => r.query),
    );
    if (rows[0]) return rows[0];
  }
  throw new Error(`no ${appName} session waited for a lock within ${timeoutMs} ms`);
}

/** A session that holds `lock table <relation> in access exclusive mode` until `release()`. */
async function holdLock(url: string, relation: string): Promise<{ release: () => Promise<void> }> {
  const c = new PgClient({ connectionString: url });
  await c.connect();
  await c.query('begin');
  await c.query(`lock table ${relation} in access exclusive mode`);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await c.query('rollback').catch(() => undefined);
      await c.end();
    },
  };
}

describe('backups under a 10-s heartbeat timeout (half the migration’s), in real workers', () => {
  let bundle: WorkflowBundle;
  let connection: NativeConnection;
  let client: Client;
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let dir: string;

  beforeAll(async () => {
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../helpers/backup-workflow'),
      logger: new DefaultLogger('WARN'),
    });
    connection = await NativeConnection.connect(config.temporalConnection);
    client = await connectClient(config);
    source = await scratchDatabase('mo_hb_src');
    await withPg(source.url, async (c) => {
      await c.query('create table items (id serial primary key, v text)');
      await c.query(`insert into items (v) select md5(g::text) from generate_series(1, 20000) g`);
      await c.query('create schema audit');
      await c.query('create table audit.log (at timestamptz default now(), msg text)');
      await c.query(`insert into audit.log (msg) values ('a'), ('b'), ('c')`);
      // A view on no table: pg_dump dumps it (and waits for a lock on it); the row counts do not read it.
      await c.query('create view idle_view as select 1 as x');
    });
    dir = tempDir('mo-backup-hb');
  });

  afterAll(async () => {
    await connection?.close();
    await client?.connection.close();
    await source?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the backup workflow with an in-process worker (workflow and activity) while `during` runs. */
  async function backupInWorker(
    input: BackupInput,
    during: (handle: WorkflowHandle<typeof backupWorkflow>) => Promise<void>,
  ): Promise<{ rec: BackupRecord; handle: WorkflowHandle<typeof backupWorkflow> }> {
    const taskQueue = `backup-hb-${uniq()}`;
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue,
      workflowBundle: bundle,
      activities: { backupDatabase },
      dataConverter: workerDataConverter(),
    });
    return worker.runUntil(async () => {
      const handle = await client.workflow.start<typeof backupWorkflow>('backupWorkflow', {
        taskQueue,
        workflowId: `backup-hb-${uniq()}`,
        args: [input, TIMEOUT],
      });
      await during(handle);
      return { rec: await handle.result(), handle };
    });
  }

  it('a pg_dump that waits 5.5 heartbeat timeouts (~55 s) for a lock finishes on attempt 1, verified', async () => {
    process.env.MO_TEST_HB_DUMP_URL = `${source.url}?application_name=mo-hb-dump`;
    const lock = await holdLock(source.url, 'idle_view');
    try {
      const { rec, handle } = await backupInWorker(
        { migrationId: `m-slow-dump-${uniq()}`, step: 'pre-go', databaseUrlEnv: 'MO_TEST_HB_DUMP_URL', backupDir: dir },
        async () => {
          // pg_dump itself waits for its lock (the row counts are done by then), for 5.5 heartbeat timeouts.
          const query = await lockWaiter(source.url, 'mo-hb-dump');
          expect(query).not.toMatch(/count\(\*\)/);
          await sleep(5.5 * HEARTBEAT_TIMEOUT_MS);
          await lock.release();
        },
      );
      const history = await activityAttempts(handle);
      expect(history).toMatchObject({ attempts: [1], completed: 1, timedOut: 0 });
      expect(history.durationMs).toBeGreaterThan(5 * HEARTBEAT_TIMEOUT_MS);
      expect(rec).toMatchObject({ verified: true, tables: EXPECTED_TABLES });
      expect(await sha256File(rec.file)).toBe(rec.sha256);
    } finally {
      await lock.release();
    }
  }, 120_000);

  it('a row count held up 1.25 heartbeat timeouts (~12 s) by a lock keeps heartbeating too', async () => {
    process.env.MO_TEST_HB_COUNT_URL = `${source.url}?application_name=mo-hb-count`;
    const lock = await holdLock(source.url, 'items');
    try {
      const { rec, handle } = await backupInWorker(
        {
          migrationId: `m-slow-count-${uniq()}`,
          step: 'pre-go',
          databaseUrlEnv: 'MO_TEST_HB_COUNT_URL',
          backupDir: dir,
        },
        async () => {
          expect(await lockWaiter(source.url, 'mo-hb-count')).toMatch(/count\(\*\) from "public"\."items"/);
          await sleep(1.25 * HEARTBEAT_TIMEOUT_MS);
          await lock.release();
        },
      );
      const history = await activityAttempts(handle);
      expect(history).toMatchObject({ attempts: [1], completed: 1, timedOut: 0 });
      expect(history.durationMs).toBeGreaterThan(1.1 * HEARTBEAT_TIMEOUT_MS);
      expect(rec).toMatchObject({ verified: true, tables: EXPECTED_TABLES });
    } finally {
      await lock.release();
    }
  }, 90_000);

  it("a worker SIGKILLed while it verifies: the next worker resumes from the heartbeats' dump, once", async () => {
    const migrationId = `m-kill-${uniq()}`;
    const step = 'pre-go';
    const taskQueue = `backup-kill-${uniq()}`;
    process.env.MO_TEST_HB_KILL_URL = source.url;
    // pg_dump and pg_restore that log their runs; the first pg_restore pauses 60 s first (as if the restore were
    // big), so the worker is killed in the middle of its verification.
    const bin = tempDir('mo-hb-tools');
    const runs = path.join(bin, 'runs.log');
    const paused = path.join(bin, 'paused.pid');
    for (const tool of ['pg_dump', 'pg_restore']) {
      const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      const pause =
        tool === 'pg_restore'
          ? `if [ ! -e ${JSON.stringify(paused)} ]; then echo $$ > ${JSON.stringify(paused)}; sleep 60; fi\n`
          : '';
      fs.writeFileSync(
        path.join(bin, tool),
        `#!/bin/sh\necho ${tool} >> ${JSON.stringify(runs)}\n${pause}exec ${real} "$@"\n`,
        { mode: 0o755 },
      );
    }
    const workerEnv = { MO_BACKUP_TASK_QUEUE: taskQueue, PATH: `${bin}:${process.env.PATH ?? ''}` };
    const script = require.resolve('../helpers/backup-worker');
    const logFile = path.join(dir, `${taskQueue}.log`);
    const workers: WorkerProcess[] = [];
    const start = async () => {
      const w = startWorkerProcess(logFile, workerEnv, script);
      workers.push(w);
      await w.ready;
      return w;
    };
    // The workflow runs in this process; the activity only in the worker processes.
    const workflowWorker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue,
      workflowBundle: bundle,
      dataConverter: workerDataConverter(),
    });
    try {
      const first = await start();
      const { rec, handle, inode } = await workflowWorker.runUntil(async () => {
        const handle = await client.workflow.start<typeof backupWorkflow>('backupWorkflow', {
          taskQueue,
          workflowId: `backup-kill-${uniq()}`,
          args: [{ migrationId, step, databaseUrlEnv: 'MO_TEST_HB_KILL_URL', backupDir: dir }, TIMEOUT],
        });
        // Kill once the server has the heartbeat that says the dump is complete and the restore runs.
        let progress: BackupProgress | undefined;
        for (const until = Date.now() + 60_000; progress?.stage !== 'restoring'; await sleep(250)) {
          if (Date.now() > until)
            throw new Error(`the backup never reported its restore; last: ${JSON.stringify(progress)}`);
          const pending = (await handle.describe()).raw.pendingActivities?.[0];
          const payload = pending?.heartbeatDetails?.payloads?.[0];
          progress = payload
            ? await decodeFromPayloadsAtIndex<BackupProgress>(client.options.loadedDataConverter, 0, [payload])
            : undefined;
        }
        expect(progress.dump?.file).toBeDefined();
        const inode = fs.statSync(progress.dump!.file).ino;
        first.child.kill('SIGKILL');
        await new Promise((r) => first.child.once('exit', r));
        await start();
        return { rec: await handle.result(), handle, inode };
      });

      const history = await activityAttempts(handle);
      expect(history).toMatchObject({ attempts: [2], completed: 1 });
      expect(rec).toMatchObject({ verified: true, tables: EXPECTED_TABLES });
      expect(await sha256File(rec.file)).toBe(rec.sha256);
      // Resumed: pg_dump ran once (attempt 1), its file is the very same one; only one file for the step.
      expect(fs.readFileSync(runs, 'utf8').trim().split('\n')).toEqual(['pg_dump', 'pg_restore', 'pg_restore']);
      expect(fs.statSync(rec.file).ino).toBe(inode);
      expect(fs.readdirSync(path.dirname(rec.file)).sort()).toEqual([`${step}.dump`, `${step}.dump.json`]);
      // No scratch database of either attempt is left.
      const prefix = `mo_verify_${createHash('sha256').update(`${migrationId}:${step}`).digest('hex').slice(0, 16)}_`;
      const left = await withPg(source.url, (c) =>
        c.query('select datname from pg_database where starts_with(datname, $1)', [prefix]),
      );
      expect(left.rows).toEqual([]);
    } finally {
      for (const w of workers) await w.stop();
      // The paused pg_restore of the killed worker outlived it (its own process group): end it.
      if (fs.existsSync(paused)) {
        try {
          process.kill(-Number(fs.readFileSync(paused, 'utf8').trim()), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      fs.rmSync(bin, { recursive: true, force: true });
    }
  }, 150_000);
});

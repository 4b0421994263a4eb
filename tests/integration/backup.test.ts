import fs from 'node:fs';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { backupDatabase, sha256File } from '../../activities/backup';
import { pgTarget, tableRowCounts } from '../../activities/database';
import { runCommand } from '../../activities/process';
import { processEnded, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

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
      const env = new MockActivityEnvironment();
      const beats: unknown[] = [];
      env.on('heartbeat', (d: unknown) => beats.push(d));
      const run = env.run(backupDatabase, {
        migrationId: id,
        step: 'pre-cutover',
        databaseUrlEnv: 'MO_TEST_BACKUP_URL',
        backupDir: dir,
      });
      while (!fs.existsSync(pids)) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(path.join(dir, id, 'pre-cutover.dump.partial'))).toBe(true);
      env.cancel();
      await expect(run).rejects.toBeInstanceOf(CancelledFailure);
      expect(beats).toContain('dumping');
      // The whole process group is gone: the script and the child it left behind.
      for (const pid of fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number)) {
        expect(processEnded(pid)).toBe(true);
      }
      expect(fs.readdirSync(path.join(dir, id))).toEqual([]);
    } finally {
      process.env.PATH = savedPath;
      fs.rmSync(bin, { recursive: true, force: true });
    }
  }, 20_000);
});

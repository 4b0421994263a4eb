import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  evaluate,
  evaluateMetrics,
  measure,
  renderCheckReport,
  runCheck,
  runChecks,
  type CheckReport,
  type RunChecksInput,
} from '../../activities/checks';
import { withHeartbeats } from '../../activities/heartbeat';
import type { CheckSpec, Measurement, MetricSpec } from '../../model/plan';
import { processEndsWithin, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

const node = process.execPath;

describe('checks and metric readings against real PostgreSQL, processes and HTTP', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let server: http.Server;
  let base: string;
  const urlEnv = `MO_TEST_CHECKS_URL_${uniq()}`;
  const reportDir = tempDir('mo-checks');
  const repository = tempDir('mo-checks-repo');
  const ctx = { databaseUrlEnv: urlEnv, repository };
  const hour = () => new Date(Date.now() - 3_600_000).toISOString();

  beforeAll(async () => {
    db = await scratchDatabase('mo_checks');
    process.env[urlEnv] = db.url;
    await withPg(db.url, async (c) => {
      await c.query(`create table item_runs (pipeline text, status text, duration_ms int, finished_at timestamptz)`);
      // 200 runs in the window, 4 of them errors (2 %).
      await c.query(`insert into item_runs select 'unified', case when g % 50 = 0 then 'error' else 'ok' end, 100 + g, now() - interval '1 minute'
                       from generate_series(1, 200) g`);
      // Outside the window: counted only by a query without `$1`.
      await c.query(`insert into item_runs values ('unified', 'error', 9000, now() - interval '2 days')`);
    });
    fs.mkdirSync(path.join(repository, 'sub'));
    fs.writeFileSync(path.join(repository, 'sub', 'n.txt'), 'value: 7\n');
    server = http.createServer((req, res) => {
      if (req.url === '/metrics') res.end('# HELP x\nqueue_depth 17\nerror_ratio 0.004\n');
      else if (req.url === '/json')
        res.end(JSON.stringify({ data: { coverage: { pct: 91.5 }, lag: null, list: [3, 4] } }));
      else if (req.url === '/hang')
        return; // never answers
      else res.writeHead(500).end('boom');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await db.drop();
    delete process.env[urlEnv];
    fs.rmSync(reportDir, { recursive: true, force: true });
    fs.rmSync(repository, { recursive: true, force: true });
  });

  it('evaluates every comparator, with a tolerance for floating-point equality', () => {
    expect([evaluate(1, '<', 2), evaluate(2, '<=', 2), evaluate(3, '>', 2), evaluate(2, '>=', 2)]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([evaluate(0.1 + 0.2, '==', 0.3), evaluate(0.1 + 0.2, '!=', 0.3), evaluate(2, '<', 2)]).toEqual([
      true,
      false,
      false,
    ]);
  });

  it('reads SQL values: first column of the first row, `$1` bound only when used, no row or NULL as no data', async () => {
    const sql = (query: string) => measure({ kind: 'sql', query }, { ...ctx, since: hour() });
    expect((await sql(`select count(*) from item_runs where finished_at >= $1`)).value).toBe(200);
    // No `$1`: nothing is bound (binding would fail: "bind message supplies 1 parameters").
    expect((await sql(`select count(*), 'ignored' from item_runs`)).value).toBe(201);
    expect((await sql(`select avg(duration_ms)::numeric(10,1) from item_runs where finished_at >= $1`)).value).toBe(
      200.5,
    );
    expect((await sql(`select exists (select 1 from item_runs where status = 'error')`)).value).toBe(1);
    expect(await sql(`select 1 from item_runs where false`)).toEqual({ value: null, detail: 'no rows' });
    expect(await sql(`select max(duration_ms) from item_runs where pipeline = 'nobody'`)).toEqual({
      value: null,
      detail: 'NULL',
    });
    await expect(sql(`select 'abc'`)).rejects.toThrow('query returned "abc", not a number');
    // The measurement's own database overrides the context's.
    const r = await measure(
      { kind: 'sql', query: 'select 5', databaseUrlEnv: urlEnv },
      { databaseUrlEnv: 'MO_TEST_UNSET_URL' },
    );
    expect(r.value).toBe(5);
    await expect(
      measure({ kind: 'sql', query: 'select 5' }, { databaseUrlEnv: 'MO_TEST_UNSET_URL' }),
    ).rejects.toMatchObject({ type: 'MissingSecret', nonRetryable: true });
  });

  it('runs SQL as one statement in a read-only transaction: more statements, or a write, are refused and rows stay', async () => {
    // The owners' table, sequence and function, made by hand as they would.
    await withPg(db.url, async (c) => {
      await c.query('create table kept (id bigserial primary key, note text not null)');
      await c.query("insert into kept (note) select 'row ' || g from generate_series(1, 5) g");
      await c.query('create sequence kept_seq');
      await c.query("select setval('kept_seq', 41)");
      await c.query(`create function add_kept() returns bigint language sql as
                       $$ insert into kept (note) values ('added') returning id $$`);
    });
    const state = () =>
      withPg(db.url, async (c) => ({
        rows: (await c.query('select count(*)::int as n from kept')).rows[0],
        seq: (await c.query('select last_value::int, is_called from kept_seq')).rows[0],
      }));
    const before = await state();
    expect(before).toEqual({ rows: { n: 5 }, seq: { last_value: 41, is_called: true } });
    const sql = (query: string) => measure({ kind: 'sql', query }, { ...ctx, since: hour() }, 'check guarded');
    const refused = (message: RegExp) =>
      expect.objectContaining({ type: 'InvalidInput', nonRetryable: true, message: expect.stringMatching(message) });
    const oneStatement =
      /^check guarded: its SQL must be one read-only statement: cannot insert multiple commands into a prepared statement$/;
    // Several statements, with or without `$1` (without it node-postgres would send a simple query that runs them
    // all), also one that would COMMIT out of the read-only transaction first.
    await expect(sql('SELECT count(*) FROM kept; DELETE FROM kept')).rejects.toEqual(refused(oneStatement));
    await expect(sql('select count(*) from kept where $1::timestamptz < now(); delete from kept')).rejects.toEqual(
      refused(oneStatement),
    );
    await expect(sql('select 1; commit; delete from kept')).rejects.toEqual(refused(oneStatement));
    // One statement that writes: PostgreSQL's read-only error, named.
    const readOnly =
      /^check guarded: its SQL must be one read-only statement: cannot execute .* in a read-only transaction$/;
    await expect(sql('WITH d AS (DELETE FROM kept RETURNING 1) SELECT count(*) FROM d')).rejects.toEqual(
      refused(readOnly),
    );
    await expect(sql("select nextval('kept_seq')")).rejects.toEqual(
      refused(/cannot execute nextval\(\) in a read-only/),
    );
    await expect(sql('select add_kept()')).rejects.toEqual(refused(readOnly));
    // Nor can the statement switch the transaction to read-write (set_config is refused before it is sent).
    await expect(sql("select set_config('transaction_read_only', 'off', true)::int")).rejects.toEqual(
      refused(/^check guarded: expected one read-only query; set_config/),
    );
    expect(await state()).toEqual(before);
    // A single statement still reads, with a trailing semicolon and comment as a plan may write it.
    expect((await sql('select count(*) from kept;  -- five')).value).toBe(5);
    // The check report names the check; a metric's refusal is permanent (retrying cannot make it read-only).
    const check = await runCheck(
      {
        name: 'sneaky',
        measure: { kind: 'sql', query: 'select count(*) from kept; delete from kept' },
        op: '>',
        threshold: 0,
      },
      ctx,
    );
    expect(check).toMatchObject({
      passed: false,
      value: null,
      error:
        'check sneaky: its SQL must be one read-only statement: cannot insert multiple commands into a prepared statement',
    });
    await expect(
      evaluateMetrics({
        migrationId: 'm',
        databaseUrlEnv: urlEnv,
        since: hour(),
        metrics: [metric('sneaky', 'with d as (delete from kept returning 1) select count(*) from d')],
      }),
    ).rejects.toMatchObject({
      nonRetryable: true,
      message: expect.stringMatching(
        /^metric sneaky: its SQL must be one read-only statement: .*read-only transaction/,
      ),
    });
    expect(await state()).toEqual(before);
    // Every refused query was rolled back and its connection closed: nothing is left open on the database.
    const open = await withPg(
      db.url,
      async (c) =>
        (
          await c.query<{ state: string }>(
            'select state from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          )
        ).rows,
    );
    expect(open).toEqual([]);
  });

  it('refuses SQL that could act on the server before connecting: a COPY to a file is never written', async () => {
    const file = path.join('/tmp', `mo-copy-${uniq()}`);
    const unset = `MO_TEST_UNSET_URL_${uniq()}`;
    const refused = (what: string, word: string) =>
      expect.objectContaining({
        type: 'InvalidInput',
        nonRetryable: true,
        message: expect.stringMatching(new RegExp(`^${what}: expected one read-only query; ${word}`)),
      });
    // Against the stack's PostgreSQL, as its superuser: COPY TO a file would run in a read-only transaction.
    await expect(measure({ kind: 'sql', query: `COPY (select 1) TO '${file}'` }, ctx, 'metric leak')).rejects.toEqual(
      refused('metric leak', 'COPY'),
    );
    await expect(
      evaluateMetrics({
        migrationId: 'm',
        databaseUrlEnv: urlEnv,
        since: hour(),
        metrics: [metric('leak', `copy (select 1) to '${file}'`)],
      }),
    ).rejects.toEqual(refused('metric leak', 'COPY'));
    expect(fs.existsSync(file)).toBe(false);
    // Before any connection: the refusal comes even where the database variable is not set.
    const acting: [string, string][] = [
      ["select * from dblink_exec('dbname=postgres', 'drop table kept') as t(x text)", 'dblink'],
      ['select count(pg_terminate_backend(pid)) from pg_stat_activity', 'a signal function'],
      ['select pg_advisory_lock(42)::text, 1', 'an advisory lock function'],
      ['select 1 from pg_sleep(60)', 'pg_sleep'],
      ['set role postgres', 'SET/RESET'],
    ];
    for (const [query, word] of acting)
      await expect(measure({ kind: 'sql', query }, { databaseUrlEnv: unset }, 'check x')).rejects.toEqual(
        refused('check x', word),
      );
    // The words in a literal, a comment or a longer identifier are not refused.
    expect(
      (
        await measure(
          { kind: 'sql', query: "select count(*) from item_runs where status <> 'copy to pg_sleep(1)' -- set role x" },
          ctx,
        )
      ).value,
    ).toBe(201);
  });

  it('ends a query at its statement timeout, also one that sleeps behind a function the role may call', async () => {
    await withPg(db.url, (c) =>
      c.query(`create or replace function mo_sleepy(s float) returns int language sql as
                 $$ select 1 from pg_sleep(s) $$`),
    );
    const t0 = Date.now();
    await expect(
      measure({ kind: 'sql', query: 'select mo_sleepy(60)', timeoutMs: 1_000 }, ctx, 'metric sleepy'),
    ).rejects.toThrow('metric sleepy: its SQL ran past its statement timeout of 1000 ms');
    // A slow legitimate query too: the limit is the server's, whatever the statement.
    await expect(
      measure(
        { kind: 'sql', query: 'select count(*) from generate_series(1, 1e9::bigint)', timeoutMs: 1_000 },
        ctx,
        'metric big',
      ),
    ).rejects.toThrow('metric big: its SQL ran past its statement timeout of 1000 ms');
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Nothing keeps running on the server after it.
    const running = await withPg(
      db.url,
      async (c) =>
        (
          await c.query(
            "select query from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active'",
          )
        ).rows,
    );
    expect(running).toEqual([]);
    // Under its limit it reads.
    expect((await measure({ kind: 'sql', query: 'select mo_sleepy(0.1)', timeoutMs: 5_000 }, ctx)).value).toBe(1);
  }, 30_000);

  it('heartbeats every few seconds during every kind of check: a slow query, a hanging HTTP request, a command', async () => {
    const env = new MockActivityEnvironment();
    const beats: { at: number; detail: unknown }[] = [];
    env.on('heartbeat', (detail: unknown) => beats.push({ at: Date.now(), detail }));
    // A slow read its owners wrote as a function (pg_sleep itself is refused in a plan's SQL).
    await withPg(db.url, (c) =>
      c.query(`create or replace function mo_slow_read(s float) returns text language sql as
                 $$ select pg_sleep(s)::text $$`),
    );
    const t0 = Date.now();
    const slow: CheckSpec[] = [
      { name: 'slow-sql', measure: { kind: 'sql', query: 'select mo_slow_read(2.5), 1' }, op: '>', threshold: 0 },
      { name: 'hung-http', measure: { kind: 'http', url: `${base}/hang`, timeoutMs: 2_500 }, op: '>', threshold: 0 },
      {
        name: 'slow-command',
        measure: { kind: 'command', command: [node, '-e', 'setTimeout(() => console.log(1), 2500)'] },
        op: '>',
        threshold: 0,
      },
    ];
    const report = await env.run<[RunChecksInput], CheckReport, typeof runChecks>(runChecks, {
      migrationId: 'm-beats',
      title: 'T',
      kind: 'k',
      checks: slow,
      ...ctx,
      reportDir,
    });
    const end = Date.now();
    expect(report.results.map((r) => [r.name, r.error ?? r.value])).toEqual([
      ['slow-sql', 'query returned "", not a number'],
      ['hung-http', `HTTP request to ${base} timed out after 2500 ms`],
      ['slow-command', 1],
    ]);
    // Each check's own heartbeats go on while it runs (not only once before it), and no gap in the whole activity
    // comes near the heartbeat timeout (20 s): 2 s apart, with room for a busy machine.
    for (const c of slow) expect(beats.filter((b) => b.detail === `check ${c.name}`).length).toBeGreaterThanOrEqual(2);
    const times = [t0, ...beats.map((b) => b.at), end];
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.max(...gaps)).toBeLessThan(4_000);
  }, 30_000);

  it('runs commands without a shell unless declared, in the repository, reading the pattern or the last number', async () => {
    const cmd = (command: string[], extra: Partial<Extract<Measurement, { kind: 'command' }>> = {}) =>
      measure({ kind: 'command', command, ...extra }, ctx);
    expect((await cmd([node, '-e', "console.log('coverage 93.5%')"], { pattern: 'coverage ([0-9.]+)%' })).value).toBe(
      93.5,
    );
    expect((await cmd([node, '-e', "console.log('run 1 of 3: 12 failures, took 4.25 s')"])).value).toBe(4.25);
    expect((await cmd([node, '-e', "console.log('delta -3')"])).value).toBe(-3);
    // No shell: `$(echo hi)` and `;` reach the program as literal characters.
    const literal = await cmd([
      node,
      '-e',
      'console.log(JSON.stringify(process.argv[1]), process.argv[1].length)',
      '$(echo hi); 1',
    ]);
    expect(literal).toEqual({ value: 13, detail: '"$(echo hi); 1" 13' });
    // A declared shell on a default worker is refused, naming the setting, before anything runs.
    const marker = path.join(repository, 'shell-ran');
    await expect(cmd([`touch ${marker}; echo 1`], { shell: true })).rejects.toMatchObject({
      type: 'ShellNotAllowed',
      nonRetryable: true,
      message: expect.stringContaining('MO_ALLOW_SHELL=1'),
    });
    expect(fs.existsSync(marker)).toBe(false);
    // On a worker that allows shells, the same kind of text is expanded.
    process.env.MO_ALLOW_SHELL = '1';
    try {
      expect((await cmd(['echo', '$((6 * 7))'], { shell: true })).value).toBe(42);
    } finally {
      delete process.env.MO_ALLOW_SHELL;
    }
    // cwd is relative to the repository.
    expect((await cmd(['cat', 'n.txt'], { cwd: 'sub', pattern: 'value: (\\d+)' })).value).toBe(7);
    await expect(cmd([node, '-e', "console.log('no digits here')"])).rejects.toThrow('command output: no number found');
    await expect(cmd([node, '-e', "console.log('x')"], { pattern: 'coverage ([0-9.]+)' })).rejects.toThrow(
      'no number found by pattern',
    );
  });

  it('fails a command on a non-zero exit, and on a time-out kills it with its children', async () => {
    await expect(
      measure({ kind: 'command', command: [node, '-e', "console.error('disk full'); process.exit(3)"] }, ctx),
    ).rejects.toThrow('command exited 3: disk full');
    await expect(measure({ kind: 'command', command: ['/nonexistent/tool'] }, ctx)).rejects.toThrow('ENOENT');

    const pidFile = path.join(repository, `grandchild-${uniq()}.pid`);
    const script = `const c = require('child_process').spawn('sleep', ['30'], { stdio: 'inherit' });
      require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));`;
    const t0 = Date.now();
    await expect(measure({ kind: 'command', command: [node, '-e', script], timeoutMs: 500 }, ctx)).rejects.toThrow(
      'command timed out after 500 ms',
    );
    // The grandchild held stdout open: killing only the child would have waited the full 30 s.
    expect(Date.now() - t0).toBeLessThan(5_000);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(await processEndsWithin(pid)).toBe(true);
  });

  it('heartbeats while a command runs, and a cancelled activity kills it and stops instead of failing a check', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const pidFile = path.join(repository, `cancelled-${uniq()}.pid`);
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 60000)`;
    const slow: CheckSpec = {
      name: 'slow',
      measure: { kind: 'command', command: [node, '-e', script] },
      op: '>',
      threshold: 0,
    };
    const run = env.run(runChecks, {
      migrationId: 'm-cancel',
      title: 'T',
      kind: 'k',
      checks: [slow, slow],
      ...ctx,
      reportDir,
    });
    // The command heartbeats every 2 s while it runs; cancel after the first.
    while (!beats.includes(`running ${node}`)) await new Promise((r) => setTimeout(r, 50));
    env.cancel();
    const t0 = Date.now();
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(beats).toContain('check slow');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(pid, 0)).toThrow();
    // No report: a cancelled run decided nothing.
    expect(fs.existsSync(path.join(reportDir, 'm-cancel'))).toBe(false);
  }, 20_000);

  it('keeps heartbeating while one slow query runs', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const slow = () => withPg(db.url, async (c) => (await c.query('select pg_sleep(0.5)')).rowCount);
    expect(await env.run(() => withHeartbeats('slow query', slow(), 100))).toBe(1);
    expect(beats.filter((b) => b === 'slow query').length).toBeGreaterThanOrEqual(4);
  });

  it('never shows the database URL or its password in a result', async () => {
    const password = decodeURIComponent(new URL(db.url).password);
    expect(password.length).toBeGreaterThanOrEqual(4);
    const leak = `console.error('cannot connect to ' + process.env[${JSON.stringify(urlEnv)}]); process.exit(1)`;
    const err = await measure({ kind: 'command', command: [node, '-e', leak] }, ctx).catch((e: Error) => e);
    expect((err as Error).message).toContain('cannot connect to ***');
    expect((err as Error).message).not.toContain(password);
    const out = await measure(
      { kind: 'command', command: [node, '-e', `console.log(process.env[${JSON.stringify(urlEnv)}], 1)`] },
      ctx,
    );
    expect(out.detail).toBe('*** 1');
  });

  it('reads HTTP values by pattern or JSON path, and fails on errors, missing paths and time-outs', async () => {
    const get = (url: string, extra: Partial<Extract<Measurement, { kind: 'http' }>> = {}) =>
      measure({ kind: 'http', url: `${base}${url}`, ...extra }, ctx);
    expect(await get('/metrics', { pattern: '^error_ratio ([0-9.]+)$' })).toEqual({
      value: 0.004,
      detail: `HTTP 200 from ${base}`,
    });
    expect((await get('/json', { jsonPath: 'data.coverage.pct' })).value).toBe(91.5);
    expect((await get('/json', { jsonPath: 'data.list.1' })).value).toBe(4);
    expect((await get('/json', { jsonPath: 'data.lag' })).value).toBeNull();
    await expect(get('/json', { jsonPath: 'data.coverag.pct' })).rejects.toThrow(
      'no value at jsonPath data.coverag.pct',
    );
    await expect(get('/json', { jsonPath: 'data' })).rejects.toThrow('is not a number');
    await expect(get('/metrics', { jsonPath: 'a' })).rejects.toThrow('response body is not JSON');
    await expect(get('/missing', { pattern: '(\\d+)' })).rejects.toThrow(`HTTP 500 from ${base}`);
    await expect(get('/hang', { timeoutMs: 300 })).rejects.toThrow('timed out after 300 ms');
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await expect(measure({ kind: 'http', url: `http://127.0.0.1:${closedPort}/x` }, ctx)).rejects.toThrow(
      /failed: .*ECONNREFUSED/,
    );
  });

  const checks = (): CheckSpec[] => [
    {
      name: 'error-rate',
      measure: { kind: 'sql', query: `select avg((status = 'error')::int) from item_runs where finished_at >= $1` },
      op: '<=',
      threshold: 0.01,
    },
    {
      name: 'coverage',
      description: 'line coverage | all files',
      measure: {
        kind: 'command',
        command: [node, '-e', "console.log('All files | coverage: 93.5% lines')"],
        pattern: 'coverage: ([0-9.]+)%',
      },
      op: '>',
      threshold: 90,
      unit: '%',
    },
    {
      name: 'http-pattern',
      measure: { kind: 'http', url: `${base}/metrics`, pattern: 'error_ratio ([0-9.]+)' },
      op: '<',
      threshold: 0.01,
    },
    {
      name: 'http-json',
      measure: { kind: 'http', url: `${base}/json`, jsonPath: 'data.coverage.pct' },
      op: '>=',
      threshold: 90,
    },
    {
      name: 'slow',
      measure: { kind: 'command', command: [node, '-e', 'setTimeout(() => {}, 10000)'], timeoutMs: 300 },
      op: '>',
      threshold: 0,
    },
    {
      name: 'exit',
      measure: { kind: 'command', command: [node, '-e', "console.error('line one\\nline | two'); process.exit(3)"] },
      op: '>',
      threshold: 0,
    },
    {
      name: 'no-data',
      measure: { kind: 'sql', query: `select max(duration_ms) from item_runs where pipeline = 'nobody'` },
      op: '<',
      threshold: 1000,
    },
    {
      name: 'secret',
      measure: { kind: 'sql', query: 'select 1', databaseUrlEnv: 'MO_TEST_UNSET_URL' },
      op: '==',
      threshold: 1,
    },
  ];

  it('runs a set of checks, fails errors, time-outs and no data, and writes the report files (overwriting)', async () => {
    const input = {
      migrationId: 'm-checks-1',
      title: 'Validation',
      kind: 'validation',
      checks: checks(),
      ...ctx,
      reportDir,
      since: hour(),
    };
    const first = await runChecks(input);
    const by = Object.fromEntries(first.results.map((r) => [r.name, r]));
    expect(by['error-rate']).toMatchObject({ value: 0.02, passed: false });
    expect(by.coverage).toMatchObject({
      value: 93.5,
      passed: true,
      unit: '%',
      description: 'line coverage | all files',
    });
    expect(by['http-pattern']).toMatchObject({ value: 0.004, passed: true });
    expect(by['http-json']).toMatchObject({ value: 91.5, passed: true });
    expect(by.slow).toMatchObject({ value: null, passed: false, error: 'command timed out after 300 ms' });
    expect(by.exit).toMatchObject({ passed: false, error: 'command exited 3: line one line | two' });
    expect(by['no-data']).toMatchObject({ value: null, passed: false, detail: 'NULL' });
    expect(by['no-data']!.error).toBeUndefined();
    expect(by.secret).toMatchObject({ passed: false, error: expect.stringContaining('MO_TEST_UNSET_URL') });
    for (const r of first.results) expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(first.passed).toBe(false);

    expect(first.markdownFile).toBe(path.join(reportDir, 'm-checks-1', 'validation.md'));
    expect(first.jsonFile).toBe(path.join(reportDir, 'm-checks-1', 'validation.json'));
    const md = fs.readFileSync(first.markdownFile, 'utf8');
    expect(md).toContain('# Validation');
    expect(md).toContain('**FAILED** (3/8 checks passed)');
    expect(md).toContain('| Check | Value | Threshold | Result |');
    expect(md).toContain('| coverage | 93.5 % | > 90 % | pass |');
    expect(md).toContain('| error-rate | 0.02 | <= 0.01 | FAIL |');
    expect(md).toContain('| slow | error | > 0 | FAIL |');
    expect(md).toContain('| no-data | no data | < 1,000 | FAIL |');
    // Every table row has exactly five unescaped pipes: multi-line errors and pipes in text cannot break the table.
    for (const line of md.split('\n').filter((l) => l.startsWith('| ')))
      expect(line.split(/(?<!\\)\|/)).toHaveLength(6);
    expect(md).toContain('- **exit** — error: command exited 3: line one line \\| two');
    expect(md).toContain('- **coverage**: line coverage \\| all files');
    const json = JSON.parse(fs.readFileSync(first.jsonFile, 'utf8'));
    expect(json).toMatchObject({ kind: 'validation', title: 'Validation', passed: false, at: first.at });
    expect(json.results).toEqual(first.results);
    expect(renderCheckReport(first, input.migrationId)).toBe(md);

    // A retry (or a later run) overwrites the same files.
    const second = await runChecks({ ...input, checks: checks().slice(1, 2) });
    expect(second.markdownFile).toBe(first.markdownFile);
    expect(fs.readFileSync(second.markdownFile, 'utf8')).toContain('**PASSED** (1/1 checks passed)');
    expect(JSON.parse(fs.readFileSync(second.jsonFile, 'utf8')).results).toHaveLength(1);
    expect(fs.readdirSync(path.dirname(second.jsonFile)).sort()).toEqual(['validation.json', 'validation.md']);
  });

  const metric = (name: string, query: string, databaseUrlEnv?: string): MetricSpec => ({
    name,
    measure: { kind: 'sql', query, ...(databaseUrlEnv ? { databaseUrlEnv } : {}) },
    op: '<=',
    threshold: 0.022,
    unit: 'ratio',
    failureLimit: 0,
    consecutiveFailureLimit: 0,
  });

  it('reads metrics over a window: no data is inconclusive, an unmeasurable metric fails the activity', async () => {
    const readings = await evaluateMetrics({
      migrationId: 'm',
      databaseUrlEnv: urlEnv,
      since: hour(),
      metrics: [
        metric('errors', `select avg((status = 'error')::int) from item_runs where finished_at >= $1`),
        metric('errors-all-time', `select avg((status = 'error')::int) from item_runs`),
        metric('none', `select avg(duration_ms) from item_runs where pipeline = 'nobody'`),
      ],
    });
    expect(readings.map((r) => [r.name, r.value, r.passed])).toEqual([
      ['errors', 0.02, true],
      ['errors-all-time', expect.closeTo(5 / 201, 6), false],
      ['none', null, null],
    ]);
    expect(readings[0]).toEqual({
      name: 'errors',
      value: 0.02,
      op: '<=',
      threshold: 0.022,
      unit: 'ratio',
      passed: true,
      detail: expect.any(String),
      at: expect.any(String),
    });
    // No report files for metric readings.
    expect(fs.existsSync(path.join(reportDir, 'm'))).toBe(false);
    // A failing measurement is retried by Temporal (a plain error), never a reading.
    await expect(
      evaluateMetrics({
        migrationId: 'm',
        databaseUrlEnv: urlEnv,
        since: hour(),
        metrics: [metric('broken', 'select * from no_such_table')],
      }),
    ).rejects.toThrow(/metric broken could not be measured: .*no_such_table/);
    // A missing secret is permanent: retrying cannot fix it.
    await expect(
      evaluateMetrics({
        migrationId: 'm',
        databaseUrlEnv: urlEnv,
        since: hour(),
        metrics: [metric('unset', 'select 1', 'MO_TEST_UNSET_URL')],
      }),
    ).rejects.toMatchObject({ type: 'MissingSecret', nonRetryable: true });
  });
});

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { evaluateMetrics, runChecks } from '../../activities/checks';
import { compareOutputs } from '../../activities/compare';
import type { CheckSpec, MetricSpec } from '../../workflows/plan';
import { scratchDatabase, tempDir, withPg } from '../helpers/stack';

describe('checks, metric readings and the parallel-run comparison against real PostgreSQL, processes and HTTP', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let server: http.Server;
  let base: string;
  const reportDir = tempDir('mo-checks');
  const ctx = { databaseUrlEnv: 'MO_TEST_CHECKS_URL', reportDir, repository: reportDir };

  beforeAll(async () => {
    db = await scratchDatabase('mo_checks');
    process.env.MO_TEST_CHECKS_URL = db.url;
    await withPg(db.url, async (c) => {
      await c.query(`create table item_runs (pipeline text, status text, duration_ms int, finished_at timestamptz)`);
      await c.query(`insert into item_runs select 'unified', case when g % 50 = 0 then 'error' else 'ok' end, 100 + g, now() - interval '1 minute'
                       from generate_series(1, 200) g`);
      await c.query(`insert into item_runs values ('unified', 'error', 9000, now() - interval '2 days')`);
      await c.query(`create table legacy_out (id int primary key, v int)`);
      await c.query(`create table unified_out (id int primary key, v int, at timestamptz default now())`);
      await c.query(`insert into legacy_out select g, g * 2 from generate_series(1, 100) g`);
      await c.query(
        `insert into unified_out (id, v) select g, case when g in (7, 42) then -1 else g * 2 end from generate_series(1, 100) g`,
      );
    });
    server = http.createServer((req, res) => {
      if (req.url === '/metrics') res.end('# HELP x\nqueue_depth 17\nerror_ratio 0.004\n');
      else if (req.url === '/json') res.end(JSON.stringify({ data: { coverage: { pct: 91.5 } } }));
      else res.writeHead(500).end('boom');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await db.drop();
    fs.rmSync(reportDir, { recursive: true, force: true });
  });

  const checks: CheckSpec[] = [
    {
      name: 'error-rate',
      measure: { kind: 'sql', query: `select avg((status = 'error')::int) from item_runs where finished_at >= $1` },
      op: '<=',
      threshold: 0.01,
    },
    {
      name: 'coverage',
      measure: {
        kind: 'command',
        command: [process.execPath, '-e', "console.log('All files | coverage: 93.5% lines')"],
        pattern: 'coverage: ([0-9.]+)%',
      },
      op: '>',
      threshold: 90,
      unit: '%',
    },
    {
      name: 'http-pattern',
      measure: { kind: 'http', url: '', pattern: 'error_ratio ([0-9.]+)' },
      op: '<',
      threshold: 0.01,
    },
    { name: 'http-json', measure: { kind: 'http', url: '', jsonPath: 'data.coverage.pct' }, op: '>=', threshold: 90 },
    {
      name: 'slow',
      measure: { kind: 'command', command: [process.execPath, '-e', 'setTimeout(() => {}, 10000)'], timeoutMs: 300 },
      op: '>',
      threshold: 0,
    },
    {
      name: 'exit',
      measure: { kind: 'command', command: [process.execPath, '-e', 'process.exit(3)'] },
      op: '>',
      threshold: 0,
    },
    {
      name: 'literal',
      measure: {
        kind: 'command',
        command: [process.execPath, '-e', 'console.log(process.argv[1].length)', '$(echo 12345)'],
      },
      op: '==',
      threshold: 13,
    },
  ];

  it('measures SQL, command and HTTP checks, fails errors and time-outs, and writes the report', async () => {
    const list = checks.map((c) =>
      c.measure.kind === 'http'
        ? { ...c, measure: { ...c.measure, url: `${base}${c.name === 'http-json' ? '/json' : '/metrics'}` } }
        : c,
    );
    const report = await runChecks({
      migrationId: 'm-checks',
      title: 'Validation',
      kind: 'validation',
      checks: list,
      ...ctx,
      since: new Date(Date.now() - 3_600_000).toISOString(),
    });
    const by = Object.fromEntries(report.results.map((r) => [r.name, r]));
    expect(by['error-rate']).toMatchObject({ value: 0.02, passed: false });
    expect(by.coverage).toMatchObject({ value: 93.5, passed: true });
    expect(by['http-pattern']).toMatchObject({ value: 0.004, passed: true });
    expect(by['http-json']).toMatchObject({ value: 91.5, passed: true });
    expect(by.slow).toMatchObject({ passed: false, error: expect.stringContaining('timed out') });
    expect(by.exit).toMatchObject({ passed: false, error: expect.stringContaining('exited 3') });
    // No shell: `$(echo 12345)` reached the program as 13 literal characters.
    expect(by.literal).toMatchObject({ value: 13, passed: true });
    expect(report.passed).toBe(false);
    const md = fs.readFileSync(report.markdownFile, 'utf8');
    expect(md).toContain('| coverage | 93.5 % | > 90 % | pass |');
    expect(md).toContain('**FAILED** (4/7 checks passed)');
    expect(JSON.parse(fs.readFileSync(report.jsonFile, 'utf8')).results).toHaveLength(7);
  });

  it('reads metrics over a window: no data is inconclusive, an unmeasurable metric fails the activity for a retry', async () => {
    const metric = (name: string, query: string): MetricSpec => ({
      name,
      measure: { kind: 'sql', query },
      op: '<=',
      threshold: 0.05,
      failureLimit: 0,
      consecutiveFailureLimit: 0,
    });
    const readings = await evaluateMetrics({
      migrationId: 'm',
      databaseUrlEnv: 'MO_TEST_CHECKS_URL',
      since: new Date(Date.now() - 3_600_000).toISOString(),
      metrics: [
        metric('errors', `select avg((status = 'error')::int) from item_runs where finished_at >= $1`),
        metric('none', `select avg(duration_ms) from item_runs where pipeline = 'nobody'`),
      ],
    });
    expect(readings.map((r) => [r.name, r.value, r.passed])).toEqual([
      ['errors', 0.02, true],
      ['none', null, null],
    ]);
    await expect(
      evaluateMetrics({
        migrationId: 'm',
        databaseUrlEnv: 'MO_TEST_CHECKS_URL',
        since: new Date().toISOString(),
        metrics: [metric('broken', 'select * from no_such_table')],
      }),
    ).rejects.toThrow(/metric broken could not be measured: .*no_such_table/);
  });

  it('compares both pipelines outputs in SQL with a ratio and a sample of mismatches', async () => {
    const cmp = await compareOutputs({
      databaseUrlEnv: 'MO_TEST_CHECKS_URL',
      comparisonQuery:
        'select count(*) as total, count(*) filter (where l.v = u.v) as matched from legacy_out l join unified_out u using (id) where u.at >= $1',
      mismatchQuery:
        'select id, l.v as legacy, u.v as unified from legacy_out l join unified_out u using (id) where l.v <> u.v order by id',
      since: new Date(Date.now() - 3_600_000).toISOString(),
    });
    expect(cmp).toEqual({
      total: 100,
      matched: 98,
      ratio: 0.98,
      mismatches: [
        { id: 7, legacy: 14, unified: -1 },
        { id: 42, legacy: 84, unified: -1 },
      ],
    });
    const none = await compareOutputs({
      databaseUrlEnv: 'MO_TEST_CHECKS_URL',
      comparisonQuery: 'select count(*) as total, 0 as matched from unified_out where at >= $1',
      since: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(none.ratio).toBeNull();
  });
});

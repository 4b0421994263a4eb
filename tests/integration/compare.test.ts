import { MockActivityEnvironment } from '@temporalio/testing';
import { compareOutputs, type Comparison } from '../../activities/compare';
import { scratchDatabase, uniq, withPg } from '../helpers/stack';

describe('parallel-run comparison against the real PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const urlEnv = `MO_TEST_COMPARE_URL_${uniq()}`;
  const schema = `cmp_${uniq()}`;
  const since = () => new Date(Date.now() - 3_600_000).toISOString();

  // Items 1..100 in the window: both pipelines agree on 85; 12 differ in value; 3 are missing from unified.
  // Item 101 diverges too, but was produced two days ago: outside the window.
  const comparisonQuery = `
    select count(*) as total, count(*) filter (where u.value = l.value and u.status = l.status) as matched
      from ${schema}.legacy_results l
      left join ${schema}.unified_results u using (item_id)
     where l.produced_at >= $1`;
  const mismatchQuery = `
    select l.item_id, l.value as legacy_value, u.value as unified_value, u.produced_at as unified_at
      from ${schema}.legacy_results l
      left join ${schema}.unified_results u using (item_id)
     where l.produced_at >= $1 and (u.item_id is null or u.value <> l.value or u.status <> l.status)
     order by l.item_id;  -- the plan's query may end with a semicolon and a comment
  `;

  beforeAll(async () => {
    db = await scratchDatabase('mo_compare');
    process.env[urlEnv] = db.url;
    await withPg(db.url, async (c) => {
      await c.query(`create schema ${schema}`);
      for (const t of ['legacy_results', 'unified_results'])
        await c.query(`create table ${schema}.${t} (
          item_id int primary key, value numeric(12, 2) not null, status text not null, produced_at timestamptz not null)`);
      await c.query(`insert into ${schema}.legacy_results
                       select g, g * 1.5, 'ok', now() - interval '5 minutes' from generate_series(1, 100) g
                       union all select 101, 1, 'ok', now() - interval '2 days'`);
      await c.query(`insert into ${schema}.unified_results
                       select g, case when g % 8 = 0 then g * 1.5 + 0.01 else g * 1.5 end, 'ok',
                              '2030-01-02T03:04:05Z'::timestamptz
                         from generate_series(1, 97) g
                       union all select 101, 2, 'ok', now() - interval '2 days'`);
    });
  });
  afterAll(async () => {
    await db.drop();
    delete process.env[urlEnv];
  });

  // These tests read the sample's values, so they ask for them (by default values are hashed: redaction.test.ts).
  const compare = (extra: Partial<Parameters<typeof compareOutputs>[0]> = {}) =>
    compareOutputs({
      databaseUrlEnv: urlEnv,
      comparisonQuery,
      mismatchQuery,
      since: since(),
      showMismatchValues: true,
      ...extra,
    });

  it('counts total and matched items in the window, with the ratio and a sample of mismatches (10 by default)', async () => {
    const cmp = await compare();
    expect(cmp.total).toBe(100);
    expect(cmp.matched).toBe(85);
    expect(cmp.ratio).toBe(0.85);
    expect(cmp.mismatches).toHaveLength(10);
    // Rows are plain JSON: numeric as text (exact), timestamps as ISO strings; a missing output as null.
    expect(cmp.mismatches[0]).toEqual({
      item_id: 8,
      legacy_value: '12.00',
      unified_value: '12.01',
      unified_at: '2030-01-02T03:04:05.000Z',
    });
    expect(cmp.mismatches.map((m) => m.item_id)).toEqual([8, 16, 24, 32, 40, 48, 56, 64, 72, 80]);
    expect(JSON.parse(JSON.stringify(cmp))).toEqual(cmp);

    const all = await compare({ sampleSize: 50 });
    expect(all.mismatches.map((m) => m.item_id)).toEqual([8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 98, 99, 100]);
    expect(all.mismatches.at(-1)).toEqual({
      item_id: 100,
      legacy_value: '150.00',
      unified_value: null,
      unified_at: null,
    });
    expect((await compare({ sampleSize: 3 })).mismatches).toHaveLength(3);
    expect((await compare({ sampleSize: 0 })).mismatches).toEqual([]);
    expect((await compare({ mismatchQuery: undefined })).mismatches).toEqual([]);
  });

  it('heartbeats while its queries run (a long comparison must not outlast the heartbeat timeout)', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const input = { databaseUrlEnv: urlEnv, comparisonQuery, mismatchQuery, since: since() };
    const cmp = await env.run<[typeof input], Comparison, typeof compareOutputs>(compareOutputs, input);
    expect(cmp.matched).toBe(85);
    expect(beats).toEqual(expect.arrayContaining(['comparing outputs', 'sampling mismatches']));
  });

  it('binds the window start only where `$1` appears, and gives no ratio when nothing was compared', async () => {
    const allTime = await compare({
      comparisonQuery: `select count(*) as total, count(*) filter (where u.value = l.value) as matched
                          from ${schema}.legacy_results l left join ${schema}.unified_results u using (item_id)`,
      mismatchQuery: undefined,
    });
    expect(allTime).toMatchObject({ total: 101, matched: 85 });
    expect(allTime.ratio).toBeCloseTo(85 / 101, 10);

    const future = await compare({ since: new Date(Date.now() + 3_600_000).toISOString() });
    expect(future).toEqual({ total: 0, matched: 0, ratio: null, mismatches: [] });
    // No row at all, or sum() over nothing (NULL), is also "nothing compared".
    expect(await compare({ comparisonQuery: 'select 1 as total, 1 as matched where false' })).toMatchObject({
      total: 0,
      ratio: null,
    });
    expect(await compare({ comparisonQuery: 'select sum(1) as total, sum(1) as matched where false' })).toMatchObject({
      total: 0,
      ratio: null,
    });
  });

  it('runs each query as one statement in a read-only transaction: more statements, or a write, are refused', async () => {
    // The owners' sequence and a function that writes, made by hand as they would.
    await withPg(db.url, async (c) => {
      await c.query(`create sequence ${schema}.item_seq`);
      await c.query(`create function ${schema}.add_result() returns bigint language sql as
                       $$ insert into ${schema}.unified_results values (500, 1, 'ok', now()) returning 1::bigint $$`);
    });
    const state = () =>
      withPg(db.url, async (c) => ({
        legacy: (await c.query(`select count(*)::int as n from ${schema}.legacy_results`)).rows[0],
        unified: (await c.query(`select count(*)::int as n from ${schema}.unified_results`)).rows[0],
        seq: (await c.query(`select last_value::int, is_called from ${schema}.item_seq`)).rows[0],
      }));
    const before = await state();
    expect(before).toEqual({ legacy: { n: 101 }, unified: { n: 98 }, seq: { last_value: 1, is_called: false } });
    const refused = (extra: Partial<Parameters<typeof compareOutputs>[0]>, message: RegExp) =>
      expect(compare(extra)).rejects.toMatchObject({
        type: 'InvalidInput',
        nonRetryable: true,
        message: expect.stringMatching(message),
      });
    const several = (query: string) =>
      new RegExp(
        `^${query}: its SQL must be one read-only statement: cannot insert multiple commands into a prepared statement$`,
      );
    // Several statements, with `$1` or without it (node-postgres would send a simple query that runs them all),
    // also one that would COMMIT out of the read-only transaction first.
    await refused(
      { comparisonQuery: `SELECT 1 AS total, 1 AS matched; DELETE FROM ${schema}.unified_results` },
      several('comparisonQuery'),
    );
    await refused(
      { comparisonQuery: `${comparisonQuery}; commit; delete from ${schema}.unified_results` },
      several('comparisonQuery'),
    );
    await refused({ mismatchQuery: `select 1; delete from ${schema}.unified_results` }, several('mismatchQuery'));
    await refused(
      {
        mismatchQuery: `select * from ${schema}.legacy_results where produced_at >= $1; commit; delete from ${schema}.unified_results`,
      },
      several('mismatchQuery'),
    );
    // One statement that writes: PostgreSQL's read-only error, named.
    const readOnly = (query: string) =>
      new RegExp(`^${query}: its SQL must be one read-only statement: cannot execute .* in a read-only transaction$`);
    await refused(
      {
        comparisonQuery: `with d as (delete from ${schema}.unified_results returning 1) select count(*) as total, 0 as matched from d`,
      },
      readOnly('comparisonQuery'),
    );
    await refused(
      { comparisonQuery: `select nextval('${schema}.item_seq') as total, 0 as matched` },
      /^comparisonQuery: .*cannot execute nextval\(\) in a read-only transaction$/,
    );
    await refused(
      { comparisonQuery: `select ${schema}.add_result() as total, 0 as matched` },
      readOnly('comparisonQuery'),
    );
    await refused({ mismatchQuery: `select ${schema}.add_result()` }, readOnly('mismatchQuery'));
    await refused(
      { mismatchQuery: `with d as (delete from ${schema}.unified_results returning *) select * from d` },
      /^mismatchQuery: its SQL must be one read-only statement: DECLARE CURSOR must not contain data-modifying statements in WITH$/,
    );
    expect(await state()).toEqual(before);
    // Every refused comparison was rolled back and its connection closed: nothing is left open on the database.
    const open = await withPg(
      db.url,
      async (c) =>
        (
          await c.query(
            'select state from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          )
        ).rows,
    );
    expect(open).toEqual([]);
    // The plan's queries as written still compare.
    expect(await compare()).toMatchObject({ total: 100, matched: 85 });
  });

  it('refuses queries that cannot be a comparison, permanently, and never writes', async () => {
    const refused = (extra: Partial<Parameters<typeof compareOutputs>[0]>, message: RegExp) =>
      expect(compare(extra)).rejects.toMatchObject({
        type: 'InvalidInput',
        nonRetryable: true,
        message: expect.stringMatching(message),
      });
    await refused(
      { comparisonQuery: 'select 10 as n, 5 as ok' },
      /must return columns total and matched; it returned n, ok/,
    );
    await refused({ comparisonQuery: 'select 10 as total, 11 as matched' }, /matched \(11\) exceeds total \(10\)/);
    await refused({ comparisonQuery: `select 'many' as total, 1 as matched` }, /column total is "many", not a count/);
    await refused(
      { comparisonQuery: 'select g as total, 0 as matched from generate_series(1, 2) g' },
      /must return one row; it returned 2/,
    );
    await refused({ sampleSize: -1 }, /sampleSize/);
    await refused({ sampleSize: 2.5 }, /sampleSize/);
    await expect(compare({ databaseUrlEnv: 'MO_TEST_UNSET_URL' })).rejects.toMatchObject({ type: 'MissingSecret' });
  });
});

import { appendLedger, readLedger } from '../../activities/ledger';
import { quoteIdent } from '../../activities/database';
import { scratchDatabase, uniq, withPg } from '../helpers/stack';

describe('the ledger table is named as an identifier, whatever its name', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const urlEnv = `MO_TEST_LEDGER_URL_${uniq()}`;
  beforeAll(async () => {
    db = await scratchDatabase('mo_ledger_names');
    process.env[urlEnv] = db.url;
  });
  afterAll(async () => {
    delete process.env[urlEnv];
    await db?.drop();
  });

  const entry = (seq: number) => ({ seq, at: new Date().toISOString(), kind: 'note', detail: `entry ${seq}` });
  const columns = (table: string) =>
    withPg(db.url, async (c) =>
      (
        await c.query<{ attname: string }>(
          `select attname from pg_attribute where attrelid = to_regclass($1) and attnum > 0 and not attisdropped
            order by attnum`,
          [quoteIdent(table)],
        )
      ).rows.map((r) => r.attname),
    );

  it('upgrades a ledger from before the hash chain whose name holds a quote and a capital (O\'Brien "Log")', async () => {
    const table = `O'Brien "Log" ${uniq()}`;
    // The ledger as an earlier version left it, made by hand: no hash columns, one row.
    await withPg(db.url, async (c) => {
      await c.query(`create table ${quoteIdent(table)} (
        migration_id text not null, seq integer not null, at timestamptz not null, kind text not null,
        actor text, detail text not null, data jsonb, recorded_at timestamptz not null default now(),
        primary key (migration_id, seq))`);
      await c.query(
        `insert into ${quoteIdent(table)} (migration_id, seq, at, kind, detail) values ('m', 1, now(), 'note', 'old')`,
      );
    });
    expect(await appendLedger({ migrationId: 'm', databaseUrlEnv: urlEnv, table, entries: [entry(2)] })).toEqual({
      inserted: 1,
    });
    expect(await columns(table)).toEqual(expect.arrayContaining(['prev_hash', 'hash']));
    const rows = await readLedger({ migrationId: 'm', databaseUrlEnv: urlEnv, table });
    expect(rows.map((r) => [r.seq, r.detail])).toEqual([
      [1, 'old'],
      [2, 'entry 2'],
    ]);
    // No other table came of the name (no lower-cased or cut-off twin).
    const tables = await withPg(db.url, async (c) =>
      (await c.query<{ t: string }>("select tablename as t from pg_tables where schemaname = 'public'")).rows.map(
        (r) => r.t,
      ),
    );
    expect(tables).toEqual([table]);
  });

  it('creates a fresh ledger under such a name and appends to it twice without a second row', async () => {
    const table = `Ledger'; drop table x; --${uniq()}`;
    for (let i = 0; i < 2; i++)
      await appendLedger({ migrationId: 'm2', databaseUrlEnv: urlEnv, table, entries: [entry(1)] });
    expect((await readLedger({ migrationId: 'm2', databaseUrlEnv: urlEnv, table })).map((r) => r.seq)).toEqual([1]);
    expect(await columns(table)).toEqual(expect.arrayContaining(['hash', 'prev_hash']));
  });
});

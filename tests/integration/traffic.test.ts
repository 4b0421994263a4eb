import fs from 'node:fs';
import path from 'node:path';
import {
  getTrafficPercent,
  itemShare,
  ownsItem,
  readTraffic,
  setTrafficPercent,
  UNIFIED_OWNS_SQL,
  UNIFIED_SHARE_SQL,
} from '../../activities/traffic';
import type { RouterSpec } from '../../model/plan';
import { scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

describe('traffic router against the real PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const urlEnv = `MO_TEST_TRAFFIC_URL_${uniq()}`;
  const table: RouterSpec = { kind: 'table', table: 'migration_routing' };
  const dir = tempDir('mo-router');

  beforeAll(async () => {
    db = await scratchDatabase('mo_traffic');
    process.env[urlEnv] = db.url;
  });
  afterAll(async () => {
    await db.drop();
    delete process.env[urlEnv];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const set = (percent: number, router: RouterSpec = table, actor = 'tester') =>
    setTrafficPercent({
      migrationId: 'm-traffic',
      router,
      databaseUrlEnv: urlEnv,
      percent,
      actor,
      reason: `to ${percent}`,
    });
  const get = (router: RouterSpec = table) => getTrafficPercent({ router, databaseUrlEnv: urlEnv });
  const q = <T extends Record<string, unknown>>(sql: string) =>
    withPg(db.url, async (c) => (await c.query<T>(sql)).rows);

  it('two migrations on one routing table each own their route; one on a route another holds is refused, naming it', async () => {
    // The routing table as the pipelines' team made it, with the columns the router writes.
    await q(`create table shared_routing (route text primary key, percent integer not null,
      migration_id text, updated_by text not null, reason text, updated_at timestamptz not null default now())`);
    const billing: RouterSpec = { kind: 'table', table: 'shared_routing', route: 'billing' };
    const ledger: RouterSpec = { kind: 'table', table: 'shared_routing', route: 'ledger' };
    const setAs = (migrationId: string, router: RouterSpec, percent: number) =>
      setTrafficPercent({ migrationId, router, databaseUrlEnv: urlEnv, percent, actor: 'test' });
    await setAs('mig-a', billing, 50);
    await setAs('mig-b', ledger, 25);
    // A third migration on A's route: refused before any change, naming A and how to get a route of its own.
    await expect(setAs('mig-c', billing, 10)).rejects.toThrow(
      /route billing of routing table shared_routing belongs to migration mig-a \(50 % unified\).*traffic\.router\.route/,
    );
    expect((await readTraffic({ router: billing, databaseUrlEnv: urlEnv, migrationId: 'mig-c' })).ownedBy).toBe(
      'mig-a',
    );
    // B's rollback, then A's: each restores its own row only.
    await setAs('mig-b', ledger, 0);
    const rows = () => q('select route, percent, migration_id from shared_routing order by route');
    expect(await rows()).toEqual([
      { route: 'billing', percent: 50, migration_id: 'mig-a' },
      { route: 'ledger', percent: 0, migration_id: 'mig-b' },
    ]);
    await setAs('mig-a', billing, 0);
    expect(await rows()).toEqual([
      { route: 'billing', percent: 0, migration_id: 'mig-a' },
      { route: 'ledger', percent: 0, migration_id: 'mig-b' },
    ]);
    // A route given back (0 %) is free for the next migration.
    expect(await setAs('mig-c', billing, 10)).toMatchObject({ current: 10, changed: true });
  });

  it('creates the routing table, records each change with who, when and why, and treats the same percent as a no-op', async () => {
    expect(await get()).toBe(0);
    // Reading creates nothing.
    expect(await q(`select to_regclass('migration_routing')::text as t`)).toEqual([{ t: null }]);
    expect(await set(10)).toEqual({ previous: 0, current: 10, changed: true });
    expect(await set(25, table, 'alice')).toEqual({ previous: 10, current: 25, changed: true });
    expect(await set(25, table, 'bob')).toEqual({ previous: 25, current: 25, changed: false });
    expect(await get()).toBe(25);
    expect(await q('select route, percent, updated_by, migration_id, reason from migration_routing')).toEqual([
      { route: 'unified', percent: 25, updated_by: 'alice', migration_id: 'm-traffic', reason: 'to 25' },
    ]);
    const hist = await q(
      `select old_percent, new_percent, changed_by, reason, migration_id, changed_at > now() - interval '1 minute' as recent
         from migration_routing_history order by id`,
    );
    expect(hist).toEqual([
      {
        old_percent: 0,
        new_percent: 10,
        changed_by: 'tester',
        reason: 'to 10',
        migration_id: 'm-traffic',
        recent: true,
      },
      {
        old_percent: 10,
        new_percent: 25,
        changed_by: 'alice',
        reason: 'to 25',
        migration_id: 'm-traffic',
        recent: true,
      },
    ]);
    // The table guards the range itself, for anyone who writes it by hand.
    await expect(q(`update migration_routing set percent = 101`)).rejects.toThrow(/check constraint/);
  });

  it('refuses a percent that is not a whole number from 0 to 100, permanently and without changing anything', async () => {
    for (const bad of [101, -1, 12.5, Number.NaN]) {
      await expect(set(bad)).rejects.toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    }
    expect(await get()).toBe(25);
    expect(await q('select count(*)::int as n from migration_routing_history')).toEqual([{ n: 2 }]);
    await expect(
      setTrafficPercent({
        migrationId: 'm',
        router: table,
        databaseUrlEnv: 'MO_TEST_UNSET_URL',
        percent: 5,
        actor: 'x',
      }),
    ).rejects.toMatchObject({ type: 'MissingSecret', nonRetryable: true });
  });

  it('serialises concurrent changes, so the history chains previous to current', async () => {
    const router: RouterSpec = { kind: 'table', table: 'Routing_Mixed' };
    const results = await Promise.all([5, 15, 30, 50].map((p) => set(p, router)));
    expect(results.every((r) => r.changed)).toBe(true);
    const hist = await q<{ old_percent: number; new_percent: number }>(
      'select old_percent, new_percent from "Routing_Mixed_history" order by id',
    );
    expect(hist).toHaveLength(4);
    expect(hist[0]!.old_percent).toBe(0);
    for (let i = 1; i < hist.length; i++) expect(hist[i]!.old_percent).toBe(hist[i - 1]!.new_percent);
    // A mixed-case table name is found again (quoted the same way when read).
    expect(await get(router)).toBe(hist.at(-1)!.new_percent);
  });

  it('drives a command router with the percent substituted (no shell), once per change', async () => {
    const out = path.join(dir, 'calls.log');
    const router: RouterSpec = {
      kind: 'command',
      command: [
        process.execPath,
        '-e',
        `require('fs').appendFileSync(${JSON.stringify(out)}, process.argv.slice(1).join(' ') + '\\n')`,
        '{percent}',
        'weight={percent}%;$(echo hi)',
      ],
    };
    expect(await get(router)).toBe(0);
    expect(await set(50, router)).toEqual({ previous: 0, current: 50, changed: true });
    expect(await set(50, router)).toEqual({ previous: 50, current: 50, changed: false });
    expect(await set(100, router)).toEqual({ previous: 50, current: 100, changed: true });
    expect(fs.readFileSync(out, 'utf8')).toBe('50 weight=50%;$(echo hi)\n100 weight=100%;$(echo hi)\n');
    expect(await get(router)).toBe(100);
    expect(await q('select old_percent, new_percent from migration_router_state_history order by id')).toEqual([
      { old_percent: 0, new_percent: 50 },
      { old_percent: 50, new_percent: 100 },
    ]);
    // The table router's row is a different thing: untouched.
    expect(await get()).toBe(25);
  });

  it('leaves the recorded percent alone when the router command fails, and hides the database URL in the error', async () => {
    const password = decodeURIComponent(new URL(db.url).password);
    const failing: RouterSpec = {
      kind: 'command',
      command: [
        process.execPath,
        '-e',
        `console.error('router refused {percent} at ' + process.env[${JSON.stringify(urlEnv)}]); process.exit(2)`,
      ],
    };
    const err = (await set(10, failing).catch((e: Error) => e)) as Error;
    expect(err.message).toBe('router command exited 2: router refused 10 at ***');
    expect(err.message).not.toContain(password);
    expect(await get(failing)).toBe(100);
    expect(await q('select count(*)::int as n from migration_router_state_history')).toEqual([{ n: 2 }]);
  });

  it('computes ownership the same way in TypeScript and SQL, and raising the percent only moves items to unified', async () => {
    const rows = await q<{ id: string; share: number; at10: boolean; at25: boolean }>(
      `select id, ${UNIFIED_SHARE_SQL}::int as share,
              ${UNIFIED_OWNS_SQL.replace(/\bpercent\b/g, '10')} as at10,
              ${UNIFIED_OWNS_SQL.replace(/\bpercent\b/g, '25')} as at25
         from (select g::text as id from generate_series(1, 1000) g
               union all select 'item-' || g from generate_series(1, 200) g
               union all select gen_random_uuid()::text from generate_series(1, 200)) ids`,
    );
    expect(rows).toHaveLength(1400);
    for (const r of rows) {
      expect(itemShare(r.id)).toBe(r.share);
      expect(ownsItem(r.id, 10)).toBe(r.at10 ? 'unified' : 'legacy');
      expect(ownsItem(r.id, 25)).toBe(r.at25 ? 'unified' : 'legacy');
    }
    // Numeric IDs hash as their text, as `id::text` does in SQL.
    expect(itemShare(42)).toBe(itemShare('42'));
    const ids = rows.map((r) => r.id);
    for (const id of ids) if (ownsItem(id, 10) === 'unified') expect(ownsItem(id, 25)).toBe('unified');
    expect(ids.every((id) => ownsItem(id, 0) === 'legacy' && ownsItem(id, 100) === 'unified')).toBe(true);
    const at50 = ids.filter((id) => ownsItem(id, 50) === 'unified').length;
    expect(at50).toBeGreaterThan(0.4 * ids.length);
    expect(at50).toBeLessThan(0.6 * ids.length);
    // The shares span 0..99 (the top bit of the hash is not lost as a sign).
    expect(Math.max(...rows.map((r) => r.share))).toBe(99);
    expect(Math.min(...rows.map((r) => r.share))).toBe(0);
  });
});

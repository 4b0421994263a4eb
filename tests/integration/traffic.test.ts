import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { getTrafficPercent, itemShare, ownsItem, setTrafficPercent, UNIFIED_SHARE_SQL } from '../../activities/traffic';
import type { RouterSpec } from '../../workflows/plan';
import { scratchDatabase, withPg } from '../helpers/stack';

describe('traffic router against the real PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const table: RouterSpec = { kind: 'table', table: 'migration_routing' };

  beforeAll(async () => {
    db = await scratchDatabase('mo_traffic');
    process.env.MO_TEST_TRAFFIC_URL = db.url;
  });
  afterAll(() => db.drop());

  const set = (percent: number, router: RouterSpec = table) =>
    setTrafficPercent({
      migrationId: 'm-traffic',
      router,
      databaseUrlEnv: 'MO_TEST_TRAFFIC_URL',
      percent,
      actor: 'tester',
      reason: 'test',
    });

  it('creates the routing table, records each change with who and when, and treats the same percent as a no-op', async () => {
    expect(await getTrafficPercent({ router: table, databaseUrlEnv: 'MO_TEST_TRAFFIC_URL' })).toBe(0);
    expect(await set(10)).toEqual({ previous: 0, current: 10, changed: true });
    expect(await set(25)).toEqual({ previous: 10, current: 25, changed: true });
    expect(await set(25)).toEqual({ previous: 25, current: 25, changed: false });
    const rows = await withPg(db.url, async (c) => {
      const route = await c.query('select route, percent, updated_by, migration_id from migration_routing');
      const hist = await c.query(
        'select old_percent, new_percent, changed_by from migration_routing_history order by id',
      );
      return { route: route.rows, hist: hist.rows };
    });
    expect(rows.route).toEqual([{ route: 'unified', percent: 25, updated_by: 'tester', migration_id: 'm-traffic' }]);
    expect(rows.hist).toEqual([
      { old_percent: 0, new_percent: 10, changed_by: 'tester' },
      { old_percent: 10, new_percent: 25, changed_by: 'tester' },
    ]);
  });

  it('refuses a percent outside 0..100 without changing anything', async () => {
    await expect(set(101)).rejects.toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    await expect(set(12.5)).rejects.toMatchObject({ type: 'InvalidInput' });
    expect(await getTrafficPercent({ router: table, databaseUrlEnv: 'MO_TEST_TRAFFIC_URL' })).toBe(25);
  });

  it('drives a command router with the percent substituted, once per change', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mo-router-')), 'calls.log');
    const router: RouterSpec = {
      kind: 'command',
      command: [
        process.execPath,
        '-e',
        `require('fs').appendFileSync(${JSON.stringify(out)}, process.argv[1] + '\\n')`,
        '{percent}',
      ],
    };
    await set(50, router);
    await set(50, router);
    await set(100, router);
    expect(fs.readFileSync(out, 'utf8')).toBe('50\n100\n');
    expect(await getTrafficPercent({ router, databaseUrlEnv: 'MO_TEST_TRAFFIC_URL' })).toBe(100);
  });

  it('computes ownership the same way in TypeScript and SQL, and raising the percent only moves items to unified', async () => {
    const sql = await withPg(db.url, (c) =>
      c.query<{ id: string; share: number }>(
        `select id::text, ${UNIFIED_SHARE_SQL}::int as share from generate_series(1, 1000) as id`,
      ),
    );
    for (const r of sql.rows) expect(itemShare(r.id)).toBe(r.share);
    const ids = sql.rows.map((r) => r.id);
    for (const id of ids) if (ownsItem(id, 10) === 'unified') expect(ownsItem(id, 25)).toBe('unified');
    const at50 = ids.filter((id) => ownsItem(id, 50) === 'unified').length;
    expect(at50).toBeGreaterThan(400);
    expect(at50).toBeLessThan(600);
  });
});

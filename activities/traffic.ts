import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { RouterSpec } from '../workflows/plan';
import { connect, pgTargetFromEnv, quoteIdent } from './database';
import { ErrorType, permanent } from './errors';
import { runCommand } from './process';

/** Result of a routing change. */
export interface TrafficChange {
  previous: number;
  current: number;
  changed: boolean;
}

/** The unified pipeline's route in the routing table. */
export const UNIFIED_ROUTE = 'unified';

/** Stable share of an item in 0..99 (first 32 bits of md5 of its ID, mod 100); same as `UNIFIED_SHARE_SQL`. */
export function itemShare(itemId: string | number): number {
  return createHash('md5').update(String(itemId)).digest().readUInt32BE(0) % 100;
}

/** SQL for the share of `id`, as the pipelines compute it (the demo schema wraps it as `unified_share(id)`). */
export const UNIFIED_SHARE_SQL = `((('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint) % 100)`;

/** Which pipeline owns an item at a given unified percent: a raised percent only ever moves items to unified. */
export function ownsItem(itemId: string | number, percent: number): 'unified' | 'legacy' {
  return itemShare(itemId) < percent ? 'unified' : 'legacy';
}

function checkPercent(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw permanent(ErrorType.InvalidInput, `traffic percent must be a whole number from 0 to 100, got ${percent}`);
  }
}

async function ensureTable(db: Client, table: string): Promise<void> {
  const t = quoteIdent(table);
  const h = quoteIdent(`${table}_history`);
  await db.query(`create table if not exists ${t} (
    route text primary key,
    percent integer not null check (percent between 0 and 100),
    migration_id text,
    updated_by text not null,
    reason text,
    updated_at timestamptz not null default now())`);
  await db.query(`create table if not exists ${h} (
    id bigserial primary key,
    route text not null,
    old_percent integer not null,
    new_percent integer not null,
    migration_id text,
    changed_by text not null,
    reason text,
    changed_at timestamptz not null default now())`);
}

/** State table of the command router: the last percent it applied, so setting it twice is a no-op. */
const ROUTER_STATE = 'migration_router_state';

/**
 * Sets the unified pipeline's share of traffic. Table router: one row in the routing table both pipelines read
 * (created if absent), each change appended to `<table>_history` with who and when. Command router: runs the plan's
 * command with `{percent}` substituted and records the percent. Setting the current percent again changes nothing.
 */
export async function setTrafficPercent(input: {
  migrationId: string;
  router: RouterSpec;
  databaseUrlEnv: string;
  percent: number;
  actor: string;
  reason?: string;
}): Promise<TrafficChange> {
  checkPercent(input.percent);
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    const table = input.router.kind === 'table' ? input.router.table : ROUTER_STATE;
    await ensureTable(db, table);
    await db.query('begin');
    // Row lock: two concurrent changes serialise, and the history records each exactly once.
    const cur = await db.query<{ percent: number }>(
      `select percent from ${quoteIdent(table)} where route = $1 for update`,
      [UNIFIED_ROUTE],
    );
    const previous = cur.rows[0]?.percent ?? 0;
    if (cur.rowCount && previous === input.percent) {
      await db.query('commit');
      return { previous, current: previous, changed: false };
    }
    if (input.router.kind === 'command') {
      const [cmd, ...args] = input.router.command.map((a) => a.split('{percent}').join(String(input.percent)));
      const r = await runCommand(cmd!, args, { timeoutMs: 60_000 });
      if (r.code !== 0) {
        await db.query('rollback');
        throw new Error(`router command exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`);
      }
    }
    await db.query(
      `insert into ${quoteIdent(table)} (route, percent, migration_id, updated_by, reason, updated_at) values ($1, $2, $3, $4, $5, now())
       on conflict (route) do update set percent = excluded.percent, migration_id = excluded.migration_id,
         updated_by = excluded.updated_by, reason = excluded.reason, updated_at = now()`,
      [UNIFIED_ROUTE, input.percent, input.migrationId, input.actor, input.reason ?? null],
    );
    await db.query(
      `insert into ${quoteIdent(`${table}_history`)} (route, old_percent, new_percent, migration_id, changed_by, reason) values ($1, $2, $3, $4, $5, $6)`,
      [UNIFIED_ROUTE, previous, input.percent, input.migrationId, input.actor, input.reason ?? null],
    );
    await db.query('commit');
    return { previous, current: input.percent, changed: true };
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await db.end();
  }
}

/** The unified pipeline's current share (0 when nothing was ever routed). */
export async function getTrafficPercent(input: { router: RouterSpec; databaseUrlEnv: string }): Promise<number> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    const table = input.router.kind === 'table' ? input.router.table : ROUTER_STATE;
    const exists = await db.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [table]);
    if (!exists.rows[0]?.ok) return 0;
    const r = await db.query<{ percent: number }>(`select percent from ${quoteIdent(table)} where route = $1`, [
      UNIFIED_ROUTE,
    ]);
    return r.rows[0]?.percent ?? 0;
  } finally {
    await db.end();
  }
}

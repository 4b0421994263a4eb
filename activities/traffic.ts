import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import { routeOf, type RouterSpec } from '../model/plan';
import { envSecrets, redact } from './redact';
import { connect, pgTargetFromEnv, quoteIdent } from './database';
import { ErrorType, permanent } from './errors';
import { heartbeat } from './heartbeat';
import { activitySignal, runBounded } from './process';

/** Result of a routing change. */
export interface TrafficChange {
  previous: number;
  current: number;
  changed: boolean;
}

/** Stable share of an item in 0..99 (first 32 bits of md5 of its ID, mod 100); same as `UNIFIED_SHARE_SQL`. */
export function itemShare(itemId: string | number): number {
  return createHash('md5').update(String(itemId)).digest().readUInt32BE(0) % 100;
}

/** SQL for the share of `id`, as the pipelines compute it (the demo schema wraps it as `unified_share(id)`). */
export const UNIFIED_SHARE_SQL = `((('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint) % 100)`;

/** SQL true when the unified pipeline owns `id` at `percent` (both column names as written): `ownsItem` in SQL. */
export const UNIFIED_OWNS_SQL = `(${UNIFIED_SHARE_SQL} < percent)`;

/** Which pipeline owns an item at a given unified percent: a raised percent only ever moves items to unified. */
export function ownsItem(itemId: string | number, percent: number): 'unified' | 'legacy' {
  return itemShare(itemId) < percent ? 'unified' : 'legacy';
}

const DEFAULT_ROUTING_TABLE = 'migration_routing';
/** State table of the command router: the last percent it applied, so setting it twice is a no-op. */
const ROUTER_STATE = 'migration_router_state';
const ROUTER_COMMAND_TIMEOUT_MS = 60_000;

/** The routing table a router writes: the plan's table, or the command router's state table. */
function routerTable(router: RouterSpec): string {
  return router.kind === 'table' ? router.table || DEFAULT_ROUTING_TABLE : ROUTER_STATE;
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
    route text primary key default 'unified',
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

/**
 * Sets the unified pipeline's share of traffic. Table router: one row in the routing table both pipelines read
 * (created if absent), each change appended to `<table>_history` with who, when and why. Command router: runs the
 * plan's command with `{percent}` substituted (no shell) and records the percent in `migration_router_state`.
 * Setting the current percent again changes nothing (`changed: false`, no history row, no command).
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
    const table = routerTable(input.router);
    await db.query('begin');
    // Two concurrent changes serialise (even the first, creating the tables, when there is no row to lock yet), so
    // the history records each exactly once with the right previous value.
    await db.query('select pg_advisory_xact_lock(hashtext($1))', [`migration-router:${table}`]);
    await ensureTable(db, table);
    const route = routeOf(input.router);
    const cur = await readRoute(db, table, route, 'for update');
    const previous = cur?.percent ?? 0;
    const owner = foreignOwner(cur, input.migrationId);
    if (owner)
      throw permanent(ErrorType.PreconditionFailed, ownedText(table, route, owner, cur!.percent, input.migrationId));
    if (cur && previous === input.percent) {
      await db.query('commit');
      return { previous, current: previous, changed: false };
    }
    if (input.router.kind === 'command') {
      // Recorded only after the command succeeded: a failed or killed command leaves the state as it was, and the
      // retry runs it again (router commands must be idempotent: setting the same percent twice is harmless).
      const [cmd, ...args] = input.router.command.map((a) => a.split('{percent}').join(String(input.percent)));
      if (!cmd) throw permanent(ErrorType.InvalidInput, 'traffic.router.command is empty');
      const r = await runBounded(cmd, args, {
        timeoutMs: ROUTER_COMMAND_TIMEOUT_MS,
        onTick: () => heartbeat(`router command ${cmd} ${input.percent}%`),
        signal: activitySignal(),
      });
      if (r.cancelled) throw activitySignal()?.reason ?? new Error('router command cancelled');
      if (r.code !== 0 || r.timedOut) {
        const how = r.timedOut
          ? `timed out after ${ROUTER_COMMAND_TIMEOUT_MS} ms`
          : r.code === null
            ? `was killed by ${r.signal}`
            : `exited ${r.code}`;
        const output = redact((r.stderr || r.stdout).trim(), envSecrets([input.databaseUrlEnv]));
        throw new Error(`router command ${how}: ${output.slice(-500)}`);
      }
    }
    await db.query(
      `insert into ${quoteIdent(table)} (route, percent, migration_id, updated_by, reason, updated_at)
       values ($1, $2, $3, $4, $5, now())
       on conflict (route) do update set percent = excluded.percent, migration_id = excluded.migration_id,
         updated_by = excluded.updated_by, reason = excluded.reason, updated_at = now()`,
      [route, input.percent, input.migrationId, input.actor, input.reason ?? null],
    );
    await db.query(
      `insert into ${quoteIdent(`${table}_history`)} (route, old_percent, new_percent, migration_id, changed_by, reason)
       values ($1, $2, $3, $4, $5, $6)`,
      [route, previous, input.percent, input.migrationId, input.actor, input.reason ?? null],
    );
    await db.query('commit');
    return { previous, current: input.percent, changed: true };
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** A route's row: its percent and the migration that set it last (none when set by hand). */
interface RouteRow {
  percent: number;
  owner: string | null;
}

async function readRoute(db: Client, table: string, route: string, lock = ''): Promise<RouteRow | undefined> {
  const r = await db.query<{ percent: number; migration_id: string | null }>(
    `select percent, migration_id from ${quoteIdent(table)} where route = $1 ${lock}`,
    [route],
  );
  const row = r.rows[0];
  return row && { percent: row.percent, owner: row.migration_id };
}

/**
 * The migration other than `migrationId` that holds the route, if any: one that set it last and left it above 0 %
 * (running, or completed with the unified pipeline serving its share). A route at 0 %, or set by hand, is free.
 */
function foreignOwner(row: RouteRow | undefined, migrationId: string): string | undefined {
  return row?.owner && row.owner !== migrationId && row.percent > 0 ? row.owner : undefined;
}

const ownedText = (table: string, route: string, owner: string, percent: number, migrationId: string) =>
  `route ${route} of routing table ${table} belongs to migration ${owner} (${percent} % unified): migration ${migrationId} leaves it as it is. ` +
  `Give this plan a route of its own (traffic.router.route), or wait until ${owner} is rolled back.`;

/**
 * The unified pipeline's current share of the plan's route (0 when nothing was ever routed) and the migration other
 * than `migrationId` that holds the route, if one does; read-only, creates nothing.
 */
export async function readTraffic(input: {
  router: RouterSpec;
  databaseUrlEnv: string;
  migrationId: string;
}): Promise<{ percent: number; ownedBy?: string; refusal?: string }> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    const table = routerTable(input.router);
    // Quoted as the DDL quotes it, so the lookup and the table agree on case.
    const exists = await db.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [quoteIdent(table)]);
    if (!exists.rows[0]?.ok) return { percent: 0 };
    const row = await readRoute(db, table, routeOf(input.router));
    const owner = foreignOwner(row, input.migrationId);
    return owner
      ? {
          percent: row!.percent,
          ownedBy: owner,
          refusal: ownedText(table, routeOf(input.router), owner, row!.percent, input.migrationId),
        }
      : { percent: row?.percent ?? 0 };
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** The unified pipeline's current share of the plan's route (0 when nothing was ever routed); read-only. */
export async function getTrafficPercent(input: { router: RouterSpec; databaseUrlEnv: string }): Promise<number> {
  return (await readTraffic({ ...input, migrationId: '' })).percent;
}

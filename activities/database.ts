import { Client, type QueryConfig } from 'pg';
import { sqlStatementProblem } from '../model/sql-rules';
import { ErrorType, permanent } from './errors';

/** Connection settings split so the password travels only through the child's environment, never argv or logs. */
export interface PgTarget {
  /** URL without the password: safe to show. */
  safeUrl: string;
  database: string;
  /** Environment for libpq tools (`pg_dump`, `pg_restore`, `psql`). */
  env: NodeJS.ProcessEnv;
  /** Full URL for the `pg` driver (contains the password: never log or return it). */
  url: string;
}

/** Reads the database URL from the named environment variable (the plan names variables, never URLs). */
export function pgTargetFromEnv(envName: string): PgTarget {
  const raw = process.env[envName];
  if (!raw)
    throw permanent(ErrorType.MissingSecret, `environment variable ${envName} (database URL) is not set on the worker`);
  return pgTarget(raw);
}

/** Splits a PostgreSQL URL into a password-free URL and libpq environment variables. */
export function pgTarget(url: string, database?: string): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw permanent(ErrorType.InvalidInput, 'database URL is not a valid postgres:// URL');
  }
  if (database) u.pathname = `/${database}`;
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username) || 'postgres',
    PGDATABASE: db,
    PGPASSWORD: decodeURIComponent(u.password),
    PGCONNECT_TIMEOUT: '10',
  };
  const safe = new URL(u.toString());
  safe.password = '';
  return { safeUrl: safe.toString(), database: db, env, url: u.toString() };
}

/** Connects with the `pg` driver; the caller ends the client. */
export async function connect(target: PgTarget): Promise<Client> {
  const client = new Client({ connectionString: target.url, connectionTimeoutMillis: 10_000 });
  // A server that goes away fails the query in flight (the activity is retried); the client's 'error' event would
  // otherwise be unhandled and take the whole worker down with it.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Runs `work` in a READ ONLY transaction on `client` and always rolls it back (a measurement has nothing to keep), also
 * when `work` fails; the caller still ends the client. Only a statement of `oneStatement` may run inside: a simple
 * query with several statements could `COMMIT` out of the transaction and go on writing.
 */
export async function inReadOnlyTransaction<T>(
  client: Client,
  work: () => Promise<T>,
  isolation?: 'repeatable read',
  statementTimeoutMs?: number,
): Promise<T> {
  await client.query(`begin transaction${isolation ? ` isolation level ${isolation}` : ''} read only`);
  try {
    // `set local`: the limit ends with the transaction; SET takes no parameters, the number is checked here.
    if (statementTimeoutMs !== undefined)
      await client.query(`set local statement_timeout = ${Math.max(1, Math.round(Number(statementTimeoutMs)))}`);
    return await work();
  } finally {
    // A connection that broke under the query has no transaction left to end: the caller's `end()` releases it.
    await client.query('rollback').catch(() => undefined);
  }
}

/**
 * The query sent with the extended protocol, parameters or not, so PostgreSQL runs exactly one statement of it and
 * refuses more ("cannot insert multiple commands into a prepared statement"). node-postgres sends a query without
 * values, or with an empty array, as a simple query, which runs every statement in the text (pg `lib/query.js`,
 * `requiresPreparation`); `queryMode: 'extended'` forces the extended protocol (not in `@types/pg`).
 */
export function oneStatement<T extends QueryConfig>(query: T): T {
  return { ...query, queryMode: 'extended' };
}

/**
 * PostgreSQL's message when it refused a measurement query for being more than one statement or for writing in a
 * read-only transaction (a DELETE in a CTE, `nextval`, a function that inserts, a cursor over a data-modifying
 * WITH); undefined for any other error (a missing table, a lost connection), which keeps its own message.
 */
export function notOneReadOnlyStatement(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.message !== 'string') return undefined;
  const refused =
    e.code === '25006' || // read_only_sql_transaction
    e.code === '25001' || // active_sql_transaction: "transaction read-write mode must be set before any query"
    (e.code === '42601' && /multiple commands/.test(e.message)) ||
    (e.code === '0A000' && /data-modifying/.test(e.message));
  return refused ? e.message : undefined;
}

/** Row counts of every user table (schema-qualified), read in the client's current transaction/snapshot. */
export async function tableRowCounts(client: Client): Promise<Record<string, number>> {
  const tables = await client.query<{ schema: string; name: string }>(
    `select table_schema as schema, table_name as name from information_schema.tables
      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
      order by 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const t of tables.rows) {
    const ident = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
    const r = await client.query<{ n: string }>(`select count(*) as n from ${ident}`);
    counts[`${t.schema}.${t.name}`] = Number(r.rows[0]?.n ?? 0);
  }
  return counts;
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `$1` as a placeholder (not `$10`): the window start is bound only to queries that use it. */
export const usesSince = (query: string): boolean => /\$1(?!\d)/.test(query);

/** A plan's SQL that PostgreSQL refused as more than one statement, or as one that writes: permanent, named. */
export function refusedSql(what: string, err: unknown): Error {
  const refused = notOneReadOnlyStatement(err);
  if (refused === undefined) return err as Error;
  return permanent(ErrorType.InvalidInput, `${what}: its SQL must be one read-only statement: ${refused}`);
}

/** How long one measurement query may run when its check names no `timeout`. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * Refuses, before any connection, a plan's SQL that could act on the server (`COPY`, `dblink`, `pg_sleep`, `SET ROLE`…,
 * `model/sql-rules.ts`): the plan loader refuses it too, and a workflow input may not have come through it.
 */
export function refuseActingSql(what: string, query: string): void {
  const problem = sqlStatementProblem(query);
  if (problem) throw permanent(ErrorType.InvalidInput, `${what}: ${problem}`);
}

/** PostgreSQL's `query_canceled` for a statement that ran past `statement_timeout`. */
export function statementTimedOut(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === '57014' && typeof e.message === 'string' && /statement timeout/.test(e.message);
}

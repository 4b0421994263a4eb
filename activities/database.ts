import { Client } from 'pg';
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

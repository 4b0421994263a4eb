import { Client } from 'pg';
import { quoteIdent } from '../activities/database';

/** Creates database `name` on the server of `url` if it does not exist, and returns the URL pointing at it. */
export async function ensureDatabase(url: string, name: string, opts: { recreate?: boolean } = {}): Promise<string> {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    if (opts.recreate) await admin.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`create database ${quoteIdent(name)}`);
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

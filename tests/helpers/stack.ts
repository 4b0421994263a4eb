import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { quoteIdent } from '../../activities/database';
import { ensureDatabase } from '../../lib/admin-db';
import { applyStackEnv, loadConfig, requireEnv } from '../../lib/config';

applyStackEnv();

/** The stack configuration the tests run against (the same one the demo uses). */
export const config = loadConfig();

/** A short random suffix so tests never share names. */
export const uniq = () => randomBytes(4).toString('hex');

/** A fresh database on the stack's PostgreSQL; `drop()` removes it. */
export async function scratchDatabase(
  prefix: string,
): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const admin = requireEnv('DATABASE_URL');
  const name = `${prefix}_${uniq()}`;
  const url = await ensureDatabase(admin, name, { recreate: true });
  return {
    name,
    url,
    drop: async () => {
      const c = new PgClient({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      await c.end();
    },
  };
}

/** Runs `fn` with a connected `pg` client on `url`. */
export async function withPg<T>(url: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A temporary folder removed by the caller. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** A killed process is gone, or a zombie until the init process reaps it. */
/**
 * Waits up to `ms` for `pid` to end. A SIGKILLed process closes its pipes before the kernel marks it a zombie, so a
 * reader that saw the pipes close can still find it running for a moment.
 */
export async function processEndsWithin(pid: number, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!processEnded(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

export function processEnded(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z';
  } catch {
    return true;
  }
}

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { quoteIdent } from '../../activities/database';
import { ensureDatabase } from '../../lib/admin-db';
import { clientDataConverter } from '../../lib/codec';
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

/** A system user for a test's crontab, made as an administrator would (no home), if the machine has none yet. */
export function systemUser(name: string): string {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', name]);
  }
  return name;
}

/** A client of the stack's Temporal server; the caller closes its connection. */
export async function stackClient(): Promise<Client> {
  return new Client({
    connection: await Connection.connect({ address: config.temporalAddress }),
    namespace: config.temporalNamespace,
    dataConverter: clientDataConverter(),
  });
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

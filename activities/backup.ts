import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRecord } from '../workflows/definitions';
import { connect, pgTarget, pgTargetFromEnv, quoteIdent, tableRowCounts } from './database';
import { ErrorType, permanent } from './errors';
import { heartbeat } from './heartbeat';
import { activitySignal, runBounded, throwIfCancelled } from './process';

/** Input of `backupDatabase`. */
export interface BackupInput {
  migrationId: string;
  /** Which backup of the migration this is (`pre-go`, `pre-cutover`, …): with the ID, it names the file. */
  step: string;
  databaseUrlEnv: string;
  backupDir: string;
}

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `pg_dump` and `pg_restore` each get at most the activity's start-to-close time. */
const COMMAND_TIMEOUT_MS = 30 * 60_000;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/**
 * `pg_dump` (custom format) of the target database, checksummed and verified by restoring it into a scratch
 * database and comparing row counts per table with the counts of the snapshot the dump was taken from.
 * Idempotent: a verified backup of the same migration and step is returned as it is.
 */
export async function backupDatabase(input: BackupInput): Promise<BackupRecord> {
  if (!/^[A-Za-z0-9_.-]+$/.test(input.step))
    throw permanent(ErrorType.InvalidInput, `backup step "${input.step}" must be [A-Za-z0-9_.-]+`);
  const target = pgTargetFromEnv(input.databaseUrlEnv);
  const dir = path.resolve(input.backupDir, safeName(input.migrationId));
  const file = path.join(dir, `${input.step}.dump`);
  const manifestFile = `${file}.json`;
  await fs.mkdir(dir, { recursive: true });

  const existing = await readManifest(manifestFile);
  if (existing?.verified && (await fileExists(file)) && (await sha256File(file)) === existing.sha256) return existing;

  const tmp = `${file}.partial`;
  const source = await connect(target);
  let tables: Record<string, number>;
  try {
    // One exported snapshot for the dump and the row counts: the counts describe exactly what the dump holds.
    await source.query('begin isolation level repeatable read read only');
    const snap = await source.query<{ id: string }>('select pg_export_snapshot() as id');
    tables = await tableRowCounts(source);
    heartbeat('dumping');
    const dump = await runBounded('pg_dump', ['--format=custom', `--snapshot=${snap.rows[0]!.id}`, '--file', tmp], {
      env: target.env,
      timeoutMs: COMMAND_TIMEOUT_MS,
      onTick: () => heartbeat('dumping'),
      signal: activitySignal(),
    });
    if (dump.cancelled || dump.timedOut) {
      // A cancelled (rollback, abort) or stuck dump leaves no partial file behind; `pg_dump` is already killed.
      await fs.rm(tmp, { force: true });
      throwIfCancelled();
      throw ApplicationFailure.create({
        type: 'BackupFailed',
        message: `pg_dump did not finish within ${COMMAND_TIMEOUT_MS / 60_000} min`,
      });
    }
    if (dump.code !== 0) {
      throw ApplicationFailure.create({
        type: 'BackupFailed',
        message: `pg_dump exited ${dump.code}: ${dump.stderr.trim()}`,
      });
    }
    await source.query('commit');
  } finally {
    await source.end();
  }
  const sha256 = await sha256File(tmp);
  const bytes = (await fs.stat(tmp)).size;
  await fs.rename(tmp, file);

  heartbeat('verifying');
  await verifyRestore(target.url, file, tables, `${input.migrationId}:${input.step}`);
  const record: BackupRecord = {
    step: input.step,
    file,
    sha256,
    bytes,
    tables,
    verified: true,
    verifiedAt: new Date().toISOString(),
  };
  await fs.writeFile(manifestFile, JSON.stringify(record, null, 2));
  return record;
}

/** Restores `file` into a scratch database and compares its row counts with `expected`; drops the scratch database. */
export async function verifyRestore(
  url: string,
  file: string,
  expected: Record<string, number>,
  key: string,
): Promise<void> {
  const scratch = `mo_verify_${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  const admin = await connect(pgTarget(url, 'postgres'));
  try {
    await admin.query(`drop database if exists ${quoteIdent(scratch)} with (force)`);
    await admin.query(`create database ${quoteIdent(scratch)}`);
    const scratchTarget = pgTarget(url, scratch);
    const restore = await runBounded(
      'pg_restore',
      ['--no-owner', '--no-privileges', '--exit-on-error', '-d', scratch, file],
      {
        env: scratchTarget.env,
        timeoutMs: COMMAND_TIMEOUT_MS,
        onTick: () => heartbeat('verifying'),
        signal: activitySignal(),
      },
    );
    // The scratch database is dropped below either way.
    throwIfCancelled();
    if (restore.code !== 0) {
      throw ApplicationFailure.create({
        type: 'BackupVerificationFailed',
        message: `pg_restore exited ${restore.code}: ${restore.stderr.trim()}`,
      });
    }
    const restored = await connect(scratchTarget);
    let actual: Record<string, number>;
    try {
      actual = await tableRowCounts(restored);
    } finally {
      await restored.end();
    }
    const diffs = Object.keys({ ...expected, ...actual })
      .filter((t) => expected[t] !== actual[t])
      .map((t) => `${t}: source ${expected[t] ?? 'absent'}, restored ${actual[t] ?? 'absent'}`);
    if (diffs.length) {
      throw ApplicationFailure.create({
        type: 'BackupVerificationFailed',
        message: `restored row counts differ: ${diffs.join('; ')}`,
      });
    }
  } finally {
    await admin.query(`drop database if exists ${quoteIdent(scratch)} with (force)`).catch(() => undefined);
    await admin.end();
  }
}

async function readManifest(file: string): Promise<BackupRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as BackupRecord;
  } catch {
    return undefined;
  }
}

async function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

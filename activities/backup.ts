import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { BackupRecord } from '../model/status';
import { quoteIdent } from './database';
import { ErrorType, permanent } from './errors';
import { makePrivateFolder, produceFileSafely, readOwnFile, removeLeftovers, writeFileSafely } from './files';
import { migrationFolder } from './folders';
import { heartbeatDetails, heartbeatWhile, previousHeartbeat } from './heartbeat';
import { activitySignal, runBounded, throwIfCancelled } from './process';
import { redact } from './redact';

/** Input of `backupDatabase`. */
export interface BackupInput {
  migrationId: string;
  /** Which backup of the migration this is (`pre-go`, `pre-cutover`, …): with the ID, it names the file. */
  step: string;
  databaseUrlEnv: string;
  backupDir: string;
  /**
   * The database URL variable of the server the verifying restore goes to (the plan's
   * `target.backupVerifyDatabaseUrlEnv`); absent: the target's server.
   */
  verifyDatabaseUrlEnv?: string;
}

/** A complete dump: its file, checksum and size, and the source's row counts in the snapshot the dump holds. */
export interface CompleteDump {
  file: string;
  sha256: string;
  bytes: number;
  tables: Record<string, number>;
}

/** What a backup heartbeats: the stage it is in and, once its dump is complete, what a retry needs to reuse it. */
export interface BackupProgress {
  stage: 'checking' | 'counting' | 'dumping' | 'hashing' | 'dumped' | 'restoring' | 'verifying';
  /** The table being counted. */
  table?: string;
  /** Bytes written (dumping) or read (checking, hashing) so far. */
  bytes?: number;
  dump?: CompleteDump;
  /** This attempt reuses the dump an earlier attempt completed. */
  resumed?: boolean;
}

/** SHA-256 of a file, streamed; `onProgress` gets the bytes read so far after each chunk (and may throw to stop). */
export async function sha256File(file: string, onProgress?: (bytesRead: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onProgress?.(read);
  }
  return hash.digest('hex');
}

/**
 * How the libpq tools (`psql`, `pg_dump`, `pg_restore`) reach one database: the URL itself as their `--dbname`, so
 * every parameter it has (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `application_name`, `connect_timeout`,
 * `options`, host lists, `host=` sockets …) means to them exactly what it means to libpq, with the password moved to
 * `PGPASSWORD`: argv is visible to anyone on the host (`ps`).
 */
export interface LibpqTarget {
  /** The URL without its password: what the tools get as `--dbname`, and safe to show. */
  conninfo: string;
  /** The tools' environment. */
  env: NodeJS.ProcessEnv;
  /** The password as written and decoded, scrubbed from everything the tools print. */
  secrets: string[];
}

const SCHEME = /^postgres(?:ql)?:\/\//;

/** libpq's variables that say where to connect and as whom (the URL says that). */
const WHERE_TO_CONNECT = new Set([
  'PGHOST',
  'PGHOSTADDR',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGPASSWORD',
  'PGSERVICE',
  'PGTARGETSESSIONATTRS',
  'PGOPTIONS',
]);

const decodeUriPart = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw permanent(ErrorType.InvalidInput, 'database URL has a malformed %-escape');
  }
};

/**
 * Splits a `postgres://` URL as the worker's other connections read it (node-postgres, WHATWG URL): the authority
 * ends at the first `/`, `?` or `#`, the user part at its LAST `@` (so a password with a bare `@`, which worked
 * before, still does), the password is what follows the user part's first `:`, and a `password` parameter wins over
 * it. The URL the tools get spells the user %-encoded, so libpq (which would split at the first `@`) reads the same.
 * With `database`, the URL names that database instead (path set, `dbname` parameters dropped).
 */
export function libpqTarget(url: string, database?: string): LibpqTarget {
  const scheme = SCHEME.exec(url)?.[0];
  if (!scheme) throw permanent(ErrorType.InvalidInput, 'database URL is not a postgres:// URL');
  let rest = url.slice(scheme.length);
  let user = '';
  const secrets: string[] = [];
  let password: string | undefined;
  const authorityEnd = rest.search(/[/?#]/);
  const at = (authorityEnd < 0 ? rest : rest.slice(0, authorityEnd)).lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    user = encodeURIComponent(decodeUriPart(colon < 0 ? userinfo : userinfo.slice(0, colon)));
    if (colon >= 0) {
      password = decodeUriPart(userinfo.slice(colon + 1));
      secrets.push(userinfo.slice(colon + 1), password);
    }
    rest = rest.slice(at + 1);
  }
  const q = rest.indexOf('?');
  const beforeQuery = q < 0 ? rest : rest.slice(0, q);
  const slash = beforeQuery.indexOf('/');
  const hosts = slash < 0 ? beforeQuery : beforeQuery.slice(0, slash);
  const dbPath =
    database !== undefined ? `/${encodeURIComponent(database)}` : slash < 0 ? '' : beforeQuery.slice(slash);
  const params: string[] = [];
  for (const p of q < 0 ? [] : rest.slice(q + 1).split('&')) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? undefined : decodeUriPart(p.slice(0, eq));
    if (key === 'password') {
      password = decodeUriPart(p.slice(eq + 1));
      secrets.push(p.slice(eq + 1), password);
    } else if (key === 'sslpassword') {
      // The client key's passphrase has no variable of its own: it stays in the URL, never in a message.
      secrets.push(p.slice(eq + 1), decodeUriPart(p.slice(eq + 1)));
      params.push(p);
    } else if (!(database !== undefined && key === 'dbname') && p !== '') params.push(p);
  }
  // The URL alone says where to connect and as whom: a PGHOST, PGDATABASE or PGPASSWORD the worker happens to have
  // would otherwise fill in what the URL leaves out, and could point a backup at another server. The variables that
  // say how (PGSSLROOTCERT, PGSSLCERT, PGPASSFILE, PGSERVICEFILE, …) stay: a worker's CA or client certificate is set
  // there, not in the URL.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!WHERE_TO_CONNECT.has(k)) env[k] = v;
  env.PGCONNECT_TIMEOUT = '10'; // a default: the URL's connect_timeout wins
  if (password) env.PGPASSWORD = password;
  const query = params.length ? `?${params.join('&')}` : '';
  return {
    conninfo: `${scheme}${user ? `${user}@` : ''}${hosts}${dbPath}${query}`,
    env,
    secrets: [...new Set(secrets)].filter((x) => x !== ''),
  };
}

/** Reads the database URL from the named environment variable (the plan names variables, never URLs). */
export function libpqTargetFromEnv(envName: string): LibpqTarget {
  const raw = process.env[envName];
  if (!raw)
    throw permanent(ErrorType.MissingSecret, `environment variable ${envName} (database URL) is not set on the worker`);
  return libpqTarget(raw);
}

/** Without a start-to-close time (scripts, tests), an attempt may take this long. */
const DEFAULT_LIMIT_MS = 30 * 60_000;

/** How long this attempt may take: the activity's start-to-close time, i.e. the plan's `target.backupTimeout`. */
function attemptLimitMs(): number {
  try {
    const ms = Context.current().info.startToCloseTimeoutMs;
    return ms > 0 ? ms : DEFAULT_LIMIT_MS;
  } catch {
    return DEFAULT_LIMIT_MS;
  }
}

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/** When the attempt must be over, and how to say so. */
interface Deadline {
  at: number;
  limitMs: number;
}

const remaining = (d: Deadline) => Math.max(1, d.at - Date.now());
const overTime = (type: ErrorType, what: string, d: Deadline) =>
  ApplicationFailure.create({
    type,
    message: `${what} did not finish within the backup's time limit (${Math.round(d.limitMs / 60_000)} min)`,
  });

/**
 * One `psql` session that runs one statement at a time and returns its output lines: libpq, like `pg_dump`, so the
 * snapshot, the row counts and the scratch database see the URL exactly as the dump and the restore do (the `pg`
 * driver knows no host lists, and reads `sslmode` its own way).
 */
class PsqlSession {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly marker = `mo-done-${randomBytes(8).toString('hex')}`;
  private out = '';
  private lines: string[] = [];
  private stderr = '';
  private pending?: { resolve: (lines: string[]) => void; reject: (err: Error) => void };
  private ended?: Error;

  constructor(
    private readonly target: LibpqTarget,
    /** The failure type and what the session is for, in its errors. */
    private readonly type: ErrorType,
    private readonly what: string,
  ) {
    this.child = spawn(
      'psql',
      ['-X', '-q', '-A', '-t', '--no-password', '-v', 'ON_ERROR_STOP=1', `--dbname=${target.conninfo}`],
      { env: target.env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    // psql that exits (a refused connection, a failed statement) must not crash the worker with EPIPE.
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.on('data', (d: Buffer) => this.onOutput(d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4_000)));
    this.child.on('error', (err) => this.end(this.failure(err.message)));
    this.child.on('close', (code, signal) =>
      this.end(this.failure(this.stderr.trim() || `psql exited ${code ?? signal}`)),
    );
  }

  /** Runs one statement (no trailing `;`); aborting `signal` or passing `deadline` kills psql, and this fails. */
  run(sql: string, opts: { signal?: AbortSignal; deadline?: Deadline } = {}): Promise<string[]> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.pending) return Promise.reject(new Error('a psql session runs one statement at a time'));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason as Error);
    return new Promise<string[]>((resolve, reject) => {
      const stop = (err: Error) => {
        this.child.kill('SIGKILL');
        done(undefined, err);
      };
      const onAbort = () => stop(opts.signal!.reason as Error);
      const timer = opts.deadline
        ? setTimeout(() => stop(overTime(this.type, this.what, opts.deadline!)), remaining(opts.deadline))
        : undefined;
      const done = (lines?: string[], err?: Error) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending = undefined;
        if (err) reject(err);
        else resolve(lines ?? []);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending = { resolve: (lines) => done(lines), reject: (err) => done(undefined, err) };
      this.stderr = '';
      this.child.stdin.write(`${sql};\n\\echo ${this.marker}\n`);
    });
  }

  /** Ends the session (and its transaction); kills psql if a statement is still running. */
  close(): void {
    if (this.ended) return;
    if (this.pending) this.child.kill('SIGKILL');
    else this.child.stdin.end();
  }

  private onOutput(text: string): void {
    this.out += text;
    let nl: number;
    while ((nl = this.out.indexOf('\n')) >= 0) {
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      if (line !== this.marker) this.lines.push(line);
      else {
        const lines = this.lines;
        this.lines = [];
        this.pending?.resolve(lines);
      }
    }
  }

  private failure(detail: string): Error {
    return ApplicationFailure.create({
      type: this.type,
      message: redact(`${this.what} (${this.target.conninfo}): ${detail}`, this.target.secrets),
    });
  }

  private end(err: Error): void {
    this.ended ??= err;
    this.pending?.reject(this.ended);
  }
}

const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Row counts of every user table (schema-qualified) in the session's current transaction/snapshot. Each `count(*)`
 * is one query that may run for minutes on a big table or wait for a lock: it heartbeats while it runs.
 */
async function countRows(
  db: PsqlSession,
  beat: (p: BackupProgress) => void,
  stage: 'counting' | 'verifying',
  deadline: Deadline,
): Promise<Record<string, number>> {
  const opts = { signal: activitySignal(), deadline };
  const list = await db.run(
    `select coalesce(json_agg(json_build_array(table_schema, table_name) order by table_schema, table_name), '[]')
       from information_schema.tables
      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
    opts,
  );
  const counts: Record<string, number> = {};
  for (const [schema, name] of JSON.parse(list.join('\n') || '[]') as [string, string][]) {
    const table = `${schema}.${name}`;
    const [n] = await heartbeatWhile(
      () => beat({ stage, table }),
      () => db.run(`select count(*) from ${quoteIdent(schema)}.${quoteIdent(name)}`, opts),
    );
    counts[table] = Number(n);
  }
  return counts;
}

/** `file` is there with the size and checksum of `expected` (hashed with heartbeats: a dump can be large). */
async function sameFile(
  file: string,
  expected: { sha256: string; bytes: number },
  beat: (p: BackupProgress) => void,
  stage: 'checking' | 'hashing',
): Promise<boolean> {
  const size = await fs.stat(file).then(
    (s) => s.size,
    () => undefined,
  );
  if (size !== expected.bytes) return false;
  return (await hashWithHeartbeats(file, beat, stage)) === expected.sha256;
}

async function hashWithHeartbeats(
  file: string,
  beat: (p: BackupProgress) => void,
  stage: 'checking' | 'hashing',
): Promise<string> {
  let bytes = 0;
  return heartbeatWhile(
    () => beat({ stage, bytes }),
    () =>
      sha256File(file, (n) => {
        bytes = n;
        throwIfCancelled();
      }),
  );
}

const isCompleteDump = (d: unknown): d is CompleteDump => {
  const x = d as Partial<CompleteDump> | undefined;
  return (
    typeof x?.file === 'string' &&
    typeof x.sha256 === 'string' &&
    typeof x.bytes === 'number' &&
    typeof x.tables === 'object' &&
    x.tables !== null
  );
};

/**
 * The dump an earlier attempt of this activity completed (its heartbeat details say so), if the file is still there
 * with the same size and checksum; else undefined and the backup starts over. The file only ever gets its final name
 * once `pg_dump` exited 0 and it was hashed, so a half-written dump is never taken for a complete one.
 */
async function reusableDump(file: string, beat: (p: BackupProgress) => void): Promise<CompleteDump | undefined> {
  const dump = (previousHeartbeat()?.details as BackupProgress | undefined)?.dump;
  if (!isCompleteDump(dump) || dump.file !== file) return undefined;
  return (await sameFile(file, dump, beat, 'checking')) ? dump : undefined;
}

/**
 * `pg_dump` (custom format) of the target into a private scratch file, put in place as `file` (0600, never through a
 * symlink: `produceFileSafely`) once it exited 0 and was hashed, with the row counts of the same exported snapshot: the
 * counts describe exactly what the dump holds.
 */
async function dumpDatabase(
  target: LibpqTarget,
  file: string,
  deadline: Deadline,
  beat: (p: BackupProgress) => void,
): Promise<CompleteDump> {
  // What a dead attempt left is unlinked, not overwritten: a pg_dump that outlived its worker writes on into a file
  // nobody reads instead of into this attempt's (`.partial` is where versions before the scratch folders wrote).
  await fs.rm(`${file}.partial`, { force: true });
  await removeLeftovers(file);
  const { result } = await produceFileSafely(file, (tmp) => dumpInto(target, tmp, deadline, beat));
  return { ...result, file };
}

async function dumpInto(
  target: LibpqTarget,
  tmp: string,
  deadline: Deadline,
  beat: (p: BackupProgress) => void,
): Promise<Omit<CompleteDump, 'file'>> {
  const db = new PsqlSession(target, ErrorType.BackupFailed, 'backup snapshot');
  let tables: Record<string, number>;
  try {
    const opts = { signal: activitySignal(), deadline };
    await db.run('begin isolation level repeatable read read only', opts);
    const [snapshot] = await db.run('select pg_export_snapshot()', opts);
    tables = await countRows(db, beat, 'counting', deadline);
    const written = () => {
      try {
        return statSync(tmp).size;
      } catch {
        return 0;
      }
    };
    beat({ stage: 'dumping', bytes: 0 });
    const dump = await runBounded(
      'pg_dump',
      ['--format=custom', '--no-password', `--snapshot=${snapshot}`, '--file', tmp, `--dbname=${target.conninfo}`],
      {
        env: target.env,
        timeoutMs: remaining(deadline),
        onTick: () => beat({ stage: 'dumping', bytes: written() }),
        signal: activitySignal(),
      },
    );
    // A cancelled (rollback, abort) or stuck dump is already killed; its scratch folder goes with what it wrote.
    throwIfCancelled();
    if (dump.timedOut) throw overTime(ErrorType.BackupFailed, 'pg_dump', deadline);
    if (dump.code !== 0) {
      throw ApplicationFailure.create({
        type: ErrorType.BackupFailed,
        message: redact(`pg_dump exited ${dump.code ?? dump.signal}: ${dump.stderr.trim()}`, target.secrets),
      });
    }
  } finally {
    db.close();
  }
  const sha256 = await hashWithHeartbeats(tmp, beat, 'hashing');
  const bytes = (await fs.stat(tmp)).size;
  return { sha256, bytes, tables };
}

/**
 * `pg_dump` (custom format) of the target database, checksummed and verified by restoring it into a scratch
 * database and comparing row counts per table with the counts of the snapshot the dump was taken from. Every stage
 * heartbeats every few seconds; once the dump is complete the heartbeats carry it, so a retry after a dead worker
 * verifies that dump instead of dumping again. Idempotent: a verified backup of the same migration and step is
 * returned as it is, and a step only ever has one dump file.
 */
export async function backupDatabase(input: BackupInput): Promise<BackupRecord> {
  if (!/^[A-Za-z0-9_.-]+$/.test(input.step))
    throw permanent(ErrorType.InvalidInput, `backup step "${input.step}" must be [A-Za-z0-9_.-]+`);
  const target = libpqTargetFromEnv(input.databaseUrlEnv);
  const verifyOn = input.verifyDatabaseUrlEnv ? libpqTargetFromEnv(input.verifyDatabaseUrlEnv) : undefined;
  const limitMs = attemptLimitMs();
  const deadline = { at: Date.now() + limitMs, limitMs };
  const dir = path.resolve(migrationFolder(input.backupDir, input.migrationId));
  const file = path.join(dir, `${input.step}.dump`);
  const manifestFile = `${file}.json`;
  await makePrivateFolder(dir);

  const existing = await readManifest(manifestFile);
  if (existing?.verified && (await sameFile(file, existing, heartbeatDetails, 'checking'))) return existing;

  const reused = await reusableDump(file, heartbeatDetails);
  const dump = reused ?? (await dumpDatabase(target, file, deadline, heartbeatDetails));
  const beat = (p: BackupProgress) => heartbeatDetails({ ...p, dump, ...(reused ? { resumed: true } : {}) });
  beat({ stage: 'dumped' });

  // A server named for it takes the scratch copy; else the target's own server (the preflight checked its room).
  const key = `${input.migrationId}:${input.step}`;
  await verifyRestore(verifyOn ?? target, dump, key, deadline, beat, verifyOn ? {} : { adminDatabase: 'postgres' });
  const record: BackupRecord = {
    step: input.step,
    file,
    sha256: dump.sha256,
    bytes: dump.bytes,
    tables: dump.tables,
    verified: true,
    verifiedAt: new Date().toISOString(),
  };
  await writeFileSafely(manifestFile, JSON.stringify(record, null, 2));
  return record;
}

/**
 * Restores the dump into a scratch database of this attempt on `target`'s server and compares its row counts with the
 * dump's; drops the scratch database. The scratch database is named by `key` and the attempt, and those of earlier
 * attempts are dropped first (with force, which also ends a `pg_restore` that outlived its dead worker). It is created
 * from a session on `adminDatabase` of that server (absent: the database `target` names).
 */
export async function verifyRestore(
  target: LibpqTarget,
  dump: CompleteDump,
  key: string,
  deadline: Deadline = { at: Date.now() + DEFAULT_LIMIT_MS, limitMs: DEFAULT_LIMIT_MS },
  beat: (p: BackupProgress) => void = heartbeatDetails,
  on: { adminDatabase?: string } = {},
): Promise<void> {
  const prefix = `mo_verify_${createHash('sha256').update(key).digest('hex').slice(0, 16)}_`;
  const scratch = `${prefix}${currentAttempt()}`;
  const admin = new PsqlSession(
    on.adminDatabase === undefined ? target : withDatabase(target, on.adminDatabase),
    ErrorType.BackupVerificationFailed,
    'scratch database',
  );
  const opts = { signal: activitySignal(), deadline };
  try {
    beat({ stage: 'restoring' });
    const stale = await admin.run(
      `select datname from pg_database where starts_with(datname, ${sqlLiteral(prefix)})`,
      opts,
    );
    for (const name of stale.filter((n) => n !== ''))
      await admin.run(`drop database if exists ${quoteIdent(name)} with (force)`, opts);
    await admin.run(`create database ${quoteIdent(scratch)}`, opts);
    const scratchTarget = withDatabase(target, scratch);
    const restore = await runBounded(
      'pg_restore',
      [
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--no-password',
        `--dbname=${scratchTarget.conninfo}`,
        dump.file,
      ],
      {
        env: scratchTarget.env,
        timeoutMs: remaining(deadline),
        onTick: () => beat({ stage: 'restoring' }),
        signal: activitySignal(),
      },
    );
    // The scratch database is dropped below either way.
    throwIfCancelled();
    if (restore.timedOut) throw overTime(ErrorType.BackupVerificationFailed, 'pg_restore', deadline);
    if (restore.code !== 0) {
      throw ApplicationFailure.create({
        type: ErrorType.BackupVerificationFailed,
        message: redact(
          `pg_restore exited ${restore.code ?? restore.signal}: ${restore.stderr.trim()}`,
          target.secrets,
        ),
      });
    }
    const restored = new PsqlSession(scratchTarget, ErrorType.BackupVerificationFailed, 'restored copy');
    let actual: Record<string, number>;
    try {
      actual = await countRows(restored, beat, 'verifying', deadline);
    } finally {
      restored.close();
    }
    const expected = dump.tables;
    const diffs = Object.keys({ ...expected, ...actual })
      .filter((t) => expected[t] !== actual[t])
      .map((t) => `${t}: source ${expected[t] ?? 'absent'}, restored ${actual[t] ?? 'absent'}`);
    if (diffs.length) {
      throw ApplicationFailure.create({
        type: ErrorType.BackupVerificationFailed,
        message: `restored row counts differ: ${diffs.join('; ')}`,
      });
    }
  } finally {
    const cleanup = { deadline: { at: Date.now() + 60_000, limitMs: 60_000 } };
    await admin.run(`drop database if exists ${quoteIdent(scratch)} with (force)`, cleanup).catch(() => undefined);
    admin.close();
  }
}

/** The same connection (every parameter, the same password) to another database on the same server. */
function withDatabase(target: LibpqTarget, database: string): LibpqTarget {
  return { ...libpqTarget(target.conninfo, database), env: target.env, secrets: target.secrets };
}

/** The manifest we wrote (a symlink planted in its place is not ours, and is replaced by the next write). */
async function readManifest(file: string): Promise<BackupRecord | undefined> {
  try {
    const text = await readOwnFile(file);
    return text === undefined ? undefined : (JSON.parse(text) as BackupRecord);
  } catch {
    return undefined;
  }
}

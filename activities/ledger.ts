import { Client } from 'pg';
import type { LedgerEntry } from '../model/status';
import { ledgerSealText, type LedgerSeal } from '../model/ledger-chain';
import type { Signer } from '../lib/signing';
import { connect, pgTargetFromEnv, quoteIdent } from './database';
import { redact, redactDeep } from './redact';

/** One row of the ledger table as read back (`migrate history`, reports). */
export interface LedgerRow extends LedgerEntry {
  migrationId: string;
}

const ensureTable = (table: string) => `create table if not exists ${quoteIdent(table)} (
  migration_id text not null,
  seq integer not null,
  at timestamptz not null,
  kind text not null,
  actor text,
  detail text not null,
  data jsonb,
  recorded_at timestamptz not null default now(),
  prev_hash text,
  hash text,
  primary key (migration_id, seq))`;

/**
 * A ledger table from before the hash chain gets its columns once (an ALTER on every append would lock it). The name
 * is bound as a parameter and quoted only as an identifier: never spliced into a string literal.
 */
async function ensureHashColumns(db: Client, table: string): Promise<void> {
  const r = await db.query<{ ok: boolean }>(
    `select exists (select 1 from pg_attribute
                     where attrelid = to_regclass($1) and attname = 'hash' and not attisdropped) as ok`,
    [quoteIdent(table)],
  );
  if (!r.rows[0]?.ok)
    await db.query(
      `alter table ${quoteIdent(table)} add column if not exists prev_hash text, add column if not exists hash text`,
    );
}

/**
 * Appends entries to the measurement ledger. Idempotent: each entry's (migration, sequence number) is its key, so an
 * attempt that runs again after a crash, or a batch written twice, adds no row. Each row is redacted on its way in
 * (`activities/redact.ts`): the workflow builds rows from redacted activity results, so this changes nothing but a
 * secret that came another way, and such a row then no longer matches its hash, which `migrate audit verify` names.
 */
export async function appendLedger(
  input: {
    migrationId: string;
    databaseUrlEnv: string;
    table: string;
    entries: LedgerEntry[];
  },
  sealer?: Signer,
): Promise<{ inserted: number }> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    await db.query(ensureTable(input.table));
    await ensureHashColumns(db, input.table);
    const inserted = await insertEntries(db, input);
    if (sealer) await sealHead(db, input, sealer);
    return { inserted };
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** The table of a ledger's seals, beside the ledger table itself: one row per migration, its newest sealed head. */
export const sealsTableOf = (ledgerTable: string): string => `${ledgerTable}_seals`;

/**
 * Seals the ledger's head as the workflow built it (the newest entry's sequence number and hash), with the worker's
 * ledger key: a rollback from the ledger then detects rows cut from the end, added or rewritten, since nobody without
 * the key can seal another head. A retried older batch never replaces a newer seal.
 */
async function sealHead(
  db: Client,
  input: { migrationId: string; table: string; entries: LedgerEntry[] },
  sealer: Signer,
): Promise<void> {
  const last = input.entries.at(-1);
  if (!last?.hash) return;
  const rows = last.seq + 1;
  const sshsig = await sealer(ledgerSealText(input.migrationId, input.table, rows, last.hash));
  const table = quoteIdent(sealsTableOf(input.table));
  await db.query(`create table if not exists ${table} (
    migration_id text primary key, rows integer not null, head text not null, sshsig text not null,
    sealed_at timestamptz not null default now())`);
  await db.query(
    `insert into ${table} as s (migration_id, rows, head, sshsig) values ($1, $2, $3, $4)
     on conflict (migration_id) do update set rows = excluded.rows, head = excluded.head, sshsig = excluded.sshsig,
       sealed_at = now() where excluded.rows > s.rows`,
    [input.migrationId, rows, last.hash, sshsig],
  );
}

/** The newest seal of a migration's ledger, or undefined (no seals table, or no seal for it). */
export async function readLedgerSeal(input: {
  migrationId: string;
  databaseUrlEnv: string;
  table: string;
}): Promise<LedgerSeal | undefined> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    const table = quoteIdent(sealsTableOf(input.table));
    const exists = await db.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [table]);
    if (!exists.rows[0]?.ok) return undefined;
    const r = await db.query<LedgerSeal>(`select rows, head, sshsig from ${table} where migration_id = $1`, [
      input.migrationId,
    ]);
    return r.rows[0];
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Inserts a batch of entries; (migration, seq) rows already there are left as they are. */
async function insertEntries(
  db: Client,
  input: { migrationId: string; table: string; entries: LedgerEntry[] },
): Promise<number> {
  const r = await db.query(
    `insert into ${quoteIdent(input.table)} (migration_id, seq, at, kind, actor, detail, data, prev_hash, hash)
     select $1, e.seq, e.at, e.kind, e.actor, e.detail, e.data, e."prevHash", e.hash
       from jsonb_to_recordset($2::jsonb)
         as e(seq integer, at timestamptz, kind text, actor text, detail text, data jsonb, "prevHash" text, hash text)
     on conflict (migration_id, seq) do nothing`,
    [input.migrationId, JSON.stringify(input.entries.map(redactEntry))],
  );
  return r.rowCount ?? 0;
}

/** A ledger row with its text and data redacted, its sequence number, time and hashes as they are. */
const redactEntry = (e: LedgerEntry): LedgerEntry => ({
  ...e,
  detail: redact(e.detail),
  ...(e.actor !== undefined ? { actor: redact(e.actor) } : {}),
  ...(e.data !== undefined ? { data: redactDeep(e.data) } : {}),
});

/** The ledger of one migration, in order. */
export async function readLedger(input: {
  migrationId: string;
  databaseUrlEnv: string;
  table: string;
}): Promise<LedgerRow[]> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    const exists = await db.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [
      quoteIdent(input.table),
    ]);
    if (!exists.rows[0]?.ok) return [];
    const r = await db.query<{
      migration_id: string;
      seq: number;
      at: Date;
      kind: string;
      actor: string | null;
      detail: string;
      data: unknown;
      prev_hash: string | null;
      hash: string | null;
    }>(
      `select migration_id, seq, at, kind, actor, detail, data, prev_hash, hash from ${quoteIdent(input.table)}
        where migration_id = $1 order by seq`,
      [input.migrationId],
    );
    return r.rows.map((x) => ({
      migrationId: x.migration_id,
      seq: x.seq,
      at: x.at.toISOString(),
      kind: x.kind,
      ...(x.actor ? { actor: x.actor } : {}),
      detail: x.detail,
      ...(x.data === null ? {} : { data: x.data }),
      ...(x.prev_hash === null ? {} : { prevHash: x.prev_hash }),
      ...(x.hash === null ? {} : { hash: x.hash }),
    }));
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Where a plan's ledger is: the variable naming its database and its table (`ledgerOf(plan)`). */
export interface LedgerSpec {
  databaseUrlEnv: string;
  table: string;
}

/** The table of a ledger's reports, beside the ledger table itself. */
export const reportsTableOf = (ledgerTable: string): string => `${ledgerTable}_reports`;

const ensureReportsTable = (table: string) => `create table if not exists ${quoteIdent(table)} (
  migration_id text not null,
  kind text not null,
  markdown text not null,
  json json not null,
  chart_svg text,
  written_at timestamptz not null default now(),
  writes integer not null default 1,
  primary key (migration_id, kind))`;

/** A report as the ledger database keeps it: the Markdown, the JSON text as in the file, the chart if any. */
export interface StoredReport {
  migrationId: string;
  kind: string;
  markdown: string;
  json: string;
  chartSvg?: string;
  writtenAt: string;
  /** How often it was written: a retried activity writes it again, in place. */
  writes: number;
}

/**
 * How long storing a report may take, connection included. A report is stored beside its files, which are written
 * first: a ledger database that is down or slow delays the step (the rollback's report among them) by this much at
 * most, and never fails it.
 */
export const REPORT_STORE_LIMIT_MS = 3_000;

/** A client whose connection attempt and statements give up in time (`limitMs` in all, see `withinLimit`). */
async function boundedClient(databaseUrlEnv: string, limitMs: number): Promise<Client> {
  const db = new Client({
    connectionString: pgTargetFromEnv(databaseUrlEnv).url,
    connectionTimeoutMillis: limitMs,
    statement_timeout: limitMs,
    query_timeout: limitMs,
  });
  db.on('error', () => undefined);
  await db.connect();
  return db;
}

/** `work` with a client, or a rejection once `limitMs` has passed (a stuck socket included); the client is ended. */
async function withinLimit<T>(
  databaseUrlEnv: string,
  limitMs: number,
  what: string,
  work: (db: Client) => Promise<T>,
): Promise<T> {
  let db: Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  const run = (async () => {
    db = await boundedClient(databaseUrlEnv, limitMs);
    return work(db);
  })();
  try {
    return await Promise.race([
      run,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${limitMs / 1000} s`)), limitMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    run.catch(() => undefined);
    // Not awaited: a connection that hangs must not hold the caller.
    void db?.end().catch(() => undefined);
  }
}

/**
 * Stores a report in `<ledger table>_reports` (created if missing), keyed by (migration, kind): a retried activity
 * writes the same row again (`writes` counts it), never a second one. Bounded by `REPORT_STORE_LIMIT_MS`.
 */
export async function storeReport(input: {
  ledger: LedgerSpec;
  migrationId: string;
  kind: string;
  markdown: string;
  json: string;
  chartSvg?: string;
}): Promise<{ table: string }> {
  const table = reportsTableOf(input.ledger.table);
  await withinLimit(
    input.ledger.databaseUrlEnv,
    REPORT_STORE_LIMIT_MS,
    `storing the ${input.kind} report`,
    async (db) => {
      await db.query(ensureReportsTable(table)).catch((err: { code?: string }) => {
        // Two reports creating the table at the same moment: the other one did.
        if (err.code !== '23505' && err.code !== '42P07') throw err;
      });
      await db.query(
        `insert into ${quoteIdent(table)} as r (migration_id, kind, markdown, json, chart_svg)
       values ($1, $2, $3, $4, $5)
       on conflict (migration_id, kind) do update
         set markdown = excluded.markdown, json = excluded.json, chart_svg = excluded.chart_svg,
             written_at = now(), writes = r.writes + 1`,
        [input.migrationId, input.kind, input.markdown, input.json, input.chartSvg ?? null],
      );
    },
  );
  return { table };
}

/** A stored report, or undefined when there is none (no such row, or no reports table yet). Never creates a table. */
export async function readStoredReport(input: {
  ledger: LedgerSpec;
  migrationId: string;
  kind: string;
  limitMs?: number;
}): Promise<StoredReport | undefined> {
  const table = reportsTableOf(input.ledger.table);
  return withinLimit(
    input.ledger.databaseUrlEnv,
    input.limitMs ?? 10_000,
    `reading the ${input.kind} report`,
    async (db) => {
      const exists = await db.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [quoteIdent(table)]);
      if (!exists.rows[0]?.ok) return undefined;
      const r = await db.query<{
        markdown: string;
        json: string;
        chart_svg: string | null;
        written_at: Date;
        writes: number;
      }>(
        // json::text: the JSON exactly as it was written (the file's text), not re-serialised by the driver.
        `select markdown, json::text as json, chart_svg, written_at, writes from ${quoteIdent(table)}
        where migration_id = $1 and kind = $2`,
        [input.migrationId, input.kind],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      return {
        migrationId: input.migrationId,
        kind: input.kind,
        markdown: row.markdown,
        json: row.json,
        ...(row.chart_svg === null ? {} : { chartSvg: row.chart_svg }),
        writtenAt: row.written_at.toISOString(),
        writes: row.writes,
      };
    },
  );
}

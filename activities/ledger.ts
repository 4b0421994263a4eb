import type { LedgerEntry } from '../workflows/definitions';
import { connect, pgTargetFromEnv, quoteIdent } from './database';

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
  primary key (migration_id, seq));
do $$ begin
  -- A ledger table from before the hash chain gets its columns once (an ALTER on every append would lock it).
  if not exists (select 1 from pg_attribute
                  where attrelid = to_regclass('${quoteIdent(table)}') and attname = 'hash' and not attisdropped) then
    alter table ${quoteIdent(table)} add column if not exists prev_hash text, add column if not exists hash text;
  end if;
end $$`;

/**
 * Appends entries to the measurement ledger. Idempotent: each entry's (migration, sequence number) is its key, so an
 * attempt that runs again after a crash, or a batch written twice, adds no row.
 */
export async function appendLedger(input: {
  migrationId: string;
  databaseUrlEnv: string;
  table: string;
  entries: LedgerEntry[];
}): Promise<{ inserted: number }> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    await db.query(ensureTable(input.table));
    const r = await db.query(
      `insert into ${quoteIdent(input.table)} (migration_id, seq, at, kind, actor, detail, data, prev_hash, hash)
       select $1, e.seq, e.at, e.kind, e.actor, e.detail, e.data, e."prevHash", e.hash
         from jsonb_to_recordset($2::jsonb)
           as e(seq integer, at timestamptz, kind text, actor text, detail text, data jsonb, "prevHash" text, hash text)
       on conflict (migration_id, seq) do nothing`,
      [input.migrationId, JSON.stringify(input.entries)],
    );
    return { inserted: r.rowCount ?? 0 };
  } finally {
    await db.end().catch(() => undefined);
  }
}

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

import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import { refuseActingSql, refusedSql, usesSince } from './database';
import { withHeartbeats } from './heartbeat';
import { connect, inReadOnlyTransaction, oneStatement, pgTargetFromEnv } from './database';
import { ErrorType, permanent } from './errors';

/** Outcome of the parallel run's comparison. */
export interface Comparison {
  total: number;
  matched: number;
  /** matched / total; null when nothing was compared. */
  ratio: number | null;
  mismatches: Record<string, unknown>[];
}

const DEFAULT_SAMPLE_SIZE = 10;
const MAX_SAMPLE_SIZE = 1_000;

/** A count column as a number ≥ 0 (`count(*)` arrives as a string; NULL, as from `sum` over nothing, is 0). */
function count(raw: unknown, column: string): number {
  const n = raw === null || raw === undefined ? 0 : Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw permanent(ErrorType.InvalidInput, `comparisonQuery: column ${column} is ${JSON.stringify(raw)}, not a count`);
  return n;
}

/** A sample row as plain JSON data (workflow history holds it): dates as ISO strings, bytes as hex. */
function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    out[k] = v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : v;
  }
  return out;
}

/**
 * A value of a production row as a sample shows it by default: `sha256:` and the first 12 hex digits of its JSON, so
 * two columns that differ still show different hashes and equal ones the same, and the value itself never reaches
 * history, the failure reason, notifications or the ledger. NULL stays NULL (it tells nothing about a row).
 */
export function hashedValue(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return `sha256:${createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12)}`;
}

/** A sample row with its column names as they are and every value hashed (`hashedValue`). */
const hashedRow = (row: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, hashedValue(v)]));

/**
 * Compares both pipelines' outputs in SQL: `comparisonQuery` returns one row `(total, matched)` for items since `$1`;
 * `mismatchQuery`, if given, returns sample rows that differ (at most `sampleSize`, default 10). Each runs as one
 * statement in one read-only transaction, rolled back; PostgreSQL's refusal of more, or of a write, is permanent.
 * Sample rows show their column names and hashed values, unless the plan asks for the values (`showMismatchValues`).
 */
export async function compareOutputs(input: {
  databaseUrlEnv: string;
  comparisonQuery: string;
  mismatchQuery?: string;
  since: string;
  sampleSize?: number;
  /** The plan's `parallelRun.showMismatchValues`: sample rows with their values as they are, not hashed. */
  showMismatchValues?: boolean;
}): Promise<Comparison> {
  const sampleSize = input.sampleSize ?? DEFAULT_SAMPLE_SIZE;
  if (!Number.isInteger(sampleSize) || sampleSize < 0 || sampleSize > MAX_SAMPLE_SIZE)
    throw permanent(ErrorType.InvalidInput, `sampleSize must be a whole number from 0 to ${MAX_SAMPLE_SIZE}`);
  refuseActingSql('parallelRun.comparisonSql', input.comparisonQuery);
  if (input.mismatchQuery !== undefined) refuseActingSql('parallelRun.mismatchSql', input.mismatchQuery);
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  try {
    // One snapshot for both queries, so the sample describes the same data as the counts.
    return await inReadOnlyTransaction(db, () => compareIn(db, input, sampleSize), 'repeatable read');
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Both queries of `compareOutputs` on `db`, in the transaction it opened. */
async function compareIn(
  db: Client,
  input: { comparisonQuery: string; mismatchQuery?: string; since: string; showMismatchValues?: boolean },
  sampleSize: number,
): Promise<Comparison> {
  const params = (q: string) => (usesSince(q) ? [input.since] : []);
  const r = await withHeartbeats(
    'comparing outputs',
    db.query<Record<string, unknown>>(
      oneStatement({ text: input.comparisonQuery, values: params(input.comparisonQuery) }),
    ),
  ).catch((err: unknown) => {
    throw refusedSql('comparisonQuery', err);
  });
  const columns = r.fields.map((f) => f.name);
  for (const c of ['total', 'matched'])
    if (!columns.includes(c))
      throw permanent(
        ErrorType.InvalidInput,
        `comparisonQuery must return columns total and matched; it returned ${columns.join(', ') || 'none'}`,
      );
  if (r.rows.length > 1)
    throw permanent(ErrorType.InvalidInput, `comparisonQuery must return one row; it returned ${r.rows.length}`);
  const total = count(r.rows[0]?.total, 'total');
  const matched = count(r.rows[0]?.matched, 'matched');
  // More matches than items means the query counts something else: a ratio above 1 must never pass the gate.
  if (matched > total)
    throw permanent(ErrorType.InvalidInput, `comparisonQuery: matched (${matched}) exceeds total (${total})`);
  let mismatches: Record<string, unknown>[] = [];
  if (input.mismatchQuery && sampleSize > 0) {
    // A cursor runs the plan's query as written (its own ORDER BY, a trailing `;` or comment) and reads only the
    // sample, however many rows differ; the DECLARE is one statement, so nothing can follow the plan's query.
    await db
      .query(
        oneStatement({
          text: `declare mismatch_sample no scroll cursor for ${input.mismatchQuery}`,
          values: params(input.mismatchQuery),
        }),
      )
      .catch((err: unknown) => {
        throw refusedSql('mismatchQuery', err);
      });
    // The cursor's query runs here: a write in it (a function that inserts) is refused now.
    const m = await withHeartbeats(
      'sampling mismatches',
      db.query<Record<string, unknown>>(`fetch forward ${sampleSize} from mismatch_sample`),
    ).catch((err: unknown) => {
      throw refusedSql('mismatchQuery', err);
    });
    mismatches = m.rows.map((row) => (input.showMismatchValues ? plainRow(row) : hashedRow(plainRow(row))));
  }
  return { total, matched, ratio: total > 0 ? matched / total : null, mismatches };
}

import { connect, pgTargetFromEnv } from './database';

/** Outcome of the parallel run's comparison. */
export interface Comparison {
  total: number;
  matched: number;
  /** matched / total; null when nothing was compared. */
  ratio: number | null;
  mismatches: Record<string, unknown>[];
}

/**
 * Compares both pipelines' outputs in SQL: `comparisonQuery` returns one row `(total, matched)` for items since `$1`;
 * `mismatchQuery`, if given, returns sample rows that differ (at most `sampleSize`).
 */
export async function compareOutputs(input: {
  databaseUrlEnv: string;
  comparisonQuery: string;
  mismatchQuery?: string;
  since: string;
  sampleSize?: number;
}): Promise<Comparison> {
  const db = await connect(pgTargetFromEnv(input.databaseUrlEnv));
  const params = (q: string) => (q.includes('$1') ? [input.since] : []);
  try {
    const r = await db.query<{ total: string | null; matched: string | null }>(
      input.comparisonQuery,
      params(input.comparisonQuery),
    );
    const total = Number(r.rows[0]?.total ?? 0);
    const matched = Number(r.rows[0]?.matched ?? 0);
    let mismatches: Record<string, unknown>[] = [];
    if (input.mismatchQuery) {
      const m = await db.query<Record<string, unknown>>(
        `select * from (${input.mismatchQuery}) m limit ${Math.max(1, input.sampleSize ?? 10)}`,
        params(input.mismatchQuery),
      );
      mismatches = m.rows;
    }
    return { total, matched, ratio: total > 0 ? matched / total : null, mismatches };
  } finally {
    await db.end();
  }
}

/**
 * The opt-in run (`MO_FULL=1 npm test`; `MO_FAULTS_FULL=1` as before): sweeps whose every row CI does not need, the
 * full crash matrix and the rollback from every phase. CI runs a row of each shape; the full run runs them all.
 */
export const FULL = process.env.MO_FULL === '1' || process.env.MO_FAULTS_FULL === '1';

/** The rows of a sweep that run: all of them in the full run, else those `inCi` marks. */
export function sweep<T>(rows: T[], inCi: (row: T) => boolean): T[] {
  return FULL ? rows : rows.filter(inCi);
}

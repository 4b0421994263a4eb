import { readLedger, readLedgerSeal } from '../activities/ledger';
import type { Compensation, LedgerEntry } from '../model/status';
import { PHASES, type Phase } from '../model/constants';
import { sealProblem, verifyLedger, type LedgerSeal, type StartedData } from '../model/ledger-chain';
import { undoRecordProblem } from '../model/undo';
import { planProblems } from '../model/plan-check';
import { planDigest as digestOf } from '../model/signatures';
import type { Plan } from '../model/plan';
import type { RollbackInput } from '../model/status';
import { CliError, ExitCode } from './cli/errors';

/** Where a migration's ledger is: the database variable and the table (from a plan file, or given by hand). */
export interface LedgerLocation {
  databaseUrlEnv: string;
  table: string;
}

/** What a hand-started rollback needs, as the ledger recorded it: the plan run, the undo records, the last phase. */
export type LedgerRollback = Pick<RollbackInput, 'plan' | 'compensations' | 'fromPhase'>;

/**
 * The rollback of a migration whose workflow history is gone (past retention, `temporal workflow delete`), from its
 * ledger alone. The undo records drive production changes, so they are followed only if the ledger holds up:
 * its hash chain verifies with every row chained, the plan it recorded validates, and, given the plan file
 * (`planDigest`), the recorded plan is that file's; every undo record names only what that plan names; and where the
 * plan names the worker's `ledger.sealKey`, the rows are exactly those the worker sealed (none cut from the end, none
 * added or rewritten). The chain alone is unkeyed: the seal, and the plan file from the team's repository, are the
 * anchors outside the table.
 */
export async function rollbackFromLedger(id: string, at: LedgerLocation, planDigest?: string): Promise<LedgerRollback> {
  if (!process.env[at.databaseUrlEnv])
    throw new CliError(
      `set ${at.databaseUrlEnv} to the ledger database's URL (the plan names it; the CLI never stores it)`,
      ExitCode.error,
    );
  const rows = await readLedger({ migrationId: id, ...at });
  if (!rows.length)
    throw new CliError(`no migration ${id} in Temporal, nor in the ledger ${at.table}`, ExitCode.notFound);
  const seal = await readLedgerSeal({ migrationId: id, ...at });
  const recorded = fromRows(id, rows, at.table, planDigest, seal);
  if (!recorded.plan.ledger?.sealKey)
    process.stderr.write(
      `note: the plan names no ledger.sealKey, so rows cut from the end of ${at.table} could not be detected\n`,
    );
  return recorded;
}

/** The rollback input from a migration's ledger rows (verified, in order; sealed where the plan names a seal key). */
export function fromRows(
  id: string,
  rows: LedgerEntry[],
  table: string,
  planDigest?: string,
  seal?: LedgerSeal,
): LedgerRollback {
  const refuse = (why: string) =>
    new CliError(`the ledger ${table} of ${id} ${why}; its undo records are not followed`, ExitCode.error);
  const plan = recordedPlan(id, rows, table, planDigest, refuse);
  const sealKey = plan.ledger?.sealKey;
  const unsealed = sealKey === undefined ? undefined : sealProblem(id, table, rows, seal, sealKey);
  if (unsealed) throw refuse(unsealed);
  const compensations = rows.flatMap((r) => {
    if (r.kind !== 'compensation' || !r.data || typeof r.data !== 'object' || !('kind' in r.data)) return [];
    const c = r.data as Compensation;
    const problem = undoRecordProblem(plan, c);
    if (problem)
      throw refuse(`has an undo record at row ${r.seq} (${String(c.kind)}) that is not the plan's: ${problem}`);
    return [c];
  });
  const phase = rows.filter((r) => r.kind === 'phase').at(-1)?.detail;
  const fromPhase: Phase | 'unknown' = PHASES.includes(phase as Phase) ? (phase as Phase) : 'unknown';
  return { plan, compensations, fromPhase };
}

/** The plan a verified ledger recorded at its start (the plan file's, when its digest is given). */
function recordedPlan(
  id: string,
  rows: LedgerEntry[],
  table: string,
  planDigest: string | undefined,
  refuse: (why: string) => CliError,
): Plan {
  const check = verifyLedger(id, rows);
  if (!check.ok) throw refuse(`does not verify at row ${check.problem!.seq}: ${check.problem!.reason}`);
  const started = rows.find((r) => r.kind === 'started')?.data as (StartedData & { plan?: Plan }) | undefined;
  if (!started?.plan)
    throw new CliError(
      `the ledger ${table} of ${id} holds no plan (the migration was started before undo records were written there); restore by hand with the operator runbook`,
      ExitCode.error,
    );
  // Written by code that chains every row: a row without its hash was stripped of it.
  const unchained = rows.find((r) => r.hash === undefined);
  if (unchained) throw refuse(`has row ${unchained.seq} without its hash`);
  const problems = planProblems(started.plan);
  if (problems.length) throw refuse(`records a plan that does not validate: ${problems.join('; ')}`);
  if (planDigest !== undefined && digestOf(started.plan) !== planDigest)
    throw refuse(
      `records another plan than the plan file (sha256 ${digestOf(started.plan)} recorded, ${planDigest} given): give the plan file the migration ran with`,
    );
  return started.plan;
}

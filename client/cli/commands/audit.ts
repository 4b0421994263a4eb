import type { Command } from '@commander-js/extra-typings';
import { readLedger, type LedgerRow } from '../../../activities/ledger';
import { applyStackEnv } from '../../../lib/config';
import {
  verifyLedger,
  type LedgerVerification,
  type SignedRowData,
  type StartedData,
} from '../../../model/ledger-chain';
import { ledgerOf } from '../../../model/plan';
import { canonicalJson, planDigest } from '../../../model/signatures';
import { loadPlan } from '../../plan';
import { CliError, ExitCode } from '../errors';
import { formatNumber } from '../../../model/format';
import { EXAMPLE_ID, examples, outputOptions } from '../options';
import { print } from '../render';

/**
 * `migrate audit verify <id>`: re-checks a migration's ledger from PostgreSQL alone (no Temporal server): the hash
 * chain of its rows and every signature marked verified, against the keys the plan recorded at the start, or against
 * the plan file given with `--plan`.
 */
export function addAuditCommand(program: Command): void {
  const audit = program.command('audit').description('check the audit trail of a migration');
  outputOptions(
    audit
      .command('verify')
      .description('re-check the ledger hash chain and every signed approval, from PostgreSQL alone')
      .argument('<id>', 'migration ID')
      .option('--plan <file>', 'the plan file: where the ledger is, and the keys and digest the ledger must name')
      .option('--database-url-env <name>', 'variable holding the ledger database URL (default: from --plan)')
      .option('--table <name>', 'ledger table (default: from --plan, else migration_ledger)'),
  )
    .addHelpText(
      'after',
      '\nWith -o jsonl: one line per ledger row, {seq, at, kind, actor, hash, ok, signatureVerified?, problem?}; ok is\n' +
        'null for the rows after the first that does not verify (they are not checked).',
    )
    .addHelpText(
      'after',
      examples([
        `migrate audit verify ${EXAMPLE_ID} --plan plans/production.example.yaml`,
        `migrate audit verify ${EXAMPLE_ID} --database-url-env TARGET_DATABASE_URL`,
        `migrate audit verify ${EXAMPLE_ID} --plan plans/production.example.yaml -o jsonl | jq -c 'select(.ok != true)'`,
      ]),
    )
    .action(async (id, o) => {
      applyStackEnv();
      const plan = o.plan ? loadPlan(o.plan) : undefined;
      const ledger = plan ? ledgerOf(plan) : undefined;
      const databaseUrlEnv = o.databaseUrlEnv ?? ledger?.databaseUrlEnv;
      const table = o.table ?? ledger?.table ?? 'migration_ledger';
      if (!databaseUrlEnv)
        throw new CliError('name the ledger database: --plan <file> or --database-url-env <NAME>', ExitCode.error);
      if (!process.env[databaseUrlEnv])
        throw new CliError(`set ${databaseUrlEnv} to the ledger database's URL`, ExitCode.error);
      const rows = await readLedger({ migrationId: id, databaseUrlEnv, table });
      if (!rows.length) throw new CliError(`the ledger has no rows for ${id}`, ExitCode.notFound);
      const result = verifyLedger(id, rows);
      const started = rows.find((r) => r.kind === 'started')?.data as StartedData | undefined;
      const planProblem = plan && started && planMismatch(plan, started);
      const ok = result.ok && !planProblem;
      const verdict = { ...result, ok, ...(planProblem ? { planProblem } : {}) };
      print(o.output, o.output === 'jsonl' ? rowVerdicts(rows, result, planProblem) : verdict, () =>
        ok
          ? `ledger of ${id}: ${formatNumber(result.rows)} rows chained, ${formatNumber(result.signatures)} signature(s) verified${plan ? `, plan sha256 ${started?.planDigest ?? '?'} matches ${o.plan}` : ''}`
          : `ledger of ${id} does NOT verify: ${result.problem ? `row ${result.problem.seq}: ${result.problem.reason}` : planProblem}`,
      );
      if (!ok) throw new CliError(`audit of ${id} failed`, ExitCode.rejected);
    });
}

/**
 * The verification row by row (`-o jsonl`): rows before the first problem verified (`ok: true`, and
 * `signatureVerified` where a signature was re-checked), the first problem's row `ok: false` with the reason, the rows
 * after it unchecked (`ok: null`). A plan file that is not the recorded plan is the `started` row's problem.
 */
function rowVerdicts(rows: LedgerRow[], result: LedgerVerification, planProblem: string | undefined) {
  const bad = result.problem?.seq ?? Infinity;
  return rows.map((r) => {
    const problem = r.seq === bad ? result.problem?.reason : r.kind === 'started' ? planProblem : undefined;
    const signed = (r.data as SignedRowData | undefined)?.verified === true;
    return {
      seq: r.seq,
      at: r.at,
      kind: r.kind,
      actor: r.actor ?? null,
      hash: r.hash ?? null,
      ok: r.seq > bad ? null : !problem,
      ...(signed && r.seq < bad ? { signatureVerified: true } : {}),
      ...(problem ? { problem } : {}),
    };
  });
}

/** Why the plan recorded in the ledger is not the plan file, or nothing. */
function planMismatch(plan: ReturnType<typeof loadPlan>, started: StartedData): string | undefined {
  if (started.planDigest !== planDigest(plan))
    return `the ledger names plan sha256 ${started.planDigest}, the plan file is ${planDigest(plan)}`;
  if (canonicalJson(started.keys ?? {}) !== canonicalJson(plan.approvals.keys ?? {}))
    return "the keys recorded at the start are not the plan file's";
  return undefined;
}

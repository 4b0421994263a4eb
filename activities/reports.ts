import path from 'node:path';
import type { AuditEntry, GateEvaluation, LedgerEntry, MigrationStatus } from '../model/status';
import type { Phase } from '../model/constants';
import { formatBytes, formatExact, formatMs, formatQuantity, formatReading } from '../model/format';
import { ledgerOf, type Plan } from '../model/plan';
import type { RollbackResult } from '../model/status';
import { planDigest } from '../model/signatures';
import { renderMetricsChart } from './chart';
import { evaluate, measure } from './checks';
import { type CheckResult } from '../model/status';
import { readLedger, type LedgerRow } from './ledger';
import { reportFolder, writeReportFiles, type ReportFiles } from './report-files';

/** One row of the completion report's success-metrics table. */
export interface SuccessRow {
  metric: string;
  target: string;
  actual: string;
  value: number | null;
  passed: boolean | null;
}

/** A reading for the report's text, precise enough to agree with its verdict against the threshold (JSON: raw). */
const fmt = (v: number | null | undefined, threshold: number, unit?: string) =>
  v === null || v === undefined ? 'no data' : formatReading(v, threshold, unit);

/** The completion report's chart, next to it. */
const CHART_FILE = 'completion-metrics.svg';

/**
 * The whole audit log: the ledger's rows, and the status's entries not written to it yet (the status keeps only the
 * latest 500). Without ledger rows, the status's entries.
 */
export function auditLog(ledger: LedgerRow[], status: MigrationStatus): AuditEntry[] {
  const bySeq = new Map<number, AuditEntry>(ledger.map((r) => [r.seq, r]));
  for (const a of status.audit) if (a.seq !== undefined && !bySeq.has(a.seq)) bySeq.set(a.seq, a);
  return ledger.length ? [...bySeq.entries()].sort(([a], [b]) => a - b).map(([, e]) => e) : status.audit;
}

/** Completion report: success metrics measured now against their targets, timeline, approvals, audit log. */
export async function writeCompletionReport(input: {
  migrationId: string;
  plan: Plan;
  status: MigrationStatus;
  codeLinesRemoved: number;
  /** Success metrics measured elsewhere (a command on the commands agent, `hostChecks`), by name: not measured here. */
  measured?: CheckResult[];
}): Promise<ReportFiles & { rows: SuccessRow[] }> {
  const { plan, status } = input;
  const ledgerSpec = ledgerOf(plan);
  const ledger = await readLedger({ migrationId: input.migrationId, ...ledgerSpec }).catch(() => []);
  const evaluations = gateEvaluations(ledger, status);
  const rows = await successRows(plan, input.codeLinesRemoved, input.measured ?? []);
  const md = completionMarkdown({
    migrationId: input.migrationId,
    plan,
    status,
    rows,
    evaluations,
    ledger,
    ledgerTable: ledgerSpec.table,
  });
  const chartFile = path.join(reportFolder(plan.target.reportDir, input.migrationId), CHART_FILE);
  const files = await writeReportFiles(
    plan.target.reportDir,
    input.migrationId,
    'completion',
    md,
    {
      migrationId: input.migrationId,
      plan: plan.name,
      rows,
      ...(evaluations.length ? { chart: chartFile } : {}),
      status,
    },
    {
      // Overwritten on a retry like the report itself; stored with it.
      ...(evaluations.length
        ? { chart: { file: CHART_FILE, svg: renderMetricsChart(evaluations, `Gate metrics: ${plan.name}`) } }
        : {}),
      ledger: ledgerSpec,
    },
  );
  return { ...files, rows };
}

/**
 * The gate evaluations come from the measurement ledger (all of them, kept in PostgreSQL); the status carries only
 * the latest 200. Without a ledger (none written yet, database unreachable) the status's list is used.
 */
function gateEvaluations(ledger: LedgerRow[], status: MigrationStatus): GateEvaluation[] {
  const fromLedger = ledger.filter((r) => r.kind === 'gate-evaluation' && r.data).map((r) => r.data as GateEvaluation);
  return fromLedger.length ? fromLedger : status.evaluations;
}

/** The success-metrics table: the legacy lines archived, then each of the plan's success metrics measured now. */
async function successRows(plan: Plan, codeLinesRemoved: number, measured: CheckResult[]): Promise<SuccessRow[]> {
  const rows: SuccessRow[] = [
    {
      metric: 'Code reduction (legacy lines archived)',
      target: '> 0 lines',
      actual: formatQuantity(codeLinesRemoved, 'lines'),
      value: codeLinesRemoved,
      passed: codeLinesRemoved > 0,
    },
  ];
  for (const m of plan.successMetrics) {
    const there = measured.find((r) => r.name === m.name);
    const { value, detail } = there
      ? { value: there.value, detail: there.error ? `error: ${there.error}` : there.detail }
      : await measure(m.measure, {
          databaseUrlEnv: plan.target.databaseUrlEnv,
          repository: plan.target.repository,
        }).catch((err: Error) => ({ value: null, detail: `error: ${err.message}` }));
    rows.push({
      metric: m.description ?? m.name,
      target: `${m.op} ${formatExact(m.threshold, m.unit)}`,
      actual: value === null ? detail : fmt(value, m.threshold, m.unit),
      value,
      passed: value === null ? null : evaluate(value, m.op, m.threshold),
    });
  }
  return rows;
}

/** The completion report's Markdown, completed now. */
function completionMarkdown(facts: {
  migrationId: string;
  plan: Plan;
  status: MigrationStatus;
  rows: SuccessRow[];
  evaluations: GateEvaluation[];
  ledger: LedgerRow[];
  ledgerTable: string;
}): string {
  const { migrationId, plan, status, rows, evaluations, ledger } = facts;
  return [
    `# Migration complete: ${plan.name}`,
    '',
    `Migration \`${migrationId}\`, started ${status.startedAt}, completed ${new Date().toISOString()}.`,
    '',
    planLine(status.planDigest ?? planDigest(plan), status.approvalsAuthenticated === true),
    '',
    '## Success metrics',
    '',
    '| Metric | Target | Actual | Result |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.metric} | ${r.target} | ${r.actual} | ${r.passed === null ? 'no data' : r.passed ? 'pass' : 'FAIL'} |`,
    ),
    '',
    ...(evaluations.length
      ? [
          '## Gate metrics across the traffic steps and the soak',
          '',
          `![Gate metrics across the traffic steps and the soak](${CHART_FILE})`,
          '',
        ]
      : []),
    '## Timeline',
    '',
    ...status.phaseTimeline.map((p) => `- ${p.at} ${p.phase}`),
    '',
    '## Approvals',
    '',
    ...approvalLines(status.gates),
    '',
    '## Gate evaluations',
    '',
    ledger.length
      ? `From the measurement ledger (${ledger.length} rows in \`${facts.ledgerTable}\`; \`migrate history ${migrationId}\`).`
      : 'From the workflow status (the ledger had no rows).',
    '',
    ...evaluations.map(evaluationLine),
    '',
    '## Backups',
    '',
    ...status.backups.map(
      (b) => `- ${b.step}: ${b.file} (${formatBytes(b.bytes)}, sha256 ${b.sha256}, verified ${b.verifiedAt})`,
    ),
    '',
    '## Audit log',
    '',
    ...auditLog(ledger, status).map((a) => `- ${a.at} [${a.kind}] ${a.detail}`),
    '',
  ].join('\n');
}

/** One line a signature, gate by gate. */
/** Who signed what: one line per signature, with whether the workflow verified it against the plan's key. */
const approvalLines = (gates: MigrationStatus['gates']): string[] =>
  Object.values(gates).flatMap((g) =>
    g
      ? g.signatures.map(
          (s) =>
            `- ${g.name}: ${s.role} ${s.approver} at ${s.at}${s.comment ? ` (${s.comment})` : ''} — ${verifiedWord(s.verified)}`,
        )
      : [],
  );

const verifiedWord = (v: boolean | null | undefined) =>
  v === true ? 'signature verified' : v === false ? 'NOT verified' : 'not authenticated (no keys in the plan)';

/** The plan a report is about, and whether its approvals were authenticated. */
export function planLine(digest: string, authenticated: boolean): string {
  return `Plan sha256 \`${digest}\`; approvals ${authenticated ? 'signed and verified against the keys the plan lists' : '**not authenticated** (the plan lists no approver keys)'}.`;
}

/** One gate evaluation: each reading, FAIL after a failed one. */
const evaluationLine = (e: GateEvaluation): string =>
  `- ${e.at} ${e.step}: ${e.readings.map((r) => `${r.name}=${fmt(r.value, r.threshold, r.unit)}${r.passed === false ? ' FAIL' : ''}`).join(', ')}`;

/** A rollback's time in seconds, to the hundredth (it is measured against a budget in seconds): "0.42 s", "1,021.50 s". */
const seconds = (ms: number, decimals = 2) => formatQuantity(ms / 1000, 's', decimals);

/** The rollback's time against `rollback.budget` (rollbacks recorded before the budget was measured: nothing). */
function budgetLines(result: Omit<RollbackResult, 'reportFile'>): string[] {
  if (result.budgetMs === undefined) return [];
  const budget = seconds(result.budgetMs, 0);
  return result.overBudget
    ? [
        `**Over its budget**: the rollback took ${seconds(result.durationMs)}, its budget (\`rollback.budget\`) is ${budget}, exceeded by ${seconds(result.durationMs - result.budgetMs)}. The channels were told when the budget passed.`,
        '',
      ]
    : [`Within its budget of ${budget} (\`rollback.budget\`).`, ''];
}

/** What runs after a rollback, and what a person does about the steps it left (rollbacks that record them). */
function stillToDo(result: Omit<RollbackResult, 'reportFile'>): string[] {
  const runs = result.runningNow?.length ? ['## What runs now', '', ...result.runningNow.map((l) => `- ${l}`), ''] : [];
  const todo = result.toDo?.length
    ? ['## To finish the rollback', '', ...result.toDo.map((l) => `- \`${l.replace(/`/g, "'")}\``), '']
    : [];
  return [...runs, ...todo];
}

/** Rollback report: why, from where, what was undone and how long each undo took, and the verification. */
export async function writeRollbackReport(input: {
  migrationId: string;
  plan: Plan;
  reason: string;
  requestedBy: string;
  fromPhase: Phase | 'unknown';
  result: Omit<RollbackResult, 'reportFile'>;
  verification: CheckResult[];
  /** Entries the migration had not written to the ledger when it rolled back (written beside the rollback). */
  recent?: LedgerEntry[];
}): Promise<ReportFiles> {
  const { result } = input;
  // What led here, from the measurement ledger (the migration's own record, kept after Temporal's retention), with
  // the entries the migration had not written yet (by sequence number: each once).
  const ledgerSpec = ledgerOf(input.plan);
  const rows = await readLedger({ migrationId: input.migrationId, ...ledgerSpec }).catch(() => []);
  const bySeq = new Map<number, LedgerEntry>(rows.map((r) => [r.seq, r]));
  for (const e of input.recent ?? []) if (!bySeq.has(e.seq)) bySeq.set(e.seq, e);
  const ledger = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const md = [
    `# Rollback ${result.verified ? 'verified' : 'NOT VERIFIED'}: ${input.plan.name}`,
    '',
    `Migration \`${input.migrationId}\` rolled back from phase **${input.fromPhase}**, requested by ${input.requestedBy}.`,
    '',
    `Reason: ${input.reason}`,
    '',
    planLine(planDigest(input.plan), Object.keys(input.plan.approvals.keys ?? {}).length > 0),
    '',
    `Started ${result.startedAt}, finished ${result.finishedAt}: **${seconds(result.durationMs)}**.`,
    '',
    ...budgetLines(result),
    '## Undone (newest first)',
    '',
    '| Step | Result | Attempts | Time |',
    '|---|---|---|---|',
    ...result.undone.map(
      (u) =>
        `| ${u.kind} | ${u.ok ? 'undone' : u.kept ? u.kept.toUpperCase() : `FAILED: ${u.error}`} | ${u.attempts} | ${formatMs(u.durationMs)} |`,
    ),
    '',
    ...stillToDo(result),
    '## Verification of the legacy path',
    '',
    '| Check | Value | Threshold | Result |',
    '|---|---|---|---|',
    ...input.verification.map(
      (r) =>
        `| ${r.name} | ${r.value === null ? (r.error ?? 'no data') : fmt(r.value, r.threshold, r.unit)} | ${r.op} ${formatExact(r.threshold, r.unit)} | ${r.passed ? 'pass' : 'FAIL'} |`,
    ),
    '',
    ...(ledger.length
      ? [
          `## What led here (last ${Math.min(ledger.length, 15)} of ${ledger.length} ledger rows; \`migrate history ${input.migrationId}\`)`,
          '',
          ...ledger.slice(-15).map((r) => `- ${r.at} [${r.kind}]${r.actor ? ` ${r.actor}:` : ''} ${r.detail}`),
          '',
        ]
      : []),
    'The database was not restored: restoring from a backup is a separate, explicitly approved step (see the operator runbook).',
    '',
  ].join('\n');
  return writeReportFiles(
    input.plan.target.reportDir,
    input.migrationId,
    'rollback',
    md,
    { ...input, plan: input.plan.name },
    // Bounded: a ledger database that is down delays the rollback's end by seconds at most (`writeReportFiles`).
    { ledger: ledgerSpec },
  );
}

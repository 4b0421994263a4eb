import type { LedgerRow } from '../../activities/ledger';
import type { GateState, MetricReading, MigrationStatus, RequestAnswer } from '../../model/status';
import { formatNumber, formatQuantity } from '../../model/format';
import { EXIT_CODE_MEANINGS } from './errors';
import type { OutputFormat } from './options';

/**
 * Writes `data` in the chosen form, with one trailing newline: indented JSON; JSON Lines (each element of a list on a
 * line of its own, anything else on one line); or the text form, built only when asked for. JSON keeps every number
 * as the workflow or the database gave it; only text is formatted for people.
 */
export function print(format: OutputFormat, data: unknown, text: () => string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'jsonl')
    process.stdout.write((Array.isArray(data) ? data : [data]).map((d) => `${JSON.stringify(d)}\n`).join(''));
  else process.stdout.write(`${text()}\n`);
}

/** A table: a header row, then the rows, each column padded to its widest cell (the last one is not padded). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** How long ago, in the largest unit that fits, kubectl style: "45s", "3m", "2h", "5d". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * Numbers in a sentence made readable: decimals with more than two places rounded to what their size needs and big
 * integers grouped (`ratio 0.98765432` → `ratio 0.99`, `12345 rows` → `12,345 rows`). Numbers that are part of
 * something else (hashes, times, versions, paths, names) are left alone.
 */
export function readableNumbers(text: string): string {
  return text.replace(/(?<![\w.:/-])-?\d+(?:\.\d+)?(?![\w.:/-]|\.\d)/g, (n) => {
    const [int = '', frac = ''] = n.replace('-', '').split('.');
    return frac.length > 2 || int.length > 4 ? formatNumber(Number(n)) : n;
  });
}

/** A metric's value (or `no data`) with its unit. */
const readingValue = (r: Pick<MetricReading, 'value' | 'unit'>): string =>
  r.value === null ? 'no data' : formatQuantity(r.value, r.unit);

/** The roles a gate still waits for, with how many more approvers each needs where it needs more than one. */
export function missingRoles(g: GateState): string[] {
  return g.requiredRoles.flatMap((r) => {
    const left = (g.required?.[r] ?? 1) - g.signatures.filter((x) => x.role === r).length;
    return left <= 0 ? [] : [left > 1 ? `${r} ×${left}` : r];
  });
}

/** `[#####.....]  50%  2h 10m left (until …)` for the current bake, window or soak interval. */
export function progressBar(s: MigrationStatus, nowMs: number, width = 30): string {
  const end = Date.parse(s.waitingUntil ?? '');
  const start = Date.parse(s.waitingSince ?? s.phaseTimeline.at(-1)?.at ?? '');
  if (!Number.isFinite(end)) return '';
  const total = Math.max(end - (Number.isFinite(start) ? start : nowMs), 1);
  const done = Math.min(Math.max((nowMs - (end - total)) / total, 0), 1);
  const filled = Math.round(done * width);
  const left = Math.max(end - nowMs, 0) / 1000;
  const human =
    left >= 86_400
      ? `${Math.floor(left / 86_400)}d ${Math.floor((left % 86_400) / 3600)}h`
      : left >= 3600
        ? `${Math.floor(left / 3600)}h ${Math.floor((left % 3600) / 60)}m`
        : left >= 60
          ? `${Math.floor(left / 60)}m ${Math.floor(left % 60)}s`
          : `${Math.ceil(left)}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(done * 100)).padStart(3)}%  ${human} left (until ${s.waitingUntil})`;
}

/** Whether the migration's approvals are authenticated, said plainly. */
export function authenticationLine(s: Pick<MigrationStatus, 'approvalsAuthenticated'>): string {
  return s.approvalsAuthenticated
    ? 'signed: every approval and rejection is verified against the key the plan lists'
    : 'NOT authenticated: the plan lists no approver keys, so anyone who can reach the namespace can sign as any role';
}

/** The answer to an accepted request: what it did and where the migration is now. */
export function renderAnswer(what: string, a: RequestAnswer): string {
  const lines = [`${what}: ${readableNumbers(a.detail)}`, `  phase ${a.phase}${a.paused ? ' (paused)' : ''}`];
  if (a.gate) {
    const missing = missingRoles(a.gate);
    lines.push(
      `  gate ${a.gate.name}: ${a.gate.open ? (missing.length ? `still needs ${missing.join(', ')}` : 'signed') : (a.gate.outcome ?? 'closed')}`,
    );
  }
  if (a.verified === null) lines.push('  not authenticated: the plan lists no approver keys');
  return lines.join('\n');
}

/** A readable status: phase timeline, gates, last readings, undo records. */
export function renderStatus(s: MigrationStatus): string {
  const out = [
    `migration ${s.migrationId} (${s.name})`,
    `  phase     ${s.phase}${s.paused ? ' (PAUSED)' : ''}`,
    `  traffic   unified ${s.trafficPercent}% / legacy ${100 - s.trafficPercent}%`,
  ];
  if (s.planDigest) out.push(`  plan      sha256 ${s.planDigest}`);
  out.push(`  approvals ${authenticationLine(s)}`);
  if (s.waitingUntil) out.push(`  waiting   ${s.waitingFor ?? 'until'} ${progressBar(s, Date.now())}`);
  if (s.failure) out.push(`  failure   ${readableNumbers(s.failure)}`);
  if (s.attention) out.push(`  ATTENTION ${readableNumbers(s.attention)}`);
  out.push('  timeline');
  for (const p of s.phaseTimeline) out.push(`    ${p.at}  ${p.phase}`);
  for (const g of Object.values(s.gates)) {
    if (!g) continue;
    const mark = (v: boolean | null | undefined) => (v === true ? ' (verified)' : v === false ? ' (NOT verified)' : '');
    const signed = g.signatures.map((x) => `${x.role}=${x.approver}${mark(x.verified)}`).join(', ') || 'none';
    out.push(
      `  gate ${g.name}: ${g.open ? 'OPEN' : (g.outcome ?? 'closed')}; needs ${g.requiredRoles.map((r) => (g.required?.[r] ? `${r} ×${g.required[r]}` : r)).join(', ')}; signed ${signed}`,
    );
  }
  const readings = Object.values(s.lastReadings);
  if (readings.length) {
    out.push('  last readings');
    for (const r of readings)
      out.push(
        `    ${r.name.padEnd(18)} ${readingValue(r).padEnd(18)} ${r.op} ${formatQuantity(r.threshold, r.unit)}  ${r.passed === null ? 'inconclusive' : r.passed ? 'pass' : 'FAIL'}`,
      );
  }
  if (s.compensations.length) out.push(`  undo records  ${s.compensations.map((c) => c.kind).join(' → ')}`);
  for (const [k, f] of Object.entries(s.reports)) out.push(`  ${k} report  ${f}`);
  return out.join('\n');
}

/** One migration as `migrate list` shows it (read from Temporal visibility). */
export interface ListRow {
  id: string;
  name: string;
  phase: string;
  traffic: number;
  status: string;
  started: string;
}

/** The `migrate list` table: ID, phase, unified traffic, workflow status and age (since the start). */
export function renderList(rows: ListRow[], nowMs: number): string {
  if (!rows.length) return 'no migrations';
  return table(
    ['ID', 'PHASE', 'TRAFFIC', 'STATUS', 'AGE'],
    rows.map((r) => [r.id, r.phase, `${r.traffic}%`, r.status, formatAge(nowMs - Date.parse(r.started))]),
  );
}

/** The caption of `migrate history` (on stderr, so that stdout is the table alone). */
export function historyCaption(id: string, tableName: string, shown: number, total: number): string {
  const rows =
    shown === total ? `${formatNumber(total)} rows` : `latest ${formatNumber(shown)} of ${formatNumber(total)} rows`;
  return `ledger of ${id} (${rows}, table ${tableName})`;
}

/** The `migrate history` table: sequence number, time, age, kind, actor and detail of each ledger row. */
export function renderHistory(rows: LedgerRow[], nowMs: number): string {
  return table(
    ['SEQ', 'TIME', 'AGE', 'KIND', 'ACTOR', 'DETAIL'],
    rows.map((r) => [
      String(r.seq),
      r.at,
      formatAge(nowMs - Date.parse(r.at)),
      r.kind,
      r.actor ?? '',
      historyDetail(r),
    ]),
  );
}

/** A ledger row's detail for people: an evaluation's readings from its data, with units; other numbers rounded. */
function historyDetail(r: LedgerRow): string {
  const evaluation = r.data as { step?: unknown; readings?: unknown } | undefined;
  if (r.kind === 'gate-evaluation' && typeof evaluation?.step === 'string' && Array.isArray(evaluation.readings)) {
    const readings = evaluation.readings as MetricReading[];
    const mark = (x: MetricReading) =>
      `${x.passed === false ? ' FAIL' : x.passed === null ? ' (inconclusive)' : ''}${x.dryRun ? ' [dry run]' : ''}`;
    return `${evaluation.step}: ${readings.map((x) => `${x.name}=${readingValue(x)}${mark(x)}`).join(', ')}`;
  }
  // One line per row: a multi-line detail (a rollback's report path) is joined.
  return readableNumbers(r.detail.replace(/\s*\n\s*/g, '; '));
}

/**
 * What `migrate status --watch` prints per change when stdout is not a terminal: phase, traffic and what the
 * migration waits for (without the time, so that two snapshots compare equal when nothing a person acts on changed).
 */
export function watchLine(s: MigrationStatus): string {
  const parts = [`${s.phase}${s.paused ? ' (paused)' : ''}`, `traffic ${s.trafficPercent}%`];
  const gate = Object.values(s.gates).find((g) => g?.open);
  if (gate) parts.push(`waiting for gate ${gate.name}: ${missingRoles(gate).join(', ') || 'decision'}`);
  else if (s.waitingFor)
    parts.push(`waiting for ${s.waitingFor}${s.waitingUntil ? ` until ${s.waitingUntil.slice(11, 19)}Z` : ''}`);
  if (s.attention) parts.push(`ATTENTION ${s.attention}`);
  if (s.failure) parts.push(`failure: ${s.failure}`);
  return parts.join('  ');
}

/** The exit code table `migrate --help` ends with. */
export function renderExitCodes(): string {
  return [
    'Exit codes:',
    ...EXIT_CODE_MEANINGS.map(([code, meaning]) => `  ${String(code).padStart(2)}  ${meaning}`),
  ].join('\n');
}

/** What `migrate rehearse` prints: the rehearsal's Markdown, then where it and its JSON form were written. */
export function renderRehearsalSummary(markdown: string, files: { markdownFile: string; jsonFile: string }): string {
  return [markdown.trim(), '', `written: ${files.markdownFile}`, `         ${files.jsonFile}`].join('\n');
}

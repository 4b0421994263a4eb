import type { LedgerRow } from '../../activities/ledger';
import type { MigrationStatus, RequestAnswer } from '../../workflows/definitions';

/** Writes `data` as indented JSON with `--json`, else the text form; either way one trailing newline. */
export function print(json: boolean, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
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
  const lines = [`${what}: ${a.detail}`, `  phase ${a.phase}${a.paused ? ' (paused)' : ''}`];
  if (a.gate) {
    const missing = a.gate.requiredRoles.filter(
      (r) => a.gate!.signatures.filter((x) => x.role === r).length < (a.gate!.required?.[r] ?? 1),
    );
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
  if (s.failure) out.push(`  failure   ${s.failure}`);
  if (s.attention) out.push(`  ATTENTION ${s.attention}`);
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
        `    ${r.name.padEnd(18)} ${String(r.value ?? 'no data').padEnd(12)} ${r.op} ${r.threshold}  ${r.passed === null ? 'inconclusive' : r.passed ? 'pass' : 'FAIL'}`,
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

/** The `migrate list` table: ID, phase, unified traffic, workflow status. */
export function renderList(rows: ListRow[]): string {
  return (
    rows
      .map((r) => `${r.id.padEnd(48)} ${r.phase.padEnd(14)} ${String(r.traffic).padStart(3)}%  ${r.status}`)
      .join('\n') || 'no migrations'
  );
}

/** The `migrate history` table: a heading, then sequence number, time, kind, actor and detail of each ledger row. */
export function renderHistory(id: string, table: string, rows: LedgerRow[]): string {
  return [
    `ledger of ${id} (${rows.length} rows, table ${table})`,
    ...rows.map(
      (r) => `${String(r.seq).padStart(5)}  ${r.at}  ${r.kind.padEnd(18)} ${(r.actor ?? '').padEnd(20)} ${r.detail}`,
    ),
  ].join('\n');
}

/** What `migrate rehearse` prints: the rehearsal's Markdown, then where it and its JSON form were written. */
export function renderRehearsalSummary(markdown: string, files: { markdownFile: string; jsonFile: string }): string {
  return [markdown.trim(), '', `written: ${files.markdownFile}`, `         ${files.jsonFile}`].join('\n');
}

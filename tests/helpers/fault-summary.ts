import fs from 'node:fs';
import path from 'node:path';

/** One line of the fault suite's summary table. */
export interface FaultRow {
  suite: string;
  /** What was injected or tried, e.g. "SIGKILL worker in backup (backupDatabase running)". */
  what: string;
  kind: 'fault' | 'bad-input' | 'secret-sweep';
  /** Survived (fault) or refused (bad input) or clean (sweep). */
  ok: boolean;
  lost?: number;
  doubled?: number;
  secretsFound?: number;
}

export const SUMMARY_FILE = path.join(__dirname, '..', '..', 'test-artifacts', 'fault-summary.jsonl');

/** Appends rows for the summary that `tests/global-teardown.ts` prints after the run. */
export function recordFaults(rows: FaultRow[]): void {
  fs.mkdirSync(path.dirname(SUMMARY_FILE), { recursive: true });
  fs.appendFileSync(SUMMARY_FILE, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** The summary table of everything recorded since the file was last cleared. */
export function renderFaultSummary(rows: FaultRow[]): string {
  const count = (k: FaultRow['kind']) => rows.filter((r) => r.kind === k);
  const sum = (f: (r: FaultRow) => number | undefined) => rows.reduce((a, r) => a + (f(r) ?? 0), 0);
  const faults = count('fault');
  const bad = count('bad-input');
  const lines = [
    '',
    'Fault and bad-input suite',
    '| Measure | Count |',
    '|---|---|',
    `| Faults injected | ${faults.length} |`,
    `| Faults survived | ${faults.filter((r) => r.ok).length} |`,
    `| Bad inputs tried | ${bad.length} |`,
    `| Bad inputs refused | ${bad.filter((r) => r.ok).length} |`,
    `| Submissions lost | ${sum((r) => r.lost)} |`,
    `| Submissions doubled | ${sum((r) => r.doubled)} |`,
    `| Secrets found | ${sum((r) => r.secretsFound)} |`,
  ];
  const failed = rows.filter((r) => !r.ok);
  if (failed.length) lines.push('', 'Not survived / not refused:', ...failed.map((r) => `- [${r.suite}] ${r.what}`));
  return lines.join('\n');
}

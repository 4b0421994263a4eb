import path from 'node:path';
import { makePrivateFolder, writeFileSafely } from './files';
import { migrationFolder } from './folders';
import { storeReport, type LedgerSpec } from './ledger';
import { redact, redactDeep } from './redact';

/** Paths of a written report, and whether its contents reached the ledger database too. */
export interface ReportFiles {
  markdownFile: string;
  jsonFile: string;
  /** The chart next to the report, when it has one. */
  chartFile?: string;
  /**
   * Asked to (`ledger` given): the contents went to the ledger database's `<ledger table>_reports` too, where
   * `migrate report` reads them from any machine, or `error` says why not (database down, variable not set on the
   * worker). The files are written either way.
   */
  stored?: { table: string } | { error: string };
}

/** The folder of one migration's reports. */
export const reportFolder = (reportDir: string, migrationId: string): string => migrationFolder(reportDir, migrationId);

/**
 * Writes `<reportDir>/<migrationId>/<kind>.md|.json` and the chart if any (overwriting: a retried activity writes the
 * same files), then, with `ledger`, stores the same contents in the ledger database (in place on a retry). Storing is
 * bounded (`REPORT_STORE_LIMIT_MS`) and never fails the report: a report is also what a rollback ends with, and the
 * ledger database may be what failed.
 */
export async function writeReportFiles(
  reportDir: string,
  migrationId: string,
  kind: string,
  markdown: string,
  data: unknown,
  extra: { chart?: { file: string; svg: string }; ledger?: LedgerSpec } = {},
): Promise<ReportFiles> {
  const dir = reportFolder(reportDir, migrationId);
  await makePrivateFolder(dir);
  const markdownFile = path.join(dir, `${kind}.md`);
  const jsonFile = path.join(dir, `${kind}.json`);
  // A report is read by people off the target: redacted like every message (`activities/redact.ts`).
  markdown = redact(markdown);
  const json = JSON.stringify(redactDeep(data), null, 2);
  // 0600 like every file we write, not 0640: the folder is 0700, so a group bit would open nothing, and a report,
  // though redacted, still names production's tables, hosts and figures. People read it through `migrate report`
  // (the ledger copy) or as the worker's user.
  await writeFileSafely(markdownFile, markdown);
  await writeFileSafely(jsonFile, json);
  const chartFile = extra.chart ? path.join(dir, extra.chart.file) : undefined;
  if (chartFile && extra.chart) await writeFileSafely(chartFile, extra.chart.svg);
  const files = { markdownFile, jsonFile, ...(chartFile ? { chartFile } : {}) };
  if (!extra.ledger) return files;
  const stored = await storeReport({
    ledger: extra.ledger,
    migrationId,
    kind,
    markdown,
    json,
    ...(extra.chart ? { chartSvg: extra.chart.svg } : {}),
  }).catch((err: unknown) => ({
    error: `not stored in the ledger database (${err instanceof Error ? err.message : String(err)}); the files are written`,
  }));
  return { ...files, stored };
}

import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { readStoredReport, reportsTableOf } from '../activities/ledger';
import { reportFolder } from '../activities/report-files';
import { ledgerOf } from '../model/plan';
import { CliError, ExitCode } from './cli/errors';
import { planOf } from './cli/temporal';

/** A report's contents and where they were found. */
export interface ReportContents {
  markdown: string;
  /** The JSON twin, as its file has it. */
  json: string;
  /** The chart of the completion report (SVG), when it has one. */
  chartSvg?: string;
  /** The ledger database's reports table (any machine), or the report folder (the worker's machine). */
  source: 'ledger' | 'file';
  /** The table (`<ledger table>_reports`, in the database of the plan's variable) or the Markdown file's path. */
  location: string;
}

/**
 * A migration's report by kind (`validation`, `rollback`, `completion`): from the ledger database its plan names
 * (that variable set here, as for `migrate history`), which the worker writes each report to; otherwise from the
 * report folder, when this machine has it (the worker's, or a shared folder). Neither: `CliError` `notFound`,
 * saying what was tried.
 */
export async function readReport(client: Client, id: string, kind: string): Promise<ReportContents> {
  const plan = await planOf(client, id).catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no migration ${id}; \`migrate list\` shows the migrations there are`, ExitCode.notFound);
    throw err;
  });
  const ledger = ledgerOf(plan);
  const table = reportsTableOf(ledger.table);
  let notInLedger: string;
  if (!process.env[ledger.databaseUrlEnv]) {
    notInLedger = `${ledger.databaseUrlEnv} is not set here (the ledger database's URL; the plan names the variable)`;
  } else {
    try {
      const stored = await readStoredReport({ ledger, migrationId: id, kind });
      if (stored)
        return {
          markdown: stored.markdown,
          json: stored.json,
          ...(stored.chartSvg !== undefined ? { chartSvg: stored.chartSvg } : {}),
          source: 'ledger',
          location: table,
        };
      notInLedger = `no row in ${table}`;
    } catch (err) {
      notInLedger = `cannot read ${table}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const fromFile = readReportFolder(reportFolder(plan.target.reportDir, id), kind);
  if (fromFile) return fromFile;
  throw new CliError(
    `no ${kind} report of ${id} found: not in the ledger database (${notInLedger}), and not at ` +
      `${path.join(reportFolder(plan.target.reportDir, id), `${kind}.md`)} on this machine. ` +
      '`migrate status` lists the reports a migration has written.',
    ExitCode.notFound,
  );
}

/** The report as its files have it, when they are on this machine. */
function readReportFolder(dir: string, kind: string): ReportContents | undefined {
  const markdownFile = path.join(dir, `${kind}.md`);
  const jsonFile = path.join(dir, `${kind}.json`);
  if (!fs.existsSync(markdownFile) || !fs.existsSync(jsonFile)) return undefined;
  const json = fs.readFileSync(jsonFile, 'utf8');
  // The completion report's JSON names its chart's file.
  const chart = (JSON.parse(json) as { chart?: unknown }).chart;
  const chartSvg = typeof chart === 'string' && fs.existsSync(chart) ? fs.readFileSync(chart, 'utf8') : undefined;
  return {
    markdown: fs.readFileSync(markdownFile, 'utf8'),
    json,
    ...(chartSvg !== undefined ? { chartSvg } : {}),
    source: 'file',
    location: markdownFile,
  };
}

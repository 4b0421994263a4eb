import fs from 'node:fs/promises';
import path from 'node:path';
import { ErrorType, migrationIdProblem } from '../workflows/constants';
import { permanent } from './errors';

/** Paths of a written report. */
export interface ReportFiles {
  markdownFile: string;
  jsonFile: string;
}

/**
 * The folder of one migration inside `base` (its backups, its reports, its crontab saves). An ID that could name
 * anything else (`.`, `..`, a slash: a workflow started by hand, not through `migrate start`) is refused, never
 * rewritten, so two IDs never share a folder and none escapes `base`.
 */
export function migrationFolder(base: string, migrationId: string): string {
  const problem = migrationIdProblem(migrationId);
  if (problem) throw permanent(ErrorType.InvalidInput, `migrationId: ${problem}`);
  return path.join(base, migrationId);
}

/** The folder of one migration's reports. */
export const reportFolder = (reportDir: string, migrationId: string): string => migrationFolder(reportDir, migrationId);

/** Writes `<reportDir>/<migrationId>/<kind>.md|.json` (overwriting: a retried activity writes the same files). */
export async function writeReportFiles(
  reportDir: string,
  migrationId: string,
  kind: string,
  markdown: string,
  data: unknown,
): Promise<ReportFiles> {
  const dir = reportFolder(reportDir, migrationId);
  await fs.mkdir(dir, { recursive: true });
  const markdownFile = path.join(dir, `${kind}.md`);
  const jsonFile = path.join(dir, `${kind}.json`);
  await fs.writeFile(markdownFile, markdown);
  await fs.writeFile(jsonFile, JSON.stringify(data, null, 2));
  return { markdownFile, jsonFile };
}

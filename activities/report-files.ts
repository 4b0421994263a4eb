import fs from 'node:fs/promises';
import path from 'node:path';
import { migrationFolder } from './folders';

/** Paths of a written report. */
export interface ReportFiles {
  markdownFile: string;
  jsonFile: string;
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

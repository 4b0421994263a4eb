import path from 'node:path';
import { ErrorType, migrationIdProblem } from '../model/constants';
import { permanent } from './errors';

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

/**
 * Exit codes: what went wrong, for scripts that call the CLI. `rolledBack`, `failed` and `watchTimeout` are
 * `migrate status --watch`'s answers when the migration ends (or the wait does) other than `complete`; `usage` is a
 * command line commander refused (unknown option, missing argument, a value outside its choices), 64 as in BSD's
 * sysexits.h (EX_USAGE), so scripts can tell a typo from a failure.
 */
export const ExitCode = {
  ok: 0,
  error: 1,
  invalidPlan: 2,
  notFound: 3,
  rejected: 4,
  rolledBack: 5,
  failed: 6,
  watchTimeout: 7,
  usage: 64,
} as const;

/** What each exit code means, in the words `migrate --help` and docs/runbook.md use. */
export const EXIT_CODE_MEANINGS: readonly [number, string][] = [
  [ExitCode.ok, 'done; with status --watch: the migration completed'],
  [ExitCode.error, 'any other error (Temporal unreachable, no worker to answer, a rollback that did not verify)'],
  [ExitCode.invalidPlan, 'invalid plan: every wrong field is printed, nothing was started'],
  [ExitCode.notFound, 'no such migration, or no such report yet'],
  [ExitCode.rejected, 'the workflow rejected the request (or an audit or rehearsal found a problem)'],
  [ExitCode.rolledBack, 'status --watch: the migration ended rolled-back'],
  [ExitCode.failed, 'status --watch: the migration ended failed or aborted'],
  [ExitCode.watchTimeout, 'status --watch: --timeout passed before the migration ended'],
  [ExitCode.usage, 'usage error: unknown command or option, missing argument, a value outside its choices'],
];

/** An error the top-level handler maps to an exit code, with a message that says what to do next. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

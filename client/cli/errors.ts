/** Exit codes: what went wrong, for scripts that call the CLI. */
export const ExitCode = { ok: 0, error: 1, invalidPlan: 2, notFound: 3, rejected: 4 } as const;

/** An error the top-level handler maps to an exit code, with a message that says what to do next. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

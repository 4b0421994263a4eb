import { ApplicationFailure, type LogLevel } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';

/** The levels `MO_LOG_LEVEL` accepts, least severe first (the SDK's). */
export const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

/**
 * The worker's log level from the value of `MO_LOG_LEVEL` (any case; INFO when unset). Anything else is an error
 * naming the variable and the levels: the SDK would take an unknown level as "log everything".
 */
export function logLevel(raw: string | undefined): LogLevel {
  const value = raw?.trim() ?? '';
  if (value === '') return 'INFO';
  const level = value.toUpperCase();
  if (!isLogLevel(level))
    throw new Error(`MO_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (any case), got ${JSON.stringify(raw)}`);
  return level;
}

// Deep enough for Temporal's wrapping (ActivityFailure → ApplicationFailure → the thrown error), bounded against cycles.
const MAX_CAUSES = 8;

/** An error as plain data: name, message, stack (where it was thrown), a failure's type, and its causes. */
function errorJson(err: Error, depth = 0): Record<string, unknown> {
  const code = (err as NodeJS.ErrnoException).code;
  const cause: unknown = err.cause;
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err instanceof ApplicationFailure && err.type ? { type: err.type, nonRetryable: err.nonRetryable } : {}),
    stack: err.stack,
    ...(cause === undefined ? {} : { cause: cause instanceof Error ? causeJson(cause, depth) : cause }),
  };
}

function causeJson(cause: Error, depth: number): Record<string, unknown> | string {
  return depth < MAX_CAUSES ? errorJson(cause, depth + 1) : `${cause.name}: ${cause.message} (further causes left out)`;
}

/** One log entry as one JSON line (no newline): time, level, message, then the SDK's metadata (workflow, activity …). */
export function formatLogLine(entry: LogEntry): string {
  return JSON.stringify(
    {
      time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
      level: entry.level.toLowerCase(),
      msg: entry.message,
      ...entry.meta,
    },
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? errorJson(v) : v),
  );
}

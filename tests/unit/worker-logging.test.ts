import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { formatLogLine, logLevel } from '../../worker/logging';

interface ErrorJson {
  name: string;
  message: string;
  stack: string;
  type?: string;
  nonRetryable?: boolean;
  code?: string;
  cause?: ErrorJson | string;
}

function thrownBy(fn: () => never): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
}

function backupFailed(): never {
  throw ApplicationFailure.create({ type: 'PreconditionFailed', message: 'pg_dump exited 1', nonRetryable: true });
}

const entry = (meta: LogEntry['meta']): LogEntry => ({
  level: 'WARN',
  message: 'Activity failed',
  timestampNanos: 1_764_000_000_123_000_000n,
  meta,
});

describe('the worker log line', () => {
  it('keeps an error’s stack, its failure type and the causes Temporal wraps around it', () => {
    const cause = thrownBy(backupFailed);
    const wrapped = new ActivityFailure(
      'Activity task failed',
      'backupDatabase',
      '7',
      RetryState.NON_RETRYABLE_FAILURE,
      'worker-1',
      cause,
    );
    const line = formatLogLine(entry({ error: wrapped, durationMs: 12, attempt: 3n }));
    expect(line).not.toContain('\n');
    const parsed = JSON.parse(line) as { time: string; level: string; msg: string; error: ErrorJson; attempt: string };
    expect(parsed).toMatchObject({ time: '2025-11-24T16:00:00.123Z', level: 'warn', msg: 'Activity failed' });
    expect(parsed.attempt).toBe('3');
    expect(parsed.error).toMatchObject({ name: 'ActivityFailure', message: 'Activity task failed' });
    expect(parsed.error.stack).toMatch(/^ActivityFailure: Activity task failed\n\s+at /);
    const inner = parsed.error.cause as ErrorJson;
    expect(inner).toMatchObject({ name: 'ApplicationFailure', type: 'PreconditionFailed', nonRetryable: true });
    // The whole stack, with the frame that threw, not only the message.
    expect(inner.stack).toBe(cause.stack);
    expect(inner.stack).toMatch(/at .*worker-logging\.test\.ts:\d+:\d+/);
  });

  it('keeps a system error’s code, and a cause that is no error as text', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432', { cause: 'socket closed' }), {
      code: 'ECONNREFUSED',
    });
    const parsed = JSON.parse(formatLogLine(entry({ error: err }))) as { error: ErrorJson };
    expect(parsed.error).toMatchObject({ code: 'ECONNREFUSED', cause: 'socket closed' });
    expect(parsed.error.stack).toContain('worker-logging.test.ts');
  });

  it('stops following a cycle of causes', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(() => JSON.parse(formatLogLine(entry({ error: a })))).not.toThrow();
  });
});

describe('MO_LOG_LEVEL', () => {
  it('takes the five levels in any case, INFO when unset', () => {
    expect(logLevel(undefined)).toBe('INFO');
    expect(logLevel('')).toBe('INFO');
    expect(logLevel('debug')).toBe('DEBUG');
    expect(logLevel('Warn')).toBe('WARN');
    expect(logLevel(' ERROR ')).toBe('ERROR');
    expect(logLevel('trace')).toBe('TRACE');
  });

  it('refuses anything else, naming the variable and the levels', () => {
    for (const bad of ['LOUD', 'verbose', 'WARNING', '3'])
      expect(() => logLevel(bad)).toThrow(
        `MO_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR (any case), got ${JSON.stringify(bad)}`,
      );
  });
});

import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { Context } from '@temporalio/activity';

/** Outcome of a finished child process. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of `runCommand`. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Called every `heartbeatMs` while the process runs, so a long command keeps its activity alive. */
  onTick?: () => void;
  heartbeatMs?: number;
  stdin?: string;
}

/** Runs a program with an argument list (no shell), collecting its output; never throws on a non-zero exit. */
export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    const ticker = opts.onTick ? setInterval(opts.onTick, opts.heartbeatMs ?? 2000) : undefined;
    child.on('error', (err) => {
      clearTimeout(timer);
      clearInterval(ticker);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(ticker);
      resolve({ code, signal, stdout, stderr });
    });
    if (child.stdin) {
      // A child that exits without reading its input must not crash the worker with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin);
    }
  });
}

/** Options of `runBounded`. */
export interface BoundedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Called every `heartbeatMs` while the process runs. */
  onTick?: () => void;
  heartbeatMs?: number;
  /** Aborting kills the process group (the activity's cancellation). */
  signal?: AbortSignal;
  /** Output kept per stream (the tail); default 1 MiB. */
  maxOutputChars?: number;
}

/** A finished (or killed) bounded process. */
export interface BoundedResult extends CommandResult {
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
}

/** How long the output may stay open after the program exited (a background grandchild holding stdout). */
const DRAIN_MS = 2_000;

/** The running activity's cancellation signal; undefined outside an activity (scripts, tests). */
export function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/**
 * A cancelled activity (rollback, abort or fail while it runs) stops at once with its cancellation: not a failed check,
 * not a failed backup. A no-op outside an activity.
 */
export function throwIfCancelled(): void {
  const signal = activitySignal();
  if (signal?.aborted) throw signal.reason;
}

/**
 * Runs a program with an argument list (no shell) in its own process group, and on time-out or cancellation kills the
 * whole group. `runCommand` kills only the direct child, and waits for its output to close, so a check such as
 * `npm test` whose grandchildren hang would outlive its time limit while its heartbeats kept the activity alive.
 */
export function runBounded(command: string, args: string[], opts: BoundedOptions): Promise<BoundedResult> {
  const started = Date.now();
  const max = opts.maxOutputChars ?? 1 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const output = keepTails(child, max);
    const guard = guardGroup(child, opts);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let drain: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      guard.stop();
      clearTimeout(drain);
      if (err) return reject(err);
      resolve({
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stdout: output.stdout,
        stderr: output.stderr,
        timedOut: guard.timedOut,
        cancelled: guard.cancelled,
        durationMs: Date.now() - started,
      });
    };
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // A grandchild that left the group may still hold the pipes: stop waiting for them after a short drain.
      drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, DRAIN_MS);
    });
    child.on('close', (code, signal) => {
      exit ??= { code, signal };
      finish();
    });
  });
}

/** The child's output, each stream cut to its last `max` characters as it arrives. */
function keepTails(
  child: ChildProcessByStdio<null, Readable, Readable>,
  max: number,
): { stdout: string; stderr: string } {
  const output = { stdout: '', stderr: '' };
  const keep = (s: string) => (s.length > max ? s.slice(-max) : s);
  child.stdout.on('data', (d: Buffer) => (output.stdout = keep(output.stdout + d.toString())));
  child.stderr.on('data', (d: Buffer) => (output.stderr = keep(output.stderr + d.toString())));
  return output;
}

/** SIGKILL to the child's whole process group (it was spawned detached, as the group's leader). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Kills the child's process group on time-out or when `opts.signal` aborts (also when it already has), and ticks
 * while it runs; `timedOut` and `cancelled` say which killed it, `stop` disarms all three.
 */
function guardGroup(
  child: ChildProcess,
  opts: BoundedOptions,
): { readonly timedOut: boolean; readonly cancelled: boolean; stop: () => void } {
  let timedOut = false;
  let cancelled = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, opts.timeoutMs);
  const ticker = opts.onTick ? setInterval(opts.onTick, opts.heartbeatMs ?? 2_000) : undefined;
  const onAbort = () => {
    cancelled = true;
    killGroup(child);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  return {
    get timedOut() {
      return timedOut;
    },
    get cancelled() {
      return cancelled;
    },
    stop: () => {
      clearTimeout(timer);
      clearInterval(ticker);
      opts.signal?.removeEventListener('abort', onAbort);
    },
  };
}

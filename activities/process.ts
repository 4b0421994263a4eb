import { spawn, type ChildProcess } from 'node:child_process';
import { Context } from '@temporalio/activity';

/** Output kept per stream unless a caller says otherwise: 1 MiB, its first and last halves. */
const MAX_OUTPUT_BYTES = 1 << 20;

/** Outcome of a finished child process. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Bytes cut from the middle of each stream to keep it within its limit (0: the stream is whole). */
  dropped: { stdout: number; stderr: number };
}

/** Options of `runCommand`. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Past it the process group is killed (SIGKILL): the program and everything it started. */
  timeoutMs?: number;
  /** Called every `heartbeatMs` while the process runs, so a long command keeps its activity alive. */
  onTick?: () => void;
  heartbeatMs?: number;
  stdin?: string;
  /** Aborting kills the process group (pass `activitySignal()` to follow the activity's cancellation). */
  signal?: AbortSignal;
  /**
   * Output kept per stream, its head and tail; default 1 MiB. `Infinity` keeps all of it, for a caller that parses
   * the whole output (a crontab it rewrites, a history it saves): there, a cut would corrupt what it writes back.
   */
  maxOutputBytes?: number;
}

/**
 * Runs a program with an argument list (no shell) in its own process group, collecting its output within
 * `maxOutputBytes` per stream; never throws on a non-zero exit. On time-out or abort it kills the whole group, so a
 * script's grandchildren die with it.
 */
export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return runGroup(command, args, opts);
}

/** Options of `runBounded`. */
export interface BoundedOptions extends Omit<RunOptions, 'stdin' | 'timeoutMs'> {
  timeoutMs: number;
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
 * `runCommand` with a required time limit, saying whether the time-out or the cancellation killed the process: for
 * checks such as `npm test`, whose hanging grandchildren must not outlive the check's limit.
 */
export function runBounded(command: string, args: string[], opts: BoundedOptions): Promise<BoundedResult> {
  return runGroup(command, args, opts);
}

/**
 * Spawns the program as the leader of its own process group (`detached`), guarded by `guardGroup`. It settles when
 * its output closes, or `DRAIN_MS` after it exited if a grandchild that left the group still holds the pipes.
 */
function runGroup(command: string, args: string[], opts: RunOptions): Promise<BoundedResult> {
  const started = Date.now();
  const max = opts.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const stdout = new BoundedOutput(max);
    const stderr = new BoundedOutput(max);
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
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
      const [out, errOut] = [stdout.result(), stderr.result()];
      resolve({
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stdout: out.text,
        stderr: errOut.text,
        dropped: { stdout: out.dropped, stderr: errOut.dropped },
        timedOut: guard.timedOut,
        cancelled: guard.cancelled,
        durationMs: Date.now() - started,
      });
    };
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
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
    // A child that exits without reading its input must not crash the worker with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin);
  });
}

/**
 * One stream's output within `max` bytes: the first half and the last half kept, the middle counted as dropped. The
 * bytes are decoded once, at the end: decoding chunk by chunk would turn a character split across two chunks into
 * two U+FFFD, and the cuts are moved to character boundaries.
 */
class BoundedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private readonly headMax: number;
  private readonly tailMax: number;
  /** Bytes dropped so far, not counting the partial characters `result()` trims at the cut. */
  private dropped = 0;

  constructor(max: number) {
    this.headMax = Number.isFinite(max) ? Math.floor(max / 2) : Infinity;
    this.tailMax = Number.isFinite(max) ? max - this.headMax : 0;
  }

  push(chunk: Buffer): void {
    if (this.headBytes < this.headMax) {
      const take = Math.min(chunk.length, this.headMax - this.headBytes);
      this.head.push(chunk.subarray(0, take));
      this.headBytes += take;
      chunk = chunk.subarray(take);
    }
    if (!chunk.length) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailBytes > this.tailMax) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - this.tailMax;
      const cut = Math.min(first.length, excess);
      if (cut === first.length) this.tail.shift();
      else this.tail[0] = first.subarray(cut);
      this.tailBytes -= cut;
      this.dropped += cut;
    }
  }

  /** The output as text and the bytes dropped; when cut, the text says so, and how many, where it was cut. */
  result(): { text: string; dropped: number } {
    if (!this.dropped) return { text: Buffer.concat([...this.head, ...this.tail]).toString('utf8'), dropped: 0 };
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    const headEnd = wholeCharacters(head);
    let tailStart = 0;
    while (tailStart < 3 && tailStart < tail.length && isContinuation(tail[tailStart]!)) tailStart++;
    const dropped = this.dropped + head.length - headEnd + tailStart;
    const text = `${head.toString('utf8', 0, headEnd)}\n[output truncated: ${dropped} bytes dropped]\n${tail.toString('utf8', tailStart)}`;
    return { text, dropped };
  }
}

const isContinuation = (byte: number) => (byte & 0xc0) === 0x80;

/** The length of `buf` without the UTF-8 sequence cut off at its end, if there is one. */
function wholeCharacters(buf: Buffer): number {
  for (let i = buf.length - 1; i >= Math.max(0, buf.length - 4); i--) {
    const byte = buf[i]!;
    if (isContinuation(byte)) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + length > buf.length ? i : buf.length;
  }
  return buf.length;
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
  opts: RunOptions,
): { readonly timedOut: boolean; readonly cancelled: boolean; stop: () => void } {
  let timedOut = false;
  let cancelled = false;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, opts.timeoutMs)
    : undefined;
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

import { spawn } from 'node:child_process';

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

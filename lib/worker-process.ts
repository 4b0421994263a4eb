import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from './config';

/** A worker running as its own OS process (as in production), with its output appended to `logFile`. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the worker printed that it polls its task queue. */
  ready: Promise<void>;
  /** SIGTERM, then waits for the process to exit. */
  stop: () => Promise<void>;
}

/**
 * Starts a worker entry point (default `worker/main.ts`) in a child process with the given extra environment. Node
 * runs it with tsx's loader in-process (not through the tsx CLI, which would add a second process), so the child's
 * PID is the worker's: signals reach it directly and its memory can be read from /proc.
 */
export function startWorkerProcess(
  logFile: string,
  env: NodeJS.ProcessEnv = {},
  script = path.join(projectRoot, 'worker', 'main.ts'),
): WorkerProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: projectRoot,
    // Several workers may run at once here (tests, benchmarks): none serves metrics unless asked to.
    env: { ...process.env, MO_METRICS_ADDRESS: process.env.MO_METRICS_ADDRESS ?? 'off', ...env },
    stdio: ['ignore', 'pipe', out],
  });
  const ready = new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      fs.appendFileSync(logFile, d);
      seen += d.toString();
      if (seen.includes('worker started')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`worker exited with code ${code} before it was ready; see ${logFile}`)),
    );
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  return { child, ready, stop };
}

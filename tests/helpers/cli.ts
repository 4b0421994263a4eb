import { execFile, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** `bin/migrate`, the command an operator runs. */
export const MIGRATE_BIN = path.join(__dirname, '..', '..', 'bin', 'migrate');

/** What one `migrate` run did: its exit code and output. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/migrate` as an operator would; never throws, resolves to the exit code and output. `child` is the process
 * (to stop a `--watch` that a failed test leaves behind).
 */
export function migrateCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> & { child: ChildProcess; out: () => string } {
  let child: ChildProcess | undefined;
  const run = new Promise<CliRun>((resolve) => {
    child = execFile(
      MIGRATE_BIN,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  // What it has printed so far, for a test that waits until a watcher has shown a state before it moves on.
  let printed = '';
  child!.stdout?.on('data', (b: Buffer | string) => (printed += b.toString()));
  return Object.assign(run, { child: child!, out: () => printed });
}

/** The objects of a JSON Lines output, one per line (each line must parse on its own). */
export function jsonLines<T = unknown>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** How long a change waits for another one to finish with the same crontab before it fails (and is retried). */
const WAIT_SECONDS = 60;

/**
 * The host-wide lock file of one user's crontab. Every worker and agent on the host takes it (flock) before it reads a
 * crontab to change it; a shell script of the team can take the same lock with `flock <file> crontab …`.
 */
export function crontabLockPath(user: string): string {
  // /run/lock is the host's shared lock folder (sticky, world-writable), so a worker and an agent running as different
  // users meet on the same file.
  const dir = fs.existsSync('/run/lock') ? '/run/lock' : os.tmpdir();
  return path.join(dir, `mo-crontab.${user}.lock`);
}

/**
 * Runs `fn` holding the exclusive lock of `user`'s crontab. The kernel lock (flock(1)) is held by a child that reads
 * this process's stdin pipe: when this process dies, the pipe closes, the child ends and the kernel drops the lock, so
 * a holder that died never blocks the next change. A lock still held after `waitSeconds` fails (retryable).
 */
export async function withCrontabLock<T>(user: string, fn: () => Promise<T>, waitSeconds = WAIT_SECONDS): Promise<T> {
  const file = crontabLockPath(user);
  const holder = spawn(
    'flock',
    ['--exclusive', '--wait', String(waitSeconds), file, 'sh', '-c', 'echo held; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const ended = new Promise<number | null>((resolve) => holder.on('close', (code) => resolve(code)));
  const held = await new Promise<boolean>((resolve, reject) => {
    holder.stdout.once('data', () => resolve(true));
    holder.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('flock (util-linux) is needed on the scheduler host to lock the crontab, and was not found')
          : err,
      ),
    );
    void ended.then(() => resolve(false));
  });
  if (!held)
    throw new Error(
      `the crontab of ${user} is locked by another change (${file}) for more than ${waitSeconds} s; retried later`,
    );
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await ended;
  }
}

/**
 * The test environment of the tiers that share the local stack, run by three Jest workers at once. Each worker has a
 * slot of its own (task queue, demo database, repository, crontab user, compose project: tests/helpers/slot.ts), so
 * most files run side by side. A file that takes the whole machine (it stops PostgreSQL, restarts the Temporal server)
 * says so in its first doc comment with `@exclusive <why>`: it waits until no other file runs and keeps the others
 * waiting until it is done. A reader-writer lock on files in the stack folder: shared holders leave a file named by
 * their process ID; an exclusive holder first marks that it wants the machine (new shared holders then wait), then waits
 * for the shared holders to leave. Holders whose process is gone are ignored, so a killed run does not wedge the next.
 */
const fs = require('node:fs');
const path = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

const LOCKS = path.join(process.env.MO_STACK_DIR ?? path.join(__dirname, '..', '.stack'), 'test-locks');
const WANT = path.join(LOCKS, 'exclusive');
/** How long each file waited for the machine: the timing reporter leaves it out of the file's time. */
const WAITS = path.join(LOCKS, 'waits.jsonl');
const POLL_MS = 200;
/** Longer than any file runs: a wait this long means a holder that never lets go. */
const MAX_WAIT_MS = 30 * 60_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether the process that wrote a lock file still runs. */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process IDs of the shared holders other than this one that still run (stale files are removed). */
function sharedHolders() {
  return fs
    .readdirSync(LOCKS)
    .filter((f) => f.startsWith('shared-'))
    .map((f) => Number(f.slice('shared-'.length)))
    .filter((pid) => {
      if (pid === process.pid) return false;
      if (alive(pid)) return true;
      fs.rmSync(path.join(LOCKS, `shared-${pid}`), { force: true });
      return false;
    });
}

/** The process that wants or holds the machine, if it still runs (a marker is never empty: see `acquireExclusive`). */
function exclusiveHolder() {
  let pid;
  try {
    pid = Number(fs.readFileSync(WANT, 'utf8'));
  } catch {
    return undefined;
  }
  if (pid === process.pid || (pid && alive(pid))) return pid;
  // Left by a process that is gone: removed only if it is still that one's (another may have marked since).
  removeIfOwnedBy(pid);
  return undefined;
}

/** Removes the exclusive marker if `pid` wrote it. */
function removeIfOwnedBy(pid) {
  try {
    if (Number(fs.readFileSync(WANT, 'utf8')) === pid) fs.rmSync(WANT, { force: true });
  } catch {
    // Already gone.
  }
}

/** Waits until `done()` holds; a wait past `MAX_WAIT_MS` fails the file, naming what it waited for. */
async function waitUntil(done, what) {
  for (const until = Date.now() + MAX_WAIT_MS; !done(); await sleep(POLL_MS))
    if (Date.now() > until)
      throw new Error(`waited ${MAX_WAIT_MS / 60_000} min for ${what()} (lock files in ${LOCKS})`);
}

async function acquireShared() {
  const mine = path.join(LOCKS, `shared-${process.pid}`);
  for (;;) {
    await waitUntil(
      () => exclusiveHolder() === undefined,
      () => `the file that has the machine to itself (process ${exclusiveHolder()})`,
    );
    fs.writeFileSync(mine, '');
    // An exclusive holder may have marked the machine between the check and the write: step back and wait for it.
    if (exclusiveHolder() === undefined) return;
    fs.rmSync(mine, { force: true });
  }
}

async function acquireExclusive() {
  // The marker appears whole or not at all: written aside, then linked into place (which fails if one exists).
  const mine = `${WANT}.${process.pid}`;
  fs.writeFileSync(mine, String(process.pid));
  try {
    await waitUntil(
      () => {
        try {
          fs.linkSync(mine, WANT);
          return true;
        } catch {
          exclusiveHolder(); // clears a dead holder's marker
          return false;
        }
      },
      () => `another exclusive file to finish (process ${exclusiveHolder()})`,
    );
  } finally {
    fs.rmSync(mine, { force: true });
  }
  await waitUntil(
    () => sharedHolders().length === 0,
    () => `the files running beside it to finish (processes ${sharedHolders().join(', ')})`,
  );
}

class MachineEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.exclusive = context.docblockPragmas.exclusive !== undefined;
    this.testPath = context.testPath;
  }

  async setup() {
    await super.setup();
    fs.mkdirSync(LOCKS, { recursive: true });
    const asked = Date.now();
    await (this.exclusive ? acquireExclusive() : acquireShared());
    fs.appendFileSync(WAITS, `${JSON.stringify({ file: this.testPath, ms: Date.now() - asked })}\n`);
  }

  async teardown() {
    fs.rmSync(path.join(LOCKS, `shared-${process.pid}`), { force: true });
    if (this.exclusive) removeIfOwnedBy(process.pid);
    await super.teardown();
  }
}

module.exports = MachineEnvironment;
module.exports.WAITS = WAITS;
module.exports.LOCKS = LOCKS;

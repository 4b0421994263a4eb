import type { Client } from '@temporalio/client';
import type { Command } from '@commander-js/extra-typings';
import { isFinalPhase } from '../../../model/constants';
import type { MigrationStatus } from '../../../model/status';
import { formatMs } from '../../../model/format';
import { agentSteps, renderAgentSteps, type AgentStep } from '../../agents';
import { renderRetries, retryingActivities, type RetryingActivity } from '../../retries';
import { CliError, ExitCode } from '../errors';
import { durationArg, EXAMPLE_ID, examples, outputOptions, type OutputFormat } from '../options';
import { print, renderStatus, watchLine } from '../render';
import { readStatus, withClient } from '../temporal';

/** How many reads in a row `--watch` tries before it gives up (a read that fails is tried again an interval later). */
const READ_ATTEMPTS = 5;

/** What `migrate status` prints: the workflow's status, the server's retries and which agent ran each step. */
type Snapshot = MigrationStatus & { retrying: RetryingActivity[]; agents: AgentStep[] };

/** `migrate status <id>`: the status once, or followed with `--watch` until the migration ends. */
export function addStatusCommand(program: Command): void {
  outputOptions(
    program
      .command('status')
      .description('phase, gates, readings and undo records of a migration')
      .argument('<id>', 'migration ID'),
  )
    .option(
      '--watch',
      'follow it until it ends, then exit with its outcome (see "Exit codes" in migrate --help): on a terminal, ' +
        'redrawn in place; otherwise one line (or JSON object) per change',
    )
    .option(
      '--interval <duration>',
      'with --watch: how often to read the status (default 1s; e.g. 500ms, 2s, 1m)',
      durationArg,
    )
    .option('--timeout <duration>', 'with --watch: give up after this long (exit 7)', durationArg)
    .addHelpText(
      'after',
      examples([
        `migrate status ${EXAMPLE_ID}`,
        `migrate status ${EXAMPLE_ID} --watch`,
        `migrate status ${EXAMPLE_ID} --watch --timeout 2h > migration.log; echo "outcome: $?"`,
        `migrate status ${EXAMPLE_ID} --watch -o jsonl | jq -c '{phase, trafficPercent}'`,
        `migrate status ${EXAMPLE_ID} -o json | jq .phase`,
      ]),
    )
    .action(async (id, o) => {
      if (!o.watch && (o.interval !== undefined || o.timeout !== undefined))
        throw new CliError('--interval and --timeout go with --watch', ExitCode.usage);
      await withClient(async (client) => {
        if (!o.watch) {
          const s = await snapshot(client, id, true);
          print(o.output, s, () => renderSnapshot(s));
          return;
        }
        await watch(client, id, { format: o.output, intervalMs: o.interval ?? 1000, timeoutMs: o.timeout });
      });
    });
}

/** The status with what the workflow's state cannot know, read alongside (`extras`: only when it is printed). */
async function snapshot(client: Client, id: string, extras: boolean): Promise<Snapshot> {
  const s = await readStatus(client, id);
  if (!extras) return { ...s, retrying: [], agents: [] };
  // Server-side retries (a database or engine down) are not in the workflow's state.
  const retrying = isFinalPhase(s.phase) ? [] : await retryingActivities(client.workflow.getHandle(id)).catch(() => []);
  // Which agent did each host-bound step (read from the history: the workflow's state does not know workers).
  const agents = await agentSteps(client, id).catch(() => []);
  return { ...s, retrying, agents };
}

const renderSnapshot = (s: Snapshot): string =>
  [renderStatus(s), ...renderRetries(s.retrying), ...renderAgentSteps(s.agents)].join('\n');

/**
 * Follows a migration until it ends. On a terminal the text form is redrawn in place every interval (the progress bar
 * moves); anywhere else (a pipe, a file, a CI log) only changes are printed: a compact line per change in text, the
 * whole snapshot per change in JSON. Ends with the migration's outcome as the exit code, or `watchTimeout`.
 */
async function watch(
  client: Client,
  id: string,
  o: { format: OutputFormat; intervalMs: number; timeoutMs?: number },
): Promise<void> {
  const redraw = o.format === 'text' && process.stdout.isTTY === true;
  const deadline = o.timeoutMs === undefined ? undefined : Date.now() + o.timeoutMs;
  let last: string | undefined;
  let phase = 'unknown';
  const inTime = <T>(p: Promise<T>) =>
    beforeDeadline(p, deadline, () => {
      return new CliError(
        `${id} did not end within ${formatMs(o.timeoutMs ?? 0)} (phase ${phase}); it goes on: migrate status ${id}`,
        ExitCode.watchTimeout,
      );
    });
  const pause = () => inTime(new Promise((r) => setTimeout(r, o.intervalMs)));
  let failures = 0;
  for (;;) {
    let s: Snapshot;
    try {
      s = await inTime(snapshot(client, id, redraw || o.format !== 'text'));
      failures = 0;
    } catch (err) {
      // A watch can last days: a query that times out while the worker is busy or restarts, or a connection blip,
      // is tried again; a missing migration, the timeout, or the same failure again and again end it.
      const final = err instanceof CliError && err.code !== ExitCode.error;
      if (final || ++failures > READ_ATTEMPTS) throw err;
      process.stderr.write(
        `cannot read the status of ${id} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); trying again (${failures} of ${READ_ATTEMPTS})\n`,
      );
      await pause();
      continue;
    }
    phase = s.phase;
    if (redraw) {
      process.stdout.write('\x1b[2J\x1b[H');
      print('text', s, () => renderSnapshot(s));
    } else {
      const key = o.format === 'text' ? watchLine(s) : JSON.stringify(s);
      if (key !== last) print(o.format, s, () => `${new Date().toISOString().slice(0, 19)}Z  ${key}`);
      last = key;
    }
    if (isFinalPhase(s.phase)) return outcome(s);
    await pause();
  }
}

/** Settles as `p` does, or rejects with `timedOut()` once `deadline` (ms since the epoch) has passed. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number | undefined, timedOut: () => Error): Promise<T> {
  if (deadline === undefined) return p;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut()), Math.max(deadline - Date.now(), 0));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `complete` returns (exit 0); any other end state exits with its own code and says how it ended on stderr. */
function outcome(s: MigrationStatus): void {
  if (s.phase === 'complete') return;
  const how = `${s.migrationId} ended ${s.phase}${s.failure ? `: ${s.failure}` : ''}`;
  throw new CliError(how, s.phase === 'rolled-back' ? ExitCode.rolledBack : ExitCode.failed);
}

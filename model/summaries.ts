import type { ActivityOptions } from '@temporalio/common';
import { formatMs } from './format';

/**
 * What each activity does to what, in one line, as the Temporal UI shows it beside the event ("backup initial of
 * $DATABASE_URL (pg_dump, verify by restore)", "traffic 25 % → unified"). Read from the activity's own input, so every
 * call carries one without each call site spelling it; `context` says whose call it is ("rollback: …").
 */
type Input = Record<string, unknown>;

/** A field's text: strings and numbers as they are, anything else as nothing. */
const str = (v: unknown, fallback = ''): string =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : fallback;

const list = (v: unknown, field: string): string =>
  Array.isArray(v)
    ? v
        .map((x) => str((x as Input)[field]))
        .filter(Boolean)
        .join(', ')
    : '';

const count = (v: unknown, what: string): string => {
  const n = Array.isArray(v) ? v.length : 0;
  return `${n} ${what}${n === 1 ? '' : 's'}`;
};

const SUMMARIES: Record<string, (i: Input, args: readonly unknown[]) => string> = {
  backupDatabase: (i) =>
    `backup ${str(i.step)} of $${str(i.databaseUrlEnv)} (pg_dump, verify by restore${i.verifyDatabaseUrlEnv ? ` on $${str(i.verifyDatabaseUrlEnv)}` : ''})`,
  runChecks: (i) => `${str(i.kind)} checks: ${count(i.checks, 'check')}${i.target ? ' and the target probes' : ''}`,
  hostChecks: (i) => `${str(i.kind, 'host')} checks on this host: ${count(i.checks, 'check')}`,
  deployUnified: (i) => `deploy unified: start ${list(i.containers, 'service')} in project ${str(i.project)}`,
  startContainers: (_i, args) => `start containers of project ${str(args[0])}`,
  stopContainers: (_i, args) => `stop this migration's containers of project ${str(args[0])}`,
  listContainers: (_i, args) => `list containers of project ${str(args[0])}`,
  evaluateMetrics: (i) => `gate readings: ${list(i.metrics, 'name')}`,
  compareOutputs: () => 'parallel run: compare the legacy and unified outputs',
  setTrafficPercent: (i) =>
    `traffic ${str(i.percent)} % → unified, ${100 - Number(i.percent)} % legacy (${str((i.router as Input | undefined)?.kind, 'router')})`,
  getTrafficPercent: () => 'read the traffic split',
  installUnifiedJob: (i) => `install the unified job ${jobName(i.job)} (${schedulerKind(i)})`,
  removeUnifiedJob: (i) => `remove the unified job ${jobName(i.job)} (${schedulerKind(i)})`,
  disableLegacyJobs: (i) => `disable the legacy jobs ${list(i.jobs, 'name')} (${schedulerKind(i)}, kept restorable)`,
  enableLegacyJobs: (i) => `restore the legacy jobs ${list(i.jobs, 'name')} (${schedulerKind(i)})`,
  findLegacyJobs: (i) => `find the legacy jobs ${list(i.jobs, 'name')} (${schedulerKind(i)})`,
  findUnifiedOwner: (i) => `find who else schedules the unified job ${jobName(i.job)} (${schedulerKind(i)})`,
  readSchedule: (i) => `read the schedule of ${list(i.jobs, 'name')} (${schedulerKind(i)})`,
  archiveLegacyScripts: (i) => `archive the legacy scripts of ${str(i.repository)} (README, git commit)`,
  restoreArchivedScripts: (i) => `restore the archived legacy scripts in ${str(i.repository)} (git commit)`,
  notify: (i) => `notify ${str(i.event)}: ${str(i.subject)}`.trim(),
  runJob: (i) => `run job ${str(i.name)}`,
  writeCompletionReport: () => 'completion report: success metrics, gate chart, audit',
  writeRollbackReport: (i) => `rollback report (from ${str(i.fromPhase)})`,
  appendLedger: (i) => `ledger: write ${count(i.entries, 'row')} to ${str(i.table)}`,
  readLedger: (i) => `ledger: read ${str(i.table)}`,
};

function jobName(job: unknown): string {
  return str((job as Input | undefined)?.name, 'job');
}

function schedulerKind(i: Input): string {
  return str((i.scheduler as Input | undefined)?.kind, 'scheduler');
}

/** Summaries are single lines; the UI shows about this much of one. */
const MAX_SUMMARY = 160;

/** The summary of one activity call, or undefined for one this table does not know. */
export function activitySummary(name: string, args: readonly unknown[], context?: string): string | undefined {
  const describe = SUMMARIES[name];
  if (!describe) return undefined;
  const first = (args[0] ?? {}) as Input;
  const text = `${context ? `${context}: ` : ''}${describe(typeof first === 'object' ? first : {}, args)}`.replace(
    /\s+/g,
    ' ',
  );
  return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text;
}

/** A wait's summary with its length: "bake at 25 % (5 min)". */
export const timerSummary = (what: string, ms: number): string => `${what} (${formatMs(ms)})`;

/** A durable wait of the runbook (`hold`): what it waits for, as typed data. */
export type Wait =
  | { kind: 'parallel-run' }
  | { kind: 'bake'; percent: number }
  | { kind: 'monitoring' }
  /** The `check`-th soak check of `of`, counted from 1. */
  | { kind: 'soak'; check: number; of: number };

/**
 * A wait's label: its timer's summary, its audit line and `status.waitingFor` all carry it, so recorded histories and
 * the tests that read them hold it byte for byte (e.g. "bake at 25%").
 */
export function waitLabel(wait: Wait): string {
  switch (wait.kind) {
    case 'parallel-run':
      return 'parallel run';
    case 'bake':
      return `bake at ${wait.percent}%`;
    case 'monitoring':
      return 'monitoring window';
    case 'soak':
      return `soak check ${wait.check}/${wait.of}`;
  }
}

interface WithOptions {
  (...args: unknown[]): Promise<unknown>;
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
}

/**
 * A proxy of activities whose every call carries its summary (`executeWithOptions`, merged into the proxy's own
 * options). The summary is user metadata on the command: it changes no command, so recorded histories replay.
 */
export function withSummaries<T extends object>(proxy: T, context?: string): T {
  return new Proxy(proxy, {
    get(target, name) {
      const fn = Reflect.get(target, name) as WithOptions | undefined;
      if (typeof name !== 'string' || typeof fn !== 'function') return fn;
      const summarized = (options: ActivityOptions, args: unknown[]) => {
        const summary = activitySummary(name, args, context);
        return fn.executeWithOptions(summary ? { summary, ...options } : options, args);
      };
      const call = (...args: unknown[]) => summarized({}, args);
      call.executeWithOptions = summarized;
      return call;
    },
  });
}
